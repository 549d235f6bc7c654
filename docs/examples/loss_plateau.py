"""A failure kind of your own, in one file: the loss stopped falling.

Register it once (``gradmedic.register_kind(PLATEAU)``) and every monitor made afterwards watches for it:
its diagnoses go to the console, the JSONL log, TensorBoard and the HTML report like the built-in ones.
Its family, "plateau", has no built-in plan: ``watch(..., treat={"plateau": [RaiseLearningRate()]})``
gives it one.
"""

from __future__ import annotations

import statistics
from typing import Mapping, Sequence

from gradmedic import Advice, Applied, Config, Diagnosis, FailureKind, Finding, LayerInfo, StepStats
from gradmedic.remedies.context import Context

MIN_DROP = 0.01  # the loss must fall by at least 1 % from one window to the next


def detect(history: Sequence[StepStats], layers: Mapping[str, LayerInfo], cfg: Config) -> Finding | None:
    """Two full windows of sampled steps, and the later one's median loss is not 1 % below the earlier one's."""
    losses = [s.loss for s in history if s.loss is not None]
    if len(losses) < 2 * cfg.window:
        return None  # not enough history yet: say nothing
    before = statistics.median(losses[-2 * cfg.window : -cfg.window])
    now = statistics.median(losses[-cfg.window :])
    if now < before * (1 - MIN_DROP):
        return None
    window = history[-cfg.window :]
    return Finding(
        kind="loss_plateau",
        severity="warning",
        layers=(),  # the whole run, not a layer
        first_step=window[0].step,
        step=window[-1].step,
        evidence={"median_loss_before": before, "median_loss_now": now, "min_drop": MIN_DROP},
    )


def explain(finding: Finding, layers: Mapping[str, LayerInfo]) -> tuple[str, list[Advice]]:
    ev = finding.evidence
    message = (
        f"The loss has stopped falling since step {finding.first_step}: its median is {ev['median_loss_now']:.3g}, "
        f"against {ev['median_loss_before']:.3g} a window earlier."
    )
    advice = [
        Advice(
            "raise_lr",
            "Raise the learning rate (or check that the optimizer steps at all).",
            'for group in optimizer.param_groups:\n    group["lr"] *= 3',
        ),
        Advice("check_targets", "Check that the targets match the inputs.", "print(x[:4], y[:4])"),
    ]
    return message, advice


PLATEAU = FailureKind(
    name="loss_plateau",
    title="Loss plateau",
    about="The loss no longer goes down: the model has stopped learning.",
    detect=detect,
    explain=explain,
    family="plateau",
)


class RaiseLearningRate:
    """A cure for the plateau family: triple the learning rate, at most twice."""

    name = "raise_lr"  # the remedy it applies: the report marks that advice as applied

    def applies_to(self, diagnosis: Diagnosis, ctx: Context) -> bool:
        return diagnosis.kind == "loss_plateau" and ctx.gate.lr_scale < 9

    def apply(self, diagnosis: Diagnosis, ctx: Context) -> Applied | None:
        before = ctx.gate.lr_scale
        ctx.gate.lr_scale = before * 3  # applied to every later optimizer step, on top of any scheduler
        return Applied(
            action=f"raise the learning rate 3x (scale {before:g} -> {ctx.gate.lr_scale:g})",
            reason="the loss stopped falling",
            before={"lr_scale": before},
            reverse="divide the learning rate by 3",
        )
