"""exploding_gradients: gradient norms that grow over the window, spike against their history (or,
before there is one, against the first step: early_explosion.py), grow through depth, or head for overflow.

Every rule must hold on ``persist`` of the last ``window`` sampled steps, so one noisy batch raises
nothing. Non-finite values themselves are the non_finite detector's business.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

from ..clip_threshold import suggested_clip
from ..config import Config
from ..records import EXPLODING, Finding, LayerInfo, StepStats
from .common import depth_ratios, last, median, weight_layers
from .early_explosion import blow_up_onset, early_explosion
from .growth import depth_cause, from_start, per_layer_gain, recurrent_cause, through_time


def detect(history: Sequence[StepStats], layers: Mapping[str, LayerInfo], cfg: Config) -> Finding | None:
    started = _from_start(history, layers, cfg)
    window = last(history, cfg.window)
    if not window:
        return started
    norms = [s.global_grad_norm for s in window]
    finite = [n for n in norms if math.isfinite(n)]
    evidence: dict[str, object] = {"global_grad_norm": finite[-1] if finite else float("nan")}
    rules: list[str] = []

    overflow = [n for n in finite if n > cfg.exploding_absolute]
    if len(overflow) >= 2:
        rules.append("overflow")
        evidence["max_norm"] = max(overflow)

    earlier = [s.global_grad_norm for s in history[: -cfg.window] if math.isfinite(s.global_grad_norm)]
    if len(earlier) >= cfg.exploding_min_history:
        baseline = median(earlier[-4 * cfg.window :])
        spikes = [n for n in finite if n > cfg.exploding_spike_factor * baseline]
        half = len(finite) // 2
        climbing = half > 0 and median(finite[half:]) > 2 * median(finite[:half])
        severe = bool(spikes) and median(spikes) > cfg.exploding_severe_factor * baseline
        # a new level that holds steady (learning taking off after a plateau) is not an explosion
        if baseline > 0 and len(spikes) >= cfg.persist and (climbing or severe):
            rules.append("spike")
            evidence["baseline_norm"] = baseline
            evidence["spike_factor"] = median(spikes) / baseline
    else:
        early = early_explosion(history, window, cfg)
        if early:
            rules.append("early")
            evidence.update(early)

    if len(finite) >= cfg.persist and finite[0] > 0:
        rises = sum(b > a for a, b in zip(finite, finite[1:]))
        # a window that opens on a lucky batch far below the run's level (a loss at its floor) grows from
        # the run's level, not from that batch
        start = max(finite[0], median(earlier[-4 * cfg.window :])) if earlier else finite[0]
        growth = finite[-1] / start
        if growth > cfg.exploding_growth_factor and rises >= cfg.persist - 1:
            rules.append("growth")
            evidence["growth_in_window"] = growth

    depth = weight_layers(layers)
    high: dict[str, float] = {}
    if len(depth) >= 3:
        per_step = [depth_ratios(step, depth) for step in window]
        for info in depth[1:-1]:
            ratios = [r[info.name] for r in per_step if info.name in r]
            if sum(v > cfg.exploding_depth_ratio for v in ratios) >= cfg.persist:
                high[info.name] = median(ratios)
        if high:
            rules.append("depth")
            evidence["ratio_to_output"] = high
            gain = per_layer_gain(window, layers)
            if gain is not None:
                evidence["per_layer_gain"] = gain

    if not rules:
        return started
    measured = next((s for s in reversed(window) if s.recurrence), None)
    if "early" in rules:
        measured = _at_onset(history, cfg)
    in_time = through_time(measured, cfg) if measured is not None else {}
    if in_time:
        evidence["through_time"] = in_time
    evidence["rules"] = rules
    evidence.update(clip_evidence(history, cfg, early="early" in rules))
    worst = max(finite) if finite else float("inf")
    # where it grows: the layers of a depth profile, the recurrent layer it grows through, or the link that grew most
    where = tuple(high) or tuple(dict.fromkeys(c["layer"] for c in in_time.values()))
    return Finding(
        kind=EXPLODING,
        severity="error" if worst > cfg.exploding_absolute else "warning",
        layers=where or _grew_most(history, window, layers),
        first_step=window[0].step,
        step=window[-1].step,
        evidence=evidence,
    )


def _at_onset(history: Sequence[StepStats], cfg: Config) -> StepStats | None:
    """The recurrent weights that made the first blown-up gradient: step 0's made the calm one, and later
    ones show the blow-up's damage. A monitor attached mid-pass (``gradmedic run`` finds a hand-updated model
    at its second backward pass) has not yet seen that step's sequence: then the next step that measured them.
    """
    onset = blow_up_onset(history, cfg)
    if onset is None:
        return None
    return next((s for s in history[onset:] if s.recurrence), None)


def _from_start(history: Sequence[StepStats], layers: Mapping[str, LayerInfo], cfg: Config) -> Finding | None:
    """Overflow at step 0, before any update, through a recurrent weight or through depth: no window needed,
    nothing is noise here."""
    if not from_start(history, cfg):
        return None
    cause = recurrent_cause(history, cfg)
    depth = depth_cause(history, layers, cfg) if not cause else {}
    if not cause and not depth:
        return None
    evidence: dict[str, object] = {
        "rules": ["from_start"],
        "from_start": True,
        "global_grad_norm": history[0].global_grad_norm,
        "suggested_clip": 1.0,
        "suggested_clip_basis": "a default: the gradient overflowed at the first step, so no norm was calm",
    }
    if cause:
        evidence["through_time"] = cause
        where = tuple(dict.fromkeys(c["layer"] for c in cause.values()))
    else:
        evidence["through_depth"] = depth
        evidence["per_layer_gain"] = depth["per_layer_gain"]
        where = tuple(depth["layer_gain"])
    return Finding(
        kind=EXPLODING,
        severity="error",
        layers=where,
        first_step=0,
        step=history[-1].step,
        evidence=evidence,
    )


def _grew_most(
    history: Sequence[StepStats], window: Sequence[StepStats], layers: Mapping[str, LayerInfo]
) -> tuple[str, ...]:
    """The layer whose weight-gradient norm grew most against its own earlier median: where it starts.

    Without earlier history, the layer with the largest gradient now. Only links of the forward chain are
    ranked, as in the depth profile (``weight_layers``): an embedding's gradient is row-wise and sparse (it
    jumps with the tokens a batch holds) and a norm layer's is not a gain, so neither says where the growth
    starts. Only when no link has a gradient are the others ranked.
    """
    earlier = history[: len(history) - len(window)]

    def norms(steps: Sequence[StepStats], name: str) -> list[float]:
        values = (s.layers[name].grad_norm for s in steps if name in s.layers)
        return [v for v in values if v is not None and math.isfinite(v) and v > 0]

    names = {name for s in window for name in s.layers}
    links = names & {info.name for info in weight_layers(layers)}
    if any(norms(window, name) for name in links):
        names = links
    rank: dict[str, tuple[float, float]] = {}  # (growth, size now): ties go to the largest gradient
    for name in names:
        now, before = norms(window, name), norms(earlier, name)
        if now:
            rank[name] = (median(now) / median(before) if before else 1.0, median(now))
    return (max(rank, key=lambda n: rank[n]),) if rank else ()


def clip_evidence(history: Sequence[StepStats], cfg: Config, early: bool = False) -> dict[str, object]:
    """The clipping threshold to advise, from the sampled steps' global norms (clip_threshold.py).

    ``early``: the blow-up came before a calm history, so the calm norms are those before the first step that
    left the first step's norm ``exploding_spike_factor`` behind.
    """
    found = suggested_clip([(s.step, s.global_grad_norm) for s in history if not s.loss_only], cfg, early)
    return found.evidence() if found is not None else {"suggested_clip": 1.0, "suggested_clip_basis": "a default"}
