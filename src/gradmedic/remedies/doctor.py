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
from ..kinds.kind import Family, RemedyName
from ..kinds.registry import family_of
from ..records import NON_FINITE, SEVERITY_RANK, Diagnosis, LayerInfo, StepStats, Treatment
from .context import Context
from .cure import Applied
from .figures import far_from_healthy, figures
from .gate import StepGate
from .plans import with_plans
from .snapshots import Snapshots


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
        start_step: int = 0,
        distributed: bool = False,
        plans: Mapping[str, Sequence[Any]] | None = None,
    ) -> None:
        """``plans``: family -> cures, in place of the built-in plan of that family (``remedies/plans.py``)."""
        # without an optimizer the script updates the weights by hand: the gate acts on the gradients it reads
        self.gate = StepGate(optimizers, shield=shield, model=None if optimizers else model)
        self.gate.step = start_step
        self.snapshots = Snapshots(model, optimizers, every=config.snapshot_every)
        self.snapshots.take(start_step)
        self.ctx = Context(model, optimizers, self.gate, self.snapshots, config, distributed=distributed)
        self.plans = with_plans(plans)
        self.tried: dict[str, set[int]] = {family: set() for family in self.plans}  # plan indices used up
        self.episodes: dict[str, Episode] = {}
        self.records: list[Treatment] = []
        self.patience = config.window + 1
        self._treat: list[Diagnosis] = []
        self._undo: list[Episode] = []
        self._fresh: list[Treatment] = []
        self._unstable = False
        self._skip_record: int | None = None
        self._onset: dict[str, int] = {}
        self._latest: dict[str, Diagnosis] = {}  # the latest diagnosis that fired, per family
        self.stuck_steps = config.treat_stuck_steps
        self._escalated_at = -self.stuck_steps

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
        recent_nonfinite = any(s.any_nonfinite for s in list(history)[-self.ctx.config.window :])
        firing: dict[str, Diagnosis] = {
            family_of(d.kind) or "": d
            # a diagnosis that names where the gradient grows is the one to treat: sorted last, it wins its family
            for d in sorted(current.values(), key=lambda d: (_names_where(d), -SEVERITY_RANK[d.severity]))
            if family_of(d.kind) in self.plans
            and SEVERITY_RANK[d.severity] >= SEVERITY_RANK["warning"]
            and not d.evidence.get("explained_by")
            and (d.kind != NON_FINITE or recent_nonfinite)  # old NaN in the history is not NaN now
        }
        for family, d in firing.items():
            self._onset[family] = min(self._onset.get(family, d.first_step), d.first_step)
            self._latest[family] = d
        self._unstable = Family.UNSTABLE in firing
        self.ctx.firing = frozenset(d.kind for d in firing.values())
        for family, episode in list(self.episodes.items()):
            episode.samples += 1
            if episode.samples < self.patience:
                continue
            del self.episodes[family]
            record = self.records[episode.record]
            after = figures(self.ctx.history[-episode.samples :], layers)
            far = far_from_healthy(family, record.before, after, self.ctx.config) if family not in firing else None
            if family not in firing and far is None:
                outcome = "worked"
            elif family not in firing and family in self._latest:
                outcome = f"improved but not cured: {far}; trying the next cure"
                self._treat.append(self._latest[family])
            elif _worse(record.before, after, self.ctx.config) and episode.applied.undo is not None:
                outcome = "made it worse: undone, trying the next cure"
                self._undo.append(episode)
            else:
                outcome = "not enough: trying the next cure"
            self._update(episode.record, replace(record, after=after, outcome=outcome))
        for family, diagnosis in firing.items():
            if family != Family.UNSTABLE and (Family.UNSTABLE in firing or Family.UNSTABLE in self.episodes):
                continue  # dead or weak units in an unstable run are its consequence: stabilise it first
            if family not in self.episodes and all(family_of(d.kind) != family for d in self._treat):
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
        self._escalate_when_stuck()
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
            step, healthy=not self._unstable and Family.UNSTABLE not in self.episodes, loss=self.ctx.recent_loss()
        )
        fresh, self._fresh = self._fresh, []
        return StepOutcome(records=fresh, surgery=surgery, treated=treated)

    def _escalate_when_stuck(self) -> None:
        """Every step dropped for ``stuck_steps`` steps: go straight to a cure that acts on the weights.

        Clipping and a lower learning rate act on steps that are never taken; waiting to judge them
        would leave the run stuck.
        """
        if self.gate.log.in_row < self.stuck_steps or self.ctx.step - self._escalated_at < self.stuck_steps:
            return
        diagnosis = self._latest.get(Family.UNSTABLE)
        if diagnosis is None:
            return
        self._escalated_at = self.ctx.step
        episode = self.episodes.pop(Family.UNSTABLE, None)
        if episode is not None:
            record = self.records[episode.record]
            after = {"steps_dropped_in_a_row": self.gate.log.in_row}
            outcome = "not cured: every step since was dropped; trying a cure that acts on the weights"
            self._update(episode.record, replace(record, after=after, outcome=outcome))
        self._treat = [d for d in self._treat if family_of(d.kind) != Family.UNSTABLE]
        self._apply(diagnosis, stuck=True)  # none left: the run stays stuck, and close() says so

    def _apply(self, diagnosis: Diagnosis, stuck: bool = False) -> Applied | None:
        """The next cure of the family's plan that applies; while stuck, only those that act on the weights."""
        family = family_of(diagnosis.kind)
        if family is None or family not in self.plans:
            return None
        plan = self.plans[family]
        self.ctx.onset = self._onset.get(family, diagnosis.first_step)
        self.ctx.stuck = stuck
        for index, cure in enumerate(plan):
            if index in self.tried[family] or (stuck and not getattr(cure, "unsticks", False)):
                continue
            if not stuck:
                self.tried[family].update(range(index + 1))  # the plan is followed in order
            if not cure.applies_to(diagnosis, self.ctx):
                continue
            self.tried[family].add(index)
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
                action=(
                    "drop the step: its gradient was non-finite and was zeroed before the update by hand"
                    if self.gate.model is not None
                    else "drop the optimizer step: its gradient was non-finite"
                )
                + ", so no NaN or Inf reached the weights",
                reason=f"the global gradient norm was {skipped[0][1]}",
                after=after,
                reverse="nothing to reverse: the dropped steps left the weights as they were",
                remedy=RemedyName.SKIP_NONFINITE_STEP,
                outcome="ongoing",
            )
            self.records.append(record)
            self._skip_record = len(self.records) - 1
            self._fresh.append(record)
        elif count & (count - 1) == 0:  # log the count at 2, 4, 8, ... dropped steps
            self._update(self._skip_record, replace(self.records[self._skip_record], after=after))
        else:
            self.records[self._skip_record] = replace(self.records[self._skip_record], after=after)

    def _close_skips(self) -> None:
        """The dropped-steps record's final word: how many, and whether the run was still stuck at the end."""
        self._note_skips()
        if self._skip_record is None:
            return
        record = self.records[self._skip_record]
        in_row, skipped = self.gate.log.in_row, self.gate.log.skipped
        if in_row >= self.stuck_steps:
            since = skipped[-in_row][0]
            outcome = f"stuck: every step since step {since} was dropped; no cure made the gradient finite"
            after = {**record.after, "stuck_since": since}
        else:
            count = f"{len(skipped)} step{'s' if len(skipped) > 1 else ''} dropped"
            outcome = f"{count}, the last at step {skipped[-1][0]}; the run went on with finite steps"
            after = dict(record.after)
        self._update(self._skip_record, replace(record, after=after, outcome=outcome))

    @property
    def has_work(self) -> bool:
        """Whether the next ``after_step`` may change the model: a cure chosen, one to undo, or a stuck run."""
        return bool(self._treat or self._undo) or self.gate.log.in_row >= self.stuck_steps

    @property
    def stuck(self) -> bool:
        """Every recent step was dropped: the run makes no progress."""
        return self.gate.log.in_row >= self.stuck_steps

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
        self._close_skips()
        self.gate.remove()
        fresh, self._fresh = self._fresh, []
        return fresh

    def outcome(self, kind: str, still_firing: bool) -> str:
        """A diagnosis' outcome in words: cured at step N, improved but not cured, or not cured."""
        family = family_of(kind)
        tried = [r for r in self.records if family_of(r.kind) == family and r.remedy != RemedyName.SKIP_NONFINITE_STEP]
        if family == Family.UNSTABLE and self.stuck:
            since = self.gate.log.skipped[-self.gate.log.in_row][0]
            return f"not cured: stuck, every step since step {since} was dropped"
        if not tried:
            return "not cured: no cure applied" if still_firing else "gone by the end, with no cure of its own"
        dropped = len(self.gate.log.skipped) if family == Family.UNSTABLE else 0
        note = f" ({dropped} step{'s' if dropped > 1 else ''} dropped)" if dropped else ""
        if not still_firing:
            worked = [r.step for r in tried if r.outcome == "worked"]
            return f"cured at step {(worked or [tried[-1].step])[-1]}{note}"
        if any(_improved(r.before, r.after, self.ctx.config) for r in tried):
            return f"improved but not cured{note}"
        return f"not cured{note}"

    def applied_remedies(self) -> dict[str, set[str]]:
        """Problem kind -> names of the remedies applied for it (to mark the report's advice)."""
        out: dict[str, set[str]] = {}
        for record in self.records:
            out.setdefault(record.kind, set()).add(record.remedy)
        return out


def _worse(before: Mapping[str, Any], after: Mapping[str, Any], cfg: Config) -> bool:
    """The loss after the cure is non-finite, or ``treat_worse_loss_factor`` times what it was before."""
    b, a = before.get("loss"), after.get("loss")
    if isinstance(b, float) and isinstance(a, float) and math.isfinite(b):
        return not math.isfinite(a) or a > cfg.treat_worse_loss_factor * max(b, 1e-12)
    return False


def _improved(before: Mapping[str, Any], after: Mapping[str, Any], cfg: Config) -> bool:
    """A lower loss or fewer dead units after the cure than before it."""
    b, a = before.get("loss"), after.get("loss")
    better = cfg.treat_better_loss_factor
    if isinstance(b, float) and isinstance(a, float) and math.isfinite(a) and (not math.isfinite(b) or a < better * b):
        return True
    bd, ad = before.get("max_dead_fraction"), after.get("max_dead_fraction")
    return isinstance(bd, float) and isinstance(ad, float) and ad < bd - cfg.treat_better_dead_drop


def _names_where(diagnosis: Diagnosis) -> bool:
    """The diagnosis names where the gradient grows (through time, or through depth from the first step)."""
    return bool(diagnosis.evidence.get("through_time") or diagnosis.evidence.get("through_depth"))
