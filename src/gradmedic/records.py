"""Typed records that cross the borders between stages: probe -> detectors -> diagnosis -> sinks.

Nothing here imports torch. Every record is frozen and made of plain Python or NumPy values,
so detectors can be tested on synthetic records and other frameworks can feed them later.
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal, Mapping, Sequence

import numpy as np

if sys.version_info >= (3, 11):
    from enum import StrEnum
else:

    class StrEnum(str, Enum):
        """Python 3.10's stand-in for ``enum.StrEnum``: members are their string values."""

        def __str__(self) -> str:
            return str(self.value)


Severity = Literal["info", "warning", "error"]
SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "error": 2}

# Where a finding was made: over the sampled steps of a training run, or on the checkup's one pass.
Source = Literal["training", "checkup"]


class Kind(StrEnum):
    """The built-in problem kinds (DESIGN.md). New kinds may be added; these are never renamed.

    Members are plain strings ("vanishing_gradients", ...), so a kind compares equal to its name and
    writes as it in JSON; a kind of the user's own (``gradmedic.register_kind``) is any other string.
    """

    VANISHING = "vanishing_gradients"
    EXPLODING = "exploding_gradients"
    DEAD = "dead_units"
    SATURATED = "saturated_units"
    NON_FINITE = "non_finite"
    LOSS_DIVERGENCE = "loss_divergence"
    UPDATE_RATIO = "update_ratio"


VANISHING = Kind.VANISHING
EXPLODING = Kind.EXPLODING
DEAD = Kind.DEAD
SATURATED = Kind.SATURATED
NON_FINITE = Kind.NON_FINITE
LOSS_DIVERGENCE = Kind.LOSS_DIVERGENCE
UPDATE_RATIO = Kind.UPDATE_RATIO

REPORT_VERSION = "1"

# What an activated output can tell, the one vocabulary of the probe, the checkup, the advice, the cures and
# the Keras adapter: "relu" outputs can die (exact zeros), "sigmoid" and "tanh" outputs can saturate, and
# "other" activations (LeakyReLU, ELU, GELU, SiLU, ...) neither die nor saturate.
ActivationKind = Literal["relu", "sigmoid", "tanh", "other"]
SATURATING_KINDS: frozenset[ActivationKind] = frozenset({"sigmoid", "tanh"})


@dataclass(frozen=True)
class LayerInfo:
    """A layer as the probe found it, named as in ``model.named_modules()``.

    ``order`` is the position of the layer's first call in a forward pass (depth).
    ``has_weights`` marks layers whose weight gradients enter depth comparisons
    (normalisation layers and embeddings are excluded: their gradients do not measure signal flow).
    ``activation`` names what follows the layer, for people: a module class ("ReLU", "Tanh", ...),
    "functional" when the activation is a function call in ``forward``, or "" when unmeasured.
    ``activation_kind`` is what the activation module can tell (None when functional or unmeasured: the
    probe infers a functional activation's kind step by step, in ``ActivationStats.kind``).
    ``units`` is the number of units in the activated output (0 when unmeasured).
    """

    name: str
    type: str
    order: int
    num_params: int = 0
    has_weights: bool = True
    activation: str = ""
    activation_module: str = ""
    units: int = 0
    is_output: bool = False
    activation_kind: ActivationKind | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "order": self.order,
            "num_params": self.num_params,
            "has_weights": self.has_weights,
            "activation": self.activation,
            "activation_module": self.activation_module,
            "units": self.units,
            "is_output": self.is_output,
        }


@dataclass(frozen=True)
class ActivationStats:
    """Reductions of one layer's activated output over the batches of one sampled step."""

    kind: ActivationKind  # from the module, or inferred from the range
    zero_fraction: float
    saturated_fraction: float | None  # only for sigmoid- and tanh-like outputs
    active: np.ndarray  # bool[units]: the unit was > 0 for at least one example in this step

    @property
    def units(self) -> int:
        return int(self.active.shape[0])


@dataclass(frozen=True)
class LayerStats:
    """Per-layer numbers for one sampled step. ``None`` means not measured for this layer."""

    grad_norm: float | None = None  # L2 norm of the weight gradients (all non-bias parameters)
    grad_rms: float | None = None  # grad_norm / sqrt(numel): comparable across layers of different size
    bias_grad_norm: float | None = None
    weight_norm: float | None = None
    update_ratio: float | None = None  # ||w_after - w_before|| / ||w_before||
    activation: ActivationStats | None = None
    nonfinite_grad: bool = False
    nonfinite_weight: bool = False


@dataclass(frozen=True)
class Recurrence:
    """One recurrent weight as measured on the framework side: how much it multiplies the signal per time step.

    ``param`` names the weight inside ``layer`` (``weight_hh_l0`` of an ``nn.RNN``, or ``weight`` of a square
    Linear fed back into itself). ``radius`` is its spectral radius (largest eigenvalue magnitude, from a few
    power iterations); ``steps`` is how many time steps a forward pass runs it (the sequence length). Over
    ``steps`` steps the hidden state and the gradient through time scale by up to about ``radius ** steps``.
    ``hidden_growth`` is the measured per-step growth of the hidden state's norm, when the checkup saw it.
    """

    layer: str
    param: str
    radius: float
    steps: int
    hidden_growth: float | None = None

    @property
    def growth(self) -> float:
        """``radius ** steps``, the factor the gradient can grow by through time (inf on overflow)."""
        try:
            return float(self.radius**self.steps)
        except OverflowError:
            return float("inf")

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "param": self.param,
            "radius": _jsonable(self.radius),
            "steps": self.steps,
            "growth": _jsonable(self.growth),
            "hidden_growth": _jsonable(self.hidden_growth),
        }


@dataclass(frozen=True)
class StepStats:
    """Everything measured at one sampled optimizer step."""

    step: int
    layers: Mapping[str, LayerStats]
    global_grad_norm: float
    loss: float | None = None
    nonfinite_loss: bool = False
    nonfinite_output: bool = False
    # the first step (possibly unsampled) at which the loss or the model output went non-finite
    first_nonfinite_step: int | None = None
    # the observed losses of every step since the previous sampled step, this one included
    losses: Mapping[int, float] = field(default_factory=dict)
    # the recurrent weights of the model, "layer.param" -> Recurrence (empty for feed-forward models)
    recurrence: Mapping[str, Recurrence] = field(default_factory=dict)
    # a record of losses alone (the steps after the last sampled one, at close): no gradient was measured,
    # and its NaN ``global_grad_norm`` means "not measured", never "overflowed"
    loss_only: bool = False

    @functools.cached_property
    def any_nonfinite(self) -> bool:
        """NaN or Inf in the loss, a gradient or a weight.

        A non-finite model output alone does not count (masked scores hold -inf by design); it only
        dates the onset once the loss, a gradient or a weight confirms the trouble.
        """
        return self.nonfinite_loss or any(s.nonfinite_grad or s.nonfinite_weight for s in self.layers.values())


@dataclass(frozen=True)
class Remedy:
    """One ranked piece of advice, with a snippet the user can paste."""

    name: str
    summary: str
    snippet: str
    rank: int
    applied: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "summary": self.summary,
            "snippet": self.snippet,
            "rank": self.rank,
            "applied": self.applied,
        }


@dataclass(frozen=True)
class Finding:
    """What a detector returns: the raw verdict, before advice is attached."""

    kind: str
    severity: Severity
    layers: tuple[str, ...]
    first_step: int
    step: int  # the step at which the finding was made
    evidence: Mapping[str, Any]
    source: Source = "training"  # "checkup": found before training, and explained as a prediction


@dataclass(frozen=True)
class Diagnosis:
    """A finding explained: what, where, since when, why, and what to do."""

    kind: str
    severity: Severity
    layers: tuple[str, ...]
    first_step: int
    message: str
    evidence: Mapping[str, Any]
    remedies: tuple[Remedy, ...] = ()
    last_step: int | None = None
    # for a treated run: "cured at step N", "improved but not cured", "not cured ..." ("" when untreated)
    outcome: str = ""

    def to_dict(self) -> dict[str, Any]:
        out = {
            "kind": self.kind,
            "severity": self.severity,
            "layers": list(self.layers),
            "first_step": self.first_step,
            "last_step": self.last_step,
            "message": self.message,
            "evidence": _jsonable(self.evidence),
            "remedies": [r.to_dict() for r in self.remedies],
        }
        if self.outcome:
            out["outcome"] = self.outcome
        return out

    def __repr__(self) -> str:
        from .report.notebook import diagnosis_line

        return diagnosis_line(self)

    def _repr_html_(self) -> str:
        """The diagnosis' card, as in the HTML report (notebooks call this)."""
        from .report.notebook import diagnosis_html

        return diagnosis_html(self)


@dataclass(frozen=True)
class Treatment:
    """A remedy that was applied in flight, with what changed and how to reverse it."""

    step: int
    kind: str
    action: str
    reason: str
    before: Mapping[str, Any] = field(default_factory=dict)
    after: Mapping[str, Any] = field(default_factory=dict)
    reverse: str = ""
    remedy: str = ""  # the remedy's name, as in the diagnosis' ranked remedies
    outcome: str = ""  # "judging", "worked", "not enough: ...", "made it worse: undone ...", "ongoing", ...

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "kind": self.kind,
            "remedy": self.remedy,
            "action": self.action,
            "reason": self.reason,
            "before": _jsonable(self.before),
            "after": _jsonable(self.after),
            "outcome": self.outcome,
            "reverse": self.reverse,
        }


@dataclass(frozen=True)
class Incident:
    """Something that kept gradmedic from watching part of a run: a sink switched off, the monitor
    stopped by an internal error, a step it could not read, a run in which no training step was seen.

    ``step`` is the training step at which it happened (-1 when no step had run); ``component`` names
    the part that failed ("monitor", "sink:JsonlSink", "runner", ...); ``error`` says what, in one line.
    """

    step: int
    component: str
    error: str

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "component": self.component, "error": self.error}


@dataclass(frozen=True)
class Report:
    """The outcome of a watched run (or a checkup): the report JSON of DESIGN.md.

    ``incidents`` lists what kept gradmedic from watching all of the run; a report with incidents
    never claims the unwatched steps were healthy.
    """

    steps: int
    layers: Sequence[LayerInfo]
    diagnoses: Sequence[Diagnosis]
    treatments: Sequence[Treatment] = ()
    version: str = REPORT_VERSION
    incidents: Sequence[Incident] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "steps": self.steps,
            "layers": [layer.to_dict() for layer in self.layers],
            "diagnoses": [d.to_dict() for d in self.diagnoses],
            "treatments": [t.to_dict() for t in self.treatments],
            "incidents": [i.to_dict() for i in self.incidents],
        }

    def kinds(self, at_least: Severity = "info") -> set[str]:
        """The problem kinds diagnosed with at least the given severity."""
        floor = SEVERITY_RANK[at_least]
        return {d.kind for d in self.diagnoses if SEVERITY_RANK[d.severity] >= floor}

    @property
    def watched_fully(self) -> bool:
        """False when an incident kept gradmedic from watching some steps (the monitor stopped, a step it
        could not read, a model the runner could not attach to). A sink switched off (``sink:...``) does
        not count: every step was still watched, only its record is incomplete, which its incident says."""
        return all(i.component.startswith("sink:") for i in self.incidents)

    @property
    def healthy(self) -> bool:
        """True when nothing above ``info`` was diagnosed and every step was watched (``watched_fully``).

        A run whose monitor stopped after an internal error is never called healthy: its unwatched steps
        may hold anything.
        """
        return not self.kinds(at_least="warning") and self.watched_fully

    def __repr__(self) -> str:
        from .report.notebook import report_line

        return report_line(self)

    def _repr_html_(self) -> str:
        """A verdict, a table of the diagnoses and their cards (notebooks call this)."""
        from .report.notebook import report_html

        return report_html(self)


def _jsonable(value: Any) -> Any:
    """Turn NumPy scalars, arrays and tuples into plain JSON values; non-finite floats become strings."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        f = float(value)
        if f != f or f in (float("inf"), float("-inf")):
            return str(f)
        return f
    return value


@dataclass(frozen=True)
class CheckupLayer:
    """One layer as the checkup measured it on a single forward and backward pass, before training.

    The layer's *signal* is its activated output (or its raw output when no activation follows it).
    ``grad_norm`` is the norm of the loss gradient with respect to that signal, per example (RMS over the
    batch); ``gain`` is this layer's ``grad_norm`` over the next layer's, the backward gain, near 1 in a
    healthy stack. ``None`` means not measured for this layer.
    """

    name: str
    type: str
    units: int
    activation: ActivationKind | Literal[""] = ""  # "" when no activation follows
    dead_units: int | None = None  # units zero for every example of the batch (ReLU-like layers only)
    saturated_fraction: float | None = None  # outputs at a sigmoid or tanh asymptote
    act_std: float | None = None  # standard deviation of the signal over the batch
    grad_norm: float | None = None
    gain: float | None = None
    jacobian_sv: float | None = None  # mean singular value of d(signal)/d(layer input): Linear + elementwise only
    is_output: bool = False

    @property
    def dead_fraction(self) -> float | None:
        if self.dead_units is None or self.units <= 0:
            return None
        return self.dead_units / self.units

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "units": self.units,
            "activation": self.activation,
            "dead_units": self.dead_units,
            "saturated_fraction": _jsonable(self.saturated_fraction),
            "act_std": _jsonable(self.act_std),
            "grad_norm": _jsonable(self.grad_norm),
            "gain": _jsonable(self.gain),
            "jacobian_sv": _jsonable(self.jacobian_sv),
            "is_output": self.is_output,
        }


@dataclass(frozen=True, repr=False)  # Report's one-line repr
class CheckupReport(Report):
    """A checkup's report: the monitor's schema (``steps`` is 0), plus the per-layer measurements.

    ``loss`` names the loss that was backpropagated: "loss_fn", "cross_entropy", "mse", "random_projection"
    (no targets: a fixed random projection of the output), or "script_gradient" (``gradmedic check``).
    """

    checkup: Sequence[CheckupLayer] = ()
    batch_size: int = 0
    loss: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["checkup"] = {
            "batch_size": self.batch_size,
            "loss": self.loss,
            "layers": [layer.to_dict() for layer in self.checkup],
        }
        return data
