"""In-flight treatment for Keras (``GradmedicCallback(treat=True)``): what Keras supports cleanly mid-fit.

- non_finite: roll the weights and the optimizer state back to the last healthy snapshot, lower the
  learning rate 10x, and from then on skip any update whose gradients hold NaN or Inf.
- exploding_gradients: clip the global gradient norm (``optimizer.global_clipnorm``) at the threshold
  learned from the calm steps (the diagnosis' ``suggested_clip``); if it still explodes, lower the
  learning rate 10x.
- loss_divergence: roll back to the last healthy snapshot and lower the learning rate 10x.

Clipping and the guard are read by Keras when it traces the train function, so both functions are
traced anew (probe.rebuild). Decisions are taken on sampled steps (``review``) and applied between
steps (``after_step``), never inside a step. Every change is a ``Treatment`` record.
The PyTorch-only cures (activation swaps, BatchNorm insertion, reviving dead units) are not offered.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from ..config import Config
from ..records import EXPLODING, LOSS_DIVERGENCE, NON_FINITE, SEVERITY_RANK, Diagnosis, LayerInfo, StepStats, Treatment


@dataclass
class Snapshot:
    step: int
    weights: list[np.ndarray]
    optimizer: list[np.ndarray]


@dataclass
class Plan:
    kind: str
    actions: list[str]  # "rollback", "lower_lr", "clip", "guard"
    reason: str
    onset: int  # the first step of the trouble: a rollback goes to a snapshot before it
    clip: float | None = None


class KerasDoctor:
    def __init__(self, model: Any, config: Config) -> None:
        self.model = model
        self.config = config
        self.patience = config.window + 1  # sampled steps a treatment gets before it is judged again
        self.records: list[Treatment] = []
        self.dense_until = 0
        self._snapshots: deque[Snapshot] = deque(maxlen=8)
        self._rounds: dict[str, int] = {}
        self._plan: Plan | None = None
        self._applied: dict[str, set[str]] = {}
        self._quiet_until = -1  # no new treatment before this step: the last one is being judged
        self._step = 0

    # --- the pipeline's Treater protocol ----------------------------------------------------------------------
    def applied_remedies(self) -> Mapping[str, set[str]]:
        return self._applied

    def outcome(self, kind: str, still_firing: bool) -> str:
        """A diagnosis' outcome in words. The Keras cures are not judged one by one (unlike the torch
        Doctor's), so this says only whether the problem still shows at the end, after which cures."""
        tried = [r for r in self.records if r.kind == kind]
        if not tried:
            return "not cured: no cure applied" if still_firing else "gone by the end, with no cure of its own"
        if not still_firing:
            return f"cured by step {tried[-1].step}"
        return "not cured"

    def review(
        self,
        stats: StepStats,
        current: Mapping[str, Diagnosis],
        layers: Mapping[str, LayerInfo],
        history: Sequence[StepStats],
    ) -> None:
        serious = {k: d for k, d in current.items() if SEVERITY_RANK[d.severity] >= SEVERITY_RANK["warning"]}
        if not serious and not stats.any_nonfinite:
            if len(history) >= self.config.window:  # judged healthy on a full window, not merely too early to tell
                self._snapshot(stats.step)
            return
        if self._plan is not None or stats.step < self._quiet_until:
            return
        plan = self._choose(stats, serious)
        if plan is not None and self._rounds.get(plan.kind, 0) < self.config.treat_max_rounds:
            self._rounds[plan.kind] = self._rounds.get(plan.kind, 0) + 1
            self._plan = plan

    def _choose(self, stats: StepStats, serious: Mapping[str, Diagnosis]) -> Plan | None:
        if NON_FINITE in serious or stats.any_nonfinite:
            d = serious.get(NON_FINITE)
            starts = [stats.first_nonfinite_step, stats.step, *(x.first_step for x in serious.values())]
            onset = min(s for s in starts if s is not None)  # the earliest trouble: explosion comes before NaN
            reason = d.message if d else "NaN or Inf in the loss, the gradients or the weights"
            return Plan(NON_FINITE, ["rollback", "lower_lr", "guard"], reason, onset)
        if EXPLODING in serious:
            d = serious[EXPLODING]
            clip = d.evidence.get("suggested_clip")
            if clip and not getattr(self.model.optimizer, "global_clipnorm", None):
                return Plan(EXPLODING, ["clip"], d.message, d.first_step, clip=float(clip))
            return Plan(EXPLODING, ["lower_lr"], d.message, d.first_step)
        if LOSS_DIVERGENCE in serious:
            d = serious[LOSS_DIVERGENCE]
            return Plan(LOSS_DIVERGENCE, ["rollback", "lower_lr"], d.message, d.first_step)
        return None

    # --- between steps ----------------------------------------------------------------------------------------
    def after_step(self, step: int, probe: Any) -> list[Treatment]:
        """Apply the plan made at the last sampled step; returns the records of what was done."""
        plan, self._plan = self._plan, None
        if plan is None:
            return []
        records = []
        rebuild = False
        for action in plan.actions:
            done = getattr(self, f"_{action}")(plan, probe)
            if done is None:
                continue
            text, before, after, reverse = done
            rebuild = rebuild or action in ("clip", "guard")
            records.append(
                Treatment(step, plan.kind, text, plan.reason, before, after, reverse, remedy=action_remedy(action))
            )
            self._applied.setdefault(plan.kind, set()).add(action_remedy(action))
        if rebuild:
            probe.rebuild()
        if records:
            self.dense_until = step + self.patience
            self._quiet_until = step + self.patience
        self.records += records
        return records

    def _snapshot(self, step: int) -> None:
        optimizer = self.model.optimizer
        self._snapshots.append(
            Snapshot(step, [np.array(w) for w in self.model.get_weights()], [np.array(v) for v in _state(optimizer)])
        )

    def _rollback(self, plan: Plan, probe: Any) -> tuple[str, dict[str, Any], dict[str, Any], str] | None:
        healthy = [snap for snap in self._snapshots if snap.step < plan.onset]
        if not healthy:
            return None  # nothing healthy was seen before the trouble began
        snap = healthy[-1]
        self.model.set_weights(snap.weights)
        for variable, value in zip(_state(self.model.optimizer), snap.optimizer):
            variable.assign(value)
        while self._snapshots and self._snapshots[-1].step >= plan.onset:
            self._snapshots.pop()
        return (
            f"rolled the weights and the optimizer state back to step {snap.step}",
            {},
            {"restored_step": snap.step},
            "nothing to reverse: the damaged weights were not kept",
        )

    def _lower_lr(self, plan: Plan, probe: Any) -> tuple[str, dict[str, Any], dict[str, Any], str] | None:
        optimizer = self.model.optimizer
        schedule = getattr(optimizer, "_learning_rate", None)
        if schedule is not None and not hasattr(schedule, "assign"):
            return None  # a LearningRateSchedule: Keras gives no clean way to scale it in flight
        old = float(np.array(optimizer.learning_rate))
        factor = self.config.treat_lr_factor
        optimizer.learning_rate = old * factor
        return (
            f"lowered the learning rate from {old:.3g} to {old * factor:.3g}",
            {"learning_rate": old},
            {"learning_rate": old * factor},
            f"model.optimizer.learning_rate = {old:.3g}",
        )

    def _clip(self, plan: Plan, probe: Any) -> tuple[str, dict[str, Any], dict[str, Any], str] | None:
        optimizer = self.model.optimizer
        if plan.clip is None or getattr(optimizer, "clipnorm", None) or getattr(optimizer, "clipvalue", None):
            return None  # the user clips already, per variable: leave their choice alone
        optimizer.global_clipnorm = plan.clip
        return (
            f"clipped the global gradient norm at {plan.clip:.3g} (optimizer.global_clipnorm)",
            {"global_clipnorm": None},
            {"global_clipnorm": plan.clip},
            "model.optimizer.global_clipnorm = None, then recompile or rebuild the train function",
        )

    def _guard(self, plan: Plan, probe: Any) -> tuple[str, dict[str, Any], dict[str, Any], str] | None:
        if probe.skip_nonfinite:
            return None
        probe.skip_nonfinite = True
        return (
            "skip every update whose gradients hold NaN or Inf from now on",
            {"skip_nonfinite": False},
            {"skip_nonfinite": True},
            "fit without treat=True",
        )


def action_remedy(action: str) -> str:
    """The name of the ranked remedy an action carries out (as the advice names it)."""
    return {"clip": "clip_grad_norm", "lower_lr": "lower_lr", "rollback": "rollback", "guard": "skip_nonfinite"}[action]


def _state(optimizer: Any) -> list[Any]:
    """The optimizer's variables a rollback restores: moments and step count, not the learning rate."""
    rate = getattr(optimizer, "_learning_rate", None)
    return [v for v in optimizer.variables if v is not rate]
