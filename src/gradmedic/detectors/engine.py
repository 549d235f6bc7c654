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
from ..records import DEAD, SEVERITY_RANK, VANISHING, Finding, LayerInfo, StepStats
from . import dead, divergence, exploding, nonfinite, saturation, vanishing

Detector = Callable[[Sequence[StepStats], Mapping[str, LayerInfo], Config], "Finding | None"]

DETECTORS: dict[str, Detector] = {
    "non_finite": nonfinite.detect,
    "exploding_gradients": exploding.detect,
    "vanishing_gradients": vanishing.detect,
    "dead_units": dead.detect,
    "saturated_units": saturation.detect,
    "loss_divergence": divergence.detect,
}


class Engine:
    def __init__(self, config: Config, history_size: int = 64) -> None:
        self.config = config
        self.history: deque[StepStats] = deque(maxlen=max(history_size, 4 * config.window))
        self.findings: dict[str, Finding] = {}

    def update(self, stats: StepStats, layers: Mapping[str, LayerInfo]) -> list[Finding]:
        """Add one sampled step; return the findings that are new or more severe than before."""
        self.history.append(stats)
        history = list(self.history)
        fresh = {kind: f for kind, detect in DETECTORS.items() if (f := detect(history, layers, self.config))}
        _explain_away(fresh)
        changed: list[Finding] = []
        for kind, finding in fresh.items():
            old = self.findings.get(kind)
            if old is None:
                self.findings[kind] = finding
                changed.append(finding)
                continue
            worse = SEVERITY_RANK[finding.severity] > SEVERITY_RANK[old.severity]
            self.findings[kind] = replace(
                finding,
                first_step=old.first_step,
                severity=finding.severity if worse else old.severity,
                evidence=finding.evidence if worse or old.severity == finding.severity else old.evidence,
            )
            if worse:
                changed.append(self.findings[kind])
        return changed


def _explain_away(fresh: dict[str, Finding]) -> None:
    """Vanishing gradients upstream of a dead layer are the dead layer's doing: keep one diagnosis."""
    vanish, died = fresh.get(VANISHING), fresh.get(DEAD)
    if vanish is None or died is None or died.severity == "info":
        return
    fresh[VANISHING] = replace(vanish, evidence={**vanish.evidence, "explained_by": DEAD}, severity="info")
