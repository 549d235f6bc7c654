"""The doctor: chooses a cure for each standing diagnosis, applies it between steps, and judges it.

After every sampled step it sees what the detectors find now. A family of failures that fires with at
least a warning gets the next cure of its plan, applied at the next step boundary (after the optimizer
step, when no forward pass is in flight). Once the detectors have had a full window of fresh samples,
the treatment is judged: it worked when the family no longer fires; otherwise the next cure follows,
and a cure that made the loss worse is undone first. Every application is a ``Treatment`` record with
figures from before and after.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import nn

from ..config import Config
from ..records import NON_FINITE, SEVERITY_RANK, Diagnosis, LayerInfo, StepStats, Treatment
from .context import Context
from .cure import Applied
from .figures import figures
from .gate import StepGate
from .plans import FAMILY, plans
from .snapshots import Snapshots

SNAPSHOT_EVERY = 50
WORSE = 2.0  # a loss this many times higher than before the cure: the cure made things worse


@dataclass
class Episode:
    family: str
    applied: Applied
    record: int  # index into Doctor.records
    samples: int = 0


@dataclass(frozen=True)
class StepOutcome:
    """What the doctor did at a step boundary, for the monitor."""

    records: list[Treatment]
    surgery: bool = False
    treated: bool = False


class Doctor:
    def __init__(
        self,
        model: nn.Module,
        optimizers: list[torch.optim.Optimizer],
        config: Config,
        shield: Callable[[Callable[..., Any]], Callable[..., Any]] | None = None,
    ) -> None:
        self.gate = StepGate(optimizers, shield=shield)
        self.snapshots = Snapshots(model, optimizers, every=SNAPSHOT_EVERY)
        self.snapshots.maybe_take(0, healthy=True)
        self.ctx = Context(model, optimizers, self.gate, self.snapshots, config)
        self.plans = plans()
        self.position = dict.fromkeys(self.plans, 0)
        self.episodes: dict[str, Episode] = {}
        self.records: list[Treatment] = []
        self.patience = config.window + 1
        self._treat: list[Diagnosis] = []
        self._undo: list[Episode] = []
        self._fresh: list[Treatment] = []
        self._unstable = False
        self._skip_record: int | None = None
        self._onset: dict[str, int] = {}

    # --- after each sampled step's detection --------------------------------------------------------
    def review(
        self,
        stats: StepStats,
        current: Mapping[str, Diagnosis],
        layers: Mapping[str, LayerInfo],
        history: Sequence[StepStats],
    ) -> None:
        """Judge the treatments in flight and choose new ones; the work happens at the next step boundary."""
        self.ctx.layers, self.ctx.history, self.ctx.step = layers, list(history), stats.step
        firing = {
            FAMILY[d.kind]: d
            for d in sorted(current.values(), key=lambda d: -SEVERITY_RANK[d.severity])
            if d.kind in FAMILY
            and SEVERITY_RANK[d.severity] >= SEVERITY_RANK["warning"]
            and not d.evidence.get("explained_by")
        }
        for family, d in firing.items():
            self._onset[family] = min(self._onset.get(family, d.first_step), d.first_step)
        self._unstable = "unstable" in firing
        self.ctx.firing = frozenset(d.kind for d in firing.values())
        for family, episode in list(self.episodes.items()):
            episode.samples += 1
            if episode.samples < self.patience:
                continue
            del self.episodes[family]
            record = self.records[episode.record]
            after = figures(self.ctx.history[-episode.samples :], layers)
            if family not in firing:
                outcome = "worked"
            elif _worse(record.before, after) and episode.applied.undo is not None:
                outcome = "made it worse: undone, trying the next cure"
                self._undo.append(episode)
            else:
                outcome = "not enough: trying the next cure"
            self._update(episode.record, replace(record, after=after, outcome=outcome))
        for family, diagnosis in firing.items():
            if family != "unstable" and ("unstable" in firing or "unstable" in self.episodes):
                continue  # dead or weak units in an unstable run are its consequence: stabilise it first
            if family not in self.episodes and all(FAMILY[d.kind] != family for d in self._treat):
                self._treat.append(diagnosis)

    # --- at the step boundary (end of the optimizer's post-step) ----------------------------------------
    def after_step(self, step: int) -> StepOutcome:
        self.ctx.step = step
        surgery = False
        for episode in self._undo:
            if episode.applied.undo is not None:
                episode.applied.undo()
                surgery = surgery or episode.applied.surgery
        self._undo.clear()
        treated = False
        for diagnosis in self._treat:
            applied = self._apply(diagnosis)
            if applied is not None:
                treated = True
                surgery = surgery or applied.surgery
        self._treat.clear()
        if surgery:
            self.snapshots.clear()  # old state no longer fits the model
        self._note_skips()
        self.snapshots.maybe_take(
            step, healthy=not self._unstable and "unstable" not in self.episodes, loss=self.ctx.recent_loss()
        )
        fresh, self._fresh = self._fresh, []
        return StepOutcome(records=fresh, surgery=surgery, treated=treated)

    def _apply(self, diagnosis: Diagnosis) -> Applied | None:
        family = FAMILY[diagnosis.kind]
        plan = self.plans[family]
        self.ctx.onset = self._onset.get(family, diagnosis.first_step)
        while self.position[family] < len(plan):
            cure = plan[self.position[family]]
            self.position[family] += 1
            if not cure.applies_to(diagnosis, self.ctx):
                continue
            window = self.ctx.history[-self.ctx.config.window :]
            before_figures = figures(window, self.ctx.layers)
            applied = cure.apply(diagnosis, self.ctx)
            if applied is None:
                continue
            record = Treatment(
                step=self.ctx.step,
                kind=diagnosis.kind,
                action=applied.action,
                reason=applied.reason,
                before={**before_figures, **applied.before},
                reverse=applied.reverse,
                remedy=cure.name,
                outcome="judging",
            )
            self.records.append(record)
            self._fresh.append(record)
            self.episodes[family] = Episode(family, applied, len(self.records) - 1)
            return applied
        return None

    def _note_skips(self) -> None:
        skipped = self.gate.log.skipped
        if not skipped:
            return
        count = len(skipped)
        after = {"steps_dropped": count, "last_dropped_step": skipped[-1][0]}
        if self._skip_record is None:
            record = Treatment(
                step=skipped[0][0],
                kind=NON_FINITE,
                action="drop the optimizer step: its gradient was non-finite, so no NaN or Inf reached the weights",
                reason=f"the global gradient norm was {skipped[0][1]}",
                after=after,
                reverse="nothing to reverse: the dropped steps left the weights as they were",
                remedy="skip_nonfinite_step",
                outcome="ongoing",
            )
            self.records.append(record)
            self._skip_record = len(self.records) - 1
            self._fresh.append(record)
        elif count & (count - 1) == 0:  # log the count at 2, 4, 8, ... dropped steps
            self._update(self._skip_record, replace(self.records[self._skip_record], after=after))
        else:
            self.records[self._skip_record] = replace(self.records[self._skip_record], after=after)

    def _update(self, index: int, record: Treatment) -> None:
        self.records[index] = record
        self._fresh.append(record)

    # --- end of the run -----------------------------------------------------------------------------
    def close(self, layers: Mapping[str, LayerInfo], history: Sequence[StepStats]) -> list[Treatment]:
        """Judge what is still in flight as far as the run went; restore the optimizers' own settings."""
        for episode in self.episodes.values():
            record = self.records[episode.record]
            after = figures(list(history)[-max(episode.samples, 1) :], layers)
            self._update(episode.record, replace(record, after=after, outcome="run ended while judging"))
        self.episodes.clear()
        self.gate.remove()
        fresh, self._fresh = self._fresh, []
        return fresh

    def applied_remedies(self) -> dict[str, set[str]]:
        """Problem kind -> names of the remedies applied for it (to mark the report's advice)."""
        out: dict[str, set[str]] = {}
        for record in self.records:
            out.setdefault(record.kind, set()).add(record.remedy)
        return out


def _worse(before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
    b, a = before.get("loss"), after.get("loss")
    if isinstance(b, float) and isinstance(a, float) and math.isfinite(b):
        return not math.isfinite(a) or a > WORSE * max(b, 1e-12)
    return False
