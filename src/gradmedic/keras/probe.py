"""The sampled step's probe: gradient, weight and update norms, and activation reductions, inside the graph.

``fit`` runs a compiled ``tf.function``, so per-step Python never runs there. The probe keeps two
compiled train functions: Keras' own, untouched, for unsampled steps (no extra work at all), and a
second one, traced while the probe's wrappers are live, for sampled steps. The wrappers act at trace
time only: the optimizer's ``apply`` reads the gradients and each weight before and after the update,
and each activation site's ``call`` reduces its output (zero fraction, per-unit "ever active",
saturation). Every number of the step is packed into one float32 vector, assigned to one variable,
and read on the host once after the step.

The sampled step's extra cost is mostly the passes over the weights and the ops' dispatch, so each
norm is one op that XLA compiles too (``tf.nn.l2_loss``: half the float32 sum of squares; the host
takes the root), the weights read before the update are the snapshot itself (the update copies on
write), and all scalars go into one stack. The host side sums per layer in plain Python.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import tensorflow as tf

from ..records import ActivationStats, LayerStats
from .activations import reduce_parts, unit_axis
from .layers import KerasLayer, Site

PER_VARIABLE = 4  # of each: ||g||^2/2, ||w before||^2/2, ||w after||^2/2, ||w after - w before||^2/2
FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class Slot:
    """Where one activation site's numbers lie in the packed vector: its zero and saturated fractions at
    ``2 * index`` and ``2 * index + 1``; its per-unit "active" flags at ``offset`` in the part after the scalars."""

    site: Site
    index: int
    offset: int
    units: int


class Probe:
    def __init__(self, model: Any, layers: list[KerasLayer], sites: list[Site], margin: float) -> None:
        self.model = model
        self.layers = layers
        self.sites = sites
        self.margin = margin
        self.order: dict[str, int] = {}  # layer or site name -> position of its first call in the sampled trace
        self._owner: dict[int, tuple[int, bool]] = {
            id(v): (i, bias)
            for i, layer in enumerate(layers)
            for bias, vs in ((False, layer.weights), (True, layer.biases))
            for v in vs
        }
        self._tracing = False
        self.skip_nonfinite = False  # treatment's guard: an update whose gradients hold NaN or Inf is skipped
        self._scalars: list[tf.Tensor] = []  # per traced site: zero and saturated fractions
        self._acts: list[tf.Tensor] = []  # per traced site: its units' "active" flags
        self._slots: list[Slot] = []
        self._seen_sites: set[str] = set()
        self._variables: list[tuple[int, bool, int]] = []  # per traced variable: layer index, bias?, numel
        self._act_size = 0
        self.slots: list[Slot] = []
        self.variables: list[tuple[int, bool, int]] = []
        self.scale = 1.0  # the optimizer's loss_scale_factor at the last trace: gradients are divided by it
        self._out: tf.Variable | None = None  # where the last traced step leaves its packed numbers
        self.failed: Exception | None = None  # the sampled function could not run: watching stops
        self._outputs: dict[int, tf.Variable] = {}
        self._undo: list[Callable[[], None]] = []
        self.plain: Callable[..., Any] | None = None
        self.sampled: Callable[..., Any] | None = None

    # --- install and remove -------------------------------------------------------------------------------
    def install(self) -> None:
        """Wrap the optimizer and the sites, and make the sampled train function next to Keras' own.

        A later ``fit`` of the same model installs again and reuses the compiled twin: no new trace.
        """
        optimizer = self.model.optimizer
        self._patch(optimizer, "apply", self._wrap_apply(optimizer.apply))
        for site in self.sites:
            if "call" not in vars(site.layer):
                self._patch(site.layer, "call", self._wrap_call(site, site.layer.call))
        plain = self.model.make_train_function() or self.model.train_function
        if plain is not self.plain:  # first fit, or Keras made a new function (recompiled): trace a new twin
            self.plain = plain
            self._make_sampled()

    def rebuild(self) -> None:
        """Trace both functions anew: after a treatment that Keras reads at trace time (clipping, the guard).

        Should the new plain function fail to trace, the one before it goes on training (never a broken fit).
        """
        previous = self.plain
        self.model.make_train_function(force=True)
        fresh = self.model.train_function
        probe = self

        def plain(iterator: Any) -> Any:
            if probe.failed is None:
                try:
                    return fresh(iterator)
                except Exception as exc:  # failed to trace or compile, before running
                    probe.failed = exc
            return previous(iterator)  # type: ignore[misc]

        self.plain = plain
        self._make_sampled()

    def _make_sampled(self) -> None:
        model = self.model
        model.make_train_function(force=True)
        compiled = model.train_function
        model.train_function = self.plain

        def sampled(iterator: Any) -> Any:
            if self.failed is not None:
                return self.plain(iterator)  # type: ignore[misc]
            self._tracing = True  # only a (re)trace sees the flag: the compiled graph already holds the probe
            try:
                return compiled(iterator)
            except Exception as exc:  # it failed to trace or compile, before running: Keras' own step runs it
                self.failed = exc
            finally:
                self._tracing = False
            self._clear_trace()
            return self.plain(iterator)  # type: ignore[misc]

        self.sampled = sampled

    def _patch(self, owner: Any, name: str, value: Any) -> None:
        had = name in vars(owner)
        original = vars(owner).get(name)
        object.__setattr__(owner, name, value)

        def undo() -> None:
            if had:
                object.__setattr__(owner, name, original)
            else:
                vars(owner).pop(name, None)

        self._undo.append(undo)

    def remove(self) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()
        if self.plain is not None and self.model.train_function is self.sampled:
            self.model.train_function = self.plain

    # --- trace-time wrappers --------------------------------------------------------------------------------
    def _wrap_call(self, site: Site, call: Callable[..., Any]) -> Callable[..., Any]:
        probe = self

        @functools.wraps(call)
        def measured_call(*args: Any, **kwargs: Any) -> Any:
            out = call(*args, **kwargs)
            if probe._tracing and site.name not in probe._seen_sites and isinstance(out, tf.Tensor):
                probe._seen_sites.add(site.name)
                probe.order.setdefault(site.name, len(probe.order))
                rank = out.shape.rank or 1
                axis = unit_axis(site.layer, rank)
                units = int(out.shape[axis]) if out.shape[axis] is not None else 0
                if units:
                    zero, saturated, active = reduce_parts(out, site.kind, axis, probe.margin)
                    probe._scalars += [zero, saturated]
                    probe._acts.append(active)
                    probe._slots.append(Slot(site, len(probe._slots), probe._act_size, units))
                    probe._act_size += units
            return out

        return measured_call

    def _wrap_apply(self, original: Callable[..., Any]) -> Callable[..., Any]:
        probe = self
        guarded = self._guard(original)

        @functools.wraps(original)
        def measured_apply(grads: Any, trainable_variables: Any = None) -> Any:
            apply = guarded if probe.skip_nonfinite else original
            if not probe._tracing or trainable_variables is None:
                return apply(grads, trainable_variables)
            variables = list(trainable_variables)
            grads = list(grads)
            known = [(k, probe._owner[id(v)]) for k, v in enumerate(variables) if id(v) in probe._owner]
            scale = getattr(getattr(probe.model, "optimizer", None), "loss_scale_factor", None) or 1.0
            # read before the update and kept past it: the update then copies on write, so this is the snapshot
            before = [tf.convert_to_tensor(variables[k].value) for k, _ in known]
            grad_sq = [_half_sq(grads[k]) if grads[k] is not None else tf.constant(math.nan) for k, _ in known]
            before_sq = [_half_sq(w) for w in before]
            result = apply(grads, variables)
            after = [tf.convert_to_tensor(variables[k].value) for k, _ in known]
            after_sq = [_half_sq(w) for w in after]
            moved_sq = [_half_sq(a - b) for a, b in zip(after, before)]
            per_variable = [n for four in zip(grad_sq, before_sq, after_sq, moved_sq) for n in four]
            scalars = tf.stack(probe._scalars + per_variable) if probe._scalars or per_variable else tf.zeros([0])
            probe._variables = [(owner[0], owner[1], int(np.prod(variables[k].shape))) for k, owner in known]
            probe._out = probe._output(tf.concat([scalars, *probe._acts], 0))
            probe.slots, probe.variables = list(probe._slots), list(probe._variables)
            probe.scale = scale
            probe._clear_trace()
            return result

        return measured_apply

    def _clear_trace(self) -> None:
        self._scalars, self._acts, self._slots, self._act_size = [], [], [], 0
        self._seen_sites.clear()

    @staticmethod
    def _guard(apply: Callable[..., Any]) -> Callable[..., Any]:
        """``apply`` only when every gradient is finite (one reduction per step, while the guard is on)."""

        def guarded(grads: Any, trainable_variables: Any = None) -> None:
            grads = list(grads)
            finite = tf.reduce_all(
                [tf.reduce_all(tf.math.is_finite(tf.convert_to_tensor(g))) for g in grads if g is not None]
            )

            def step() -> tf.Tensor:
                apply(grads, trainable_variables)
                return tf.constant(True)

            tf.cond(finite, step, lambda: tf.constant(False))

        return guarded

    def _output(self, packed: tf.Tensor) -> tf.Variable:
        """Assign the packed numbers to a variable of their own static size, made outside the graph.

        A fixed shape keeps the sampled function XLA-compilable (``jit_compile=True``, Keras' default on GPUs).
        """
        size = packed.shape[0]
        with tf.init_scope():
            if size is None:
                out = tf.Variable(tf.zeros([0]), shape=tf.TensorShape([None]), trainable=False, dtype=tf.float32)
            else:
                if size not in self._outputs:
                    self._outputs[size] = tf.Variable(tf.zeros([size]), trainable=False, dtype=tf.float32)
                out = self._outputs[size]
        out.assign(packed)
        return out

    # --- host side ------------------------------------------------------------------------------------------
    def read(self) -> tuple[dict[str, LayerStats], float] | None:
        """The last sampled step's per-layer stats and global gradient norm (one host transfer)."""
        if self._out is None:
            return None
        packed = self._out.value().numpy()
        n_scalars = 2 * len(self.slots) + PER_VARIABLE * len(self.variables)
        if packed.size != n_scalars + sum(s.units for s in self.slots) or not self.variables:
            return None
        values: list[float] = packed[:n_scalars].tolist()
        per_var = [_norm(half_sq) for half_sq in values[2 * len(self.slots) :]]
        scale = float(self.scale)
        n = len(self.layers)
        g_sq, b_sq, w_sq, u_sq, numel = [0.0] * n, [0.0] * n, [0.0] * n, [0.0] * n, [0.0] * n
        has_w, has_b, bad_g, bad_w = [False] * n, [False] * n, [False] * n, [False] * n
        total = 0.0
        for j, (i, bias, size) in enumerate(self.variables):
            g, before, after, moved = per_var[PER_VARIABLE * j : PER_VARIABLE * j + PER_VARIABLE]
            g /= scale
            total += g * g
            bad_g[i] = bad_g[i] or not math.isfinite(g)
            bad_w[i] = bad_w[i] or not (math.isfinite(before) and math.isfinite(after))
            if bias:
                has_b[i] = True
                b_sq[i] += g * g
            else:
                has_w[i] = True
                g_sq[i] += g * g
                numel[i] += size
                w_sq[i] += before * before
                u_sq[i] += moved * moved
        stats: dict[str, dict[str, Any]] = {}
        for i, layer in enumerate(self.layers):
            w = has_w[i]
            stats[layer.name] = {
                "grad_norm": math.sqrt(g_sq[i]) if w else None,
                "grad_rms": math.sqrt(g_sq[i] / max(numel[i], 1.0)) if w else None,
                "bias_grad_norm": math.sqrt(b_sq[i]) if has_b[i] else None,
                "weight_norm": math.sqrt(w_sq[i]) if w else None,
                "update_ratio": math.sqrt(u_sq[i] / w_sq[i]) if w and w_sq[i] > 0 else None,
                "nonfinite_grad": bad_g[i],
                "nonfinite_weight": bad_w[i],
            }
        flags = packed[n_scalars:] > 0.5
        for slot in self.slots:
            zero, saturated = values[2 * slot.index], values[2 * slot.index + 1]
            act = ActivationStats(
                kind=slot.site.kind,
                zero_fraction=zero,
                saturated_fraction=saturated if slot.site.kind in ("sigmoid", "tanh") else None,
                active=flags[slot.offset : slot.offset + slot.units],
            )
            stats.setdefault(slot.site.name, {})["activation"] = act
        return {name: LayerStats(**fields) for name, fields in stats.items()}, math.sqrt(total)

    def units(self) -> dict[str, int]:
        return {slot.site.name: slot.units for slot in self.slots}


def _half_sq(tensor: Any) -> tf.Tensor:
    """Half the sum of squares of a weight or gradient, in float32: one op, also under XLA."""
    return tf.nn.l2_loss(tf.cast(tf.convert_to_tensor(tensor), tf.float32))


def _norm(half_sq: float) -> float:
    """The L2 norm from ``_half_sq``: inf where the float32 sum of squares overflows, as ``tf.norm``'s does."""
    squares = 2.0 * half_sq
    return math.sqrt(squares) if squares <= FLOAT32_MAX else (math.inf if squares > 0 else math.nan)
