"""Runs every detector over the sampled history and keeps one standing finding per kind.

A finding is raised once and then kept: later findings of the same kind update its severity (up only),
its layers and evidence, and its last step; its first step stays where the problem began. The engine
reports which findings are new or got worse, so sinks can announce them once.
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace
from typing import Callable, Mapping, Sequence

from ..config import Config
from ..records import DEAD, EXPLODING, NON_FINITE, SEVERITY_RANK, VANISHING, Finding, LayerInfo, StepStats
from . import dead, divergence, exploding, nonfinite, saturation, update_ratio, vanishing

Detector = Callable[[Sequence[StepStats], Mapping[str, LayerInfo], Config], "Finding | None"]

DETECTORS: dict[str, Detector] = {
    "non_finite": nonfinite.detect,
    "exploding_gradients": exploding.detect,
    "vanishing_gradients": vanishing.detect,
    "dead_units": dead.detect,
    "saturated_units": saturation.detect,
    "loss_divergence": divergence.detect,
    "update_ratio": update_ratio.detect,
}

# Evidence measured at onset stays as it was first found: later windows see the damage, not the cause.
ONSET_KEYS = (
    "suggested_clip",
    "suggested_clip_basis",
    "baseline_norm",
    "through_time",
    "through_depth",
    "from_start",
    "first_norm",
    "early_factor",
)


class Engine:
    def __init__(self, config: Config, history_size: int = 64) -> None:
        self.config = config
        self.history: deque[StepStats] = deque(maxlen=max(history_size, 4 * config.window))
        self.findings: dict[str, Finding] = {}
        self.current: dict[str, Finding] = {}  # what fires on the latest window (treatment judges by it)

    def update(self, stats: StepStats, layers: Mapping[str, LayerInfo]) -> list[Finding]:
        """Add one sampled step; return the findings that are new or more severe than before."""
        self.history.append(stats)
        history = list(self.history)
        fresh = {kind: f for kind, detect in DETECTORS.items() if (f := detect(history, layers, self.config))}
        changed: list[Finding] = []
        for kind, finding in fresh.items():
            old = self.findings.get(kind)
            merged = finding if old is None else _merge(old, finding)
            self.findings[kind] = merged
            if old is None or SEVERITY_RANK[merged.severity] > SEVERITY_RANK[old.severity]:
                changed.append(merged)
        _explain_away(self.findings)
        _explain_away(fresh)
        self.current = fresh
        return [self.findings[f.kind] for f in changed]


def _merge(old: Finding, new: Finding) -> Finding:
    """The standing finding updated by a fresh one: the first step stays, severity only goes up.

    When the fresh finding is milder, the worse picture (its layers and evidence) is kept.
    """
    onset = {k: old.evidence[k] for k in ONSET_KEYS if k in old.evidence}
    if SEVERITY_RANK[new.severity] >= SEVERITY_RANK[old.severity]:
        # a cause found at onset keeps the layers it named (the recurrent weight's layer, the gaining layers)
        layers = old.layers if "through_time" in onset or "through_depth" in onset else new.layers
        return replace(new, first_step=old.first_step, layers=layers, evidence={**new.evidence, **onset})
    return replace(old, step=new.step)


def _explain_away(findings: dict[str, Finding]) -> None:
    """Vanishing gradients alongside dead layers are the dead layers' doing: keep one diagnosis.
    NaN and Inf that follow gradients exploding through time (or depth, from the first step) are that explosion's doing: both stay, the
    cause is named.

    This is the one place where a severity goes down, whichever of the two was raised first.
    """
    blown, broken = findings.get(EXPLODING), findings.get(NON_FINITE)
    if (
        blown is not None
        and broken is not None
        and (blown.evidence.get("through_time") or blown.evidence.get("through_depth"))
        and not broken.evidence.get("explained_by")
        and blown.first_step <= broken.first_step
    ):
        findings[NON_FINITE] = replace(broken, evidence={**broken.evidence, "explained_by": EXPLODING})
    vanish, died = findings.get(VANISHING), findings.get(DEAD)
    if vanish is None or died is None or died.severity == "info":
        return
    findings[VANISHING] = replace(vanish, evidence={**vanish.evidence, "explained_by": DEAD}, severity="info")
