"""Runs every failure kind's detector over the sampled history and keeps one standing finding per kind.

A finding is raised once and then kept: later findings of the same kind update its severity (up only),
its layers and evidence, and its last step; its first step stays where the problem began. The engine
reports which findings are new or got worse, so sinks can announce them once.
"""

from __future__ import annotations

import warnings
from collections import deque
from dataclasses import replace
from typing import Iterable, Mapping

from ..config import Config
from ..kinds.kind import FailureKind
from ..kinds.registry import registered_kinds
from ..records import EXPLODING, NON_FINITE, SEVERITY_RANK, Finding, LayerInfo, StepStats
from . import dead


class Engine:
    """The detectors of ``detectors`` (failure kinds; by default every kind registered when the engine is
    made) over a window of the sampled history.

    A detector that raises is switched off for the rest of the run, with one warning; ``failures`` keeps
    what it raised (kind name -> error), so the run's record can say which kind went unwatched.
    """

    def __init__(self, config: Config, history_size: int = 64, detectors: Iterable[FailureKind] | None = None) -> None:
        self.config = config
        self.history: deque[StepStats] = deque(maxlen=max(history_size, 4 * config.window))
        self.kinds = _by_name(registered_kinds() if detectors is None else detectors)
        self.findings: dict[str, Finding] = {}
        self.current: dict[str, Finding] = {}  # what fires on the latest window (treatment judges by it)
        self.failures: dict[str, str] = {}

    def update(self, stats: StepStats, layers: Mapping[str, LayerInfo]) -> list[Finding]:
        """Add one sampled step; return the findings that are new or more severe than before."""
        self.history.append(stats)
        history = list(self.history)
        fresh: dict[str, Finding] = {}
        for name, kind in self.kinds.items():
            if kind.detect is None or name in self.failures:
                continue
            try:
                finding = kind.detect(history, layers, self.config)
            except Exception as exc:  # one broken detector must not stop the others, nor the training
                self._fail(name, exc)
                continue
            if finding:
                fresh[name] = finding
        changed: list[Finding] = []
        for name, finding in fresh.items():
            old = self.findings.get(name)
            merged = finding if old is None else _merge(old, finding, self.kinds[name])
            self.findings[name] = merged
            if old is None or SEVERITY_RANK[merged.severity] > SEVERITY_RANK[old.severity]:
                changed.append(merged)
        _explain_away(self.findings)
        _explain_away(fresh)
        self.current = fresh
        return [self.findings[f.kind] for f in changed]

    def _fail(self, name: str, exc: Exception) -> None:
        self.failures[name] = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
        warnings.warn(
            f"gradmedic: the {name} detector failed ({self.failures[name]}) and was switched off; "
            "the other detectors and training go on",
            RuntimeWarning,
            stacklevel=3,
        )


def _by_name(detectors: Iterable[FailureKind]) -> dict[str, FailureKind]:
    kinds: dict[str, FailureKind] = {}
    for kind in detectors:
        if not isinstance(kind, FailureKind):
            raise TypeError(
                f"detectors must hold gradmedic.FailureKind records, got {type(kind).__name__}; wrap a detector "
                "function as FailureKind(name=..., title=..., about=..., detect=fn, explain=...)"
            )
        if kind.name in kinds:
            raise ValueError(f"two detectors of the kind {kind.name!r}: pass each kind once")
        kinds[kind.name] = kind
    return kinds


def _merge(old: Finding, new: Finding, kind: FailureKind) -> Finding:
    """The standing finding updated by a fresh one: the first step stays, severity only goes up.

    When the fresh finding is milder, the worse picture (its layers and evidence) is kept. Evidence under
    the kind's ``onset_keys`` stays as first measured: later windows see the damage, not the cause.
    """
    onset = {k: old.evidence[k] for k in kind.onset_keys if k in old.evidence}
    if SEVERITY_RANK[new.severity] >= SEVERITY_RANK[old.severity]:
        # a cause found at onset keeps the layers it named (the recurrent weight's layer, the gaining layers)
        layers = old.layers if any(onset.get(k) for k in kind.cause_keys) else new.layers
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
    dead.explains_vanishing(findings)
