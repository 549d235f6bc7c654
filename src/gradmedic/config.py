"""Thresholds and schedules for the probe and the detectors, with the source of each default."""

from __future__ import annotations

import numbers
from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class Config:
    # --- sampling -------------------------------------------------------------------------------
    # Full statistics are gathered on steps 0..warmup_steps-1 and then every `every` steps.
    # Dense sampling at the start catches nets that are broken at birth; `every` keeps the cost low
    # (benchmarks/overhead.py measures it).
    every: int = 10
    warmup_steps: int = 20

    # --- windows and hysteresis ---------------------------------------------------------------------
    # A detector judges the last `window` sampled steps; a condition must hold on at least
    # `persist` of them, so one noisy batch raises nothing.
    window: int = 6
    persist: int = 5

    # --- vanishing gradients --------------------------------------------------------------------------
    # AUTOTRAINER: ||g_first|| / ||g_last|| < 1e-3. We compare per-element RMS of weight gradients
    # relative to the output layer, so layer size and BatchNorm-fed biases do not fool the rule.
    vanishing_ratio: float = 1e-3
    vanishing_error_ratio: float = 1e-6

    # --- exploding gradients --------------------------------------------------------------------------
    # AUTOTRAINER flags a depth ratio above 70; we keep it for feed-forward depth profiles.
    exploding_depth_ratio: float = 70.0
    # A spike is a global norm this many times the running median of the history before the window.
    exploding_spike_factor: float = 10.0
    # A spike must also keep climbing within the window, or stand this far above the history: a norm
    # that jumps 10x when learning takes off after a plateau and then holds steady is healthy.
    exploding_severe_factor: float = 100.0
    # Sampled steps of history needed before spikes are judged (early training moves a lot).
    exploding_min_history: int = 8
    # Growth within one window by this factor (last vs first sampled step, sustained) is explosion.
    exploding_growth_factor: float = 100.0
    # Norms above this are an overflow in the making, whatever the history.
    exploding_absolute: float = 1e6
    # Clipping threshold (clip_threshold.py), the same number in the advice and in treatment: AutoClip
    # (Seetharaman et al. 2020) clips at the p-th percentile of the gradient-norm history and recommends
    # p = 10. Below clip_min_calm calm norms the median is used instead (a percentile of a few means little).
    clip_percentile: float = 10.0
    clip_min_calm: int = 8
    # Through time: a recurrent weight with spectral radius at least this, run over at least this many
    # time steps, grows the gradient by radius**steps (Pascanu et al. 2013: radius > 1 is necessary for
    # explosion, < 1 sufficient for vanishing). The cause is named, in flight and by the checkup, once
    # radius**steps reaches recurrent_growth: an orthogonal init (radius 1) grows nothing.
    recurrent_radius: float = 1.0
    recurrent_min_steps: int = 20
    recurrent_growth: float = 1e3

    # --- dead units -----------------------------------------------------------------------------------
    # SageMaker Debugger DeadRelu: a unit active in < 1 % of cases is dead; a layer is flagged when
    # > 50 % of it is dead. We call a unit dead when it is zero for every example over the window.
    dead_layer_fraction: float = 0.5
    dead_error_fraction: float = 0.9
    dead_info_fraction: float = 0.25
    # Treatment: after a cure for dead units, a layer still this dead is far from healthy, and the next
    # cure follows. Measured on the scenarios: revived runs that went on to their twin's accuracy were at
    # most 30 % dead on the window after revival; one left 47 % dead stalled at chance.
    treat_dead_fraction: float = 0.4

    # --- saturation -----------------------------------------------------------------------------------
    # A sigmoid output within 0.0025 of 0 or 1 (a tanh output within 0.005 of +-1) has a derivative
    # below 1 % of its maximum. SageMaker uses |x| beyond 9.5 (tanh) or 17/-23 (sigmoid) on the input,
    # DeepDiagnosis |x| > 5; ours is on the output and in between. A layer is flagged when more
    # than half of its outputs are saturated (DeepDiagnosis: > 50 %).
    saturation_margin: float = 0.0025
    saturated_layer_fraction: float = 0.5

    # --- loss divergence ------------------------------------------------------------------------------
    # The loss is diverging when it is this many times above its best value, sustained; or, early in a
    # run, this many times above the loss as training began (an error at the square of the factor).
    divergence_factor: float = 10.0
    # The early rule's reference is the first losses observed, when they come from this many steps of
    # the start of training (a run that blows up at once never gets a window of sampled steps).
    divergence_start_steps: int = 20
    # Later, the loss must also have climbed out of its own range: `persist` of the window's losses above
    # this quantile of the losses before it. A loss wandering at a noisy floor (pytorch/examples
    # regression/main.py: batches a thousandfold apart) has a lucky best window 10x below a bad one; over
    # 1742 histories of its floor in 200 seeds (benchmarks/false_alarms.py) quantile 0.9 raised nothing, 0.8
    # two, the best window alone 69. A real climb puts nearly every loss above all but its own start.
    divergence_range_quantile: float = 0.9

    # --- update ratio -----------------------------------------------------------------------------------
    # ||dw|| / ||w|| per step and layer. Healthy runs sit near 1e-3 (Karpathy's rule of thumb; "Building
    # makemore Part 3: Activations, gradients and BatchNorm"), and a log10 above -1 suggests the learning
    # rate is too high (DESIGN.md). Early Adam steps reach a few 1e-2 on small-init layers, so the rule
    # fires well above the band: each update moves a weight by a third of its norm or more, sustained on
    # `persist` of the last `window` sampled steps; an update as large as the weight itself is an error.
    update_ratio_warning: float = 0.3
    update_ratio_error: float = 1.0
    # A layer whose weight norm grows more than this many times over the window is still growing from
    # (near) zero (a zero-initialised positional embedding, a LoRA matrix): it is not judged then.
    update_ratio_growth: float = 2.0
    # A weight whose first norm is below this fraction of its norm now started at (near) zero.
    update_ratio_near_zero: float = 1e-3
    # In the first `update_ratio_settle_steps` steps a healthy run may move small-init weights by a large
    # part of themselves (pytorch/examples regression/main.py, hand SGD at lr 0.1: ratios above 0.3 on
    # steps 1-20 in 14 of 200 seeds, none later but two single steps; benchmarks/false_alarms.py). There a
    # large ratio counts only where the loss confirms it: above `update_ratio_loss_rise` times the loss as
    # training began (that script's healthy early losses: at most 1.7x their start on 5 of 6 steps; AdamW
    # at lr 1 climbs 60x and more by its second step, tests/test_no_optimizer.py). The loss is read at
    # backward() when the script does not hand it over (probe/loss_reader.py), so a run without any loss is
    # rare (a non-scalar backward, torch.autograd.grad, a model whose root module is never called). There
    # nothing tells settling from a rate that is too high, and the first steps are not judged: a rate that
    # stays too high is flagged once `persist` sampled steps past the settling steps had it (step 60 at the
    # defaults); one that blows up is caught by the gradient and non-finite rules meanwhile. A false alarm on
    # every healthy run that settles in costs more than that delay.
    update_ratio_settle_steps: int = 20
    update_ratio_loss_rise: float = 3.0

    # --- treatment in flight (``treat=True``) ----------------------------------------------------------
    # Snapshots to roll back to are taken every this many steps of a healthy run (in host memory; each one
    # copies the parameters and the optimizer state, so a rarer snapshot costs less and reaches further back).
    snapshot_every: int = 50
    # The learning rate is lowered by this factor at a time (10x: the default factor of ReduceLROnPlateau
    # in both PyTorch and Keras)...
    treat_lr_factor: float = 0.1
    # ...and never below this fraction of the script's own learning rate (a thousandth: three cuts of 10x).
    treat_lr_floor: float = 1e-3
    # A cure that leaves the loss this many times higher than before it made things worse, and is undone.
    treat_worse_loss_factor: float = 2.0
    # A cure helped when the loss fell below this fraction of what it was, or the worst layer's dead
    # fraction fell by more than this much.
    treat_better_loss_factor: float = 0.9
    treat_better_dead_drop: float = 0.05
    # Steps dropped in a row (non-finite gradients) after which the run is stuck: cures that act on steps
    # cannot help, so one that acts on the weights follows at once.
    treat_stuck_steps: int = 3
    # Re-initialisation applies only while the run is young (a trained layer's weights carry what it
    # learned) and only to layers whose weight scale is off the variance-preserving one (He et al. 2015,
    # Glorot & Bengio 2010) by more than this factor.
    treat_reinit_early_steps: int = 200
    treat_reinit_off_by: float = 2.0
    # Revived units die again when the steps that killed them go on: an update ratio ||dw||/||w|| above this
    # in some layer (healthy runs sit near 1e-3, see update_ratio above) lowers the learning rate as well.
    treat_revive_large_update: float = 1e-2
    # A recurrent weight whose radius**steps explodes is rescaled to this spectral radius (below 1, so the
    # gradient through time no longer grows; Pascanu et al. 2013). The advice snippet names the same value.
    treat_recurrent_radius: float = 0.9
    # Keras: treatments per problem kind in one run; past that, the diagnosis stands and the user decides.
    treat_max_rounds: int = 3

    # --- checkup (one pass before training) -------------------------------------------------------------
    # The checkup compares the backpropagated signal of each layer with the model output's and reuses
    # vanishing_ratio / vanishing_error_ratio and exploding_depth_ratio above. An exploding profile is an
    # error at the mirror image of vanishing_error_ratio: a million-fold growth through depth.
    checkup_exploding_error_ratio: float = 1e6
    # Layer Jacobians' singular values are computed up to this many units a side (an eigensolve of
    # about 0.07 s at 1024 units on one CPU core); larger layers get no Jacobian figure.
    checkup_jacobian_units: int = 1024

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError(f"every must be >= 1 (got {self.every}); use every=1 to gather full statistics each step")
        if self.snapshot_every < 1:
            raise ValueError(f"snapshot_every must be >= 1 (got {self.snapshot_every})")
        if not 0 < self.treat_lr_factor < 1:
            raise ValueError(f"treat_lr_factor must lie in (0, 1) (got {self.treat_lr_factor}); 0.1 lowers it 10x")
        if not 1 <= self.persist <= self.window:
            raise ValueError(f"persist must lie in 1..window (got persist={self.persist}, window={self.window})")
        if not 0 <= self.clip_percentile <= 100:
            raise ValueError(f"clip_percentile must lie in 0..100 (got {self.clip_percentile}); AutoClip uses 10")
        if not 0 <= self.divergence_range_quantile <= 1:
            raise ValueError(f"divergence_range_quantile must lie in 0..1 (got {self.divergence_range_quantile})")

    def is_sampled(self, step: int) -> bool:
        """Whether full statistics are gathered at this optimizer step (0-based)."""
        return step < self.warmup_steps or step % self.every == 0


def check_every(every: Any, name: str = "every") -> None:
    if every is None:
        return
    if isinstance(every, bool) or not isinstance(every, numbers.Integral):
        raise TypeError(f"{name} must be a whole number >= 1 (steps between full statistics), got {every!r}")
    if every < 1:
        raise ValueError(f"every must be >= 1 (got {every}); use every=1 to gather full statistics each step")


def check_config(config: Any) -> None:
    if config is not None and not isinstance(config, Config):
        raise TypeError(
            f"config must be a gradmedic.Config, got {type(config).__name__}; "
            "pass gradmedic.Config(...) with the thresholds you want changed, or leave it out"
        )


def resolve_config(config: Any = None, every: Any = None) -> Config:
    """The Config a monitor or a callback runs with: ``config`` (the defaults when None) with ``every`` in
    place. A config that is not a Config, or an ``every`` that is not a whole number >= 1, raises at once."""
    check_every(every)
    check_config(config)
    chosen = config or Config()
    return replace(chosen, every=int(every)) if every is not None else chosen
