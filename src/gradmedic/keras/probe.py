"""The sampled step's probe: gradient, weight and update norms, and activation reductions, inside the graph.

``fit`` runs a compiled ``tf.function``, so per-step Python never runs there. The probe keeps two
compiled train functions: Keras' own, untouched, for unsampled steps (no extra work at all), and a
second one, traced while the probe's wrappers are live, for sampled steps. The wrappers act at trace
time only: the optimizer's ``apply`` reads the gradients and each weight before and after the update,
and each activation site's ``call`` reduces its output (zero fraction, per-unit "ever active",
saturation). Every number of the step is packed into one float32 vector, assigned to one variable,
and read on the host once after the step.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import tensorflow as tf

from ..records import ActivationStats, LayerStats
from .activations import reduce_in_graph, unit_axis
from .layers import KerasLayer, Site

PER_VARIABLE = 4  # ||g||, ||w before||, ||w after||, ||w after - w before||


@dataclass(frozen=True)
class Slot:
    """Where one activation site's numbers lie in the packed vector."""

    site: Site
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
        self._parts: list[tf.Tensor] = []
        self._acts: list[tf.Tensor] = []
        self._slots: list[Slot] = []
        self._seen_sites: set[str] = set()
        self._variables: list[tuple[int, bool, int]] = []  # per traced variable: layer index, bias?, numel
        self._act_size = 0
        self.slots: list[Slot] = []
        self.variables: list[tuple[int, bool, int]] = []
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
            self._acts, self._slots, self._act_size = [], [], 0
            self._seen_sites.clear()
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
                    packed = reduce_in_graph(out, site.kind, axis, probe.margin)
                    probe._acts.append(packed)
                    probe._slots.append(Slot(site, probe._act_size, units))
                    probe._act_size += 2 + units
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
            before = [tf.norm(tf.cast(variables[k].value, tf.float32)) for k, _ in known]
            snapshot = [tf.identity(variables[k].value) for k, _ in known]
            grad_norms = [
                tf.norm(tf.cast(tf.convert_to_tensor(grads[k]), tf.float32)) / scale
                if grads[k] is not None
                else tf.constant(float("nan"))
                for k, _ in known
            ]
            result = apply(grads, variables)
            after = [tf.norm(tf.cast(variables[k].value, tf.float32)) for k, _ in known]
            moved = [tf.norm(tf.cast(variables[k].value - s, tf.float32)) for (k, _), s in zip(known, snapshot)]
            per_variable = (
                tf.reshape(
                    tf.stack([tf.stack(grad_norms), tf.stack(before), tf.stack(after), tf.stack(moved)], 1), [-1]
                )
                if known
                else tf.zeros([0])
            )
            probe._variables = [(owner[0], owner[1], int(np.prod(variables[k].shape))) for k, owner in known]
            probe._out = probe._output(tf.concat([*probe._acts, per_variable], 0))
            probe.slots, probe.variables = list(probe._slots), list(probe._variables)
            probe._acts, probe._slots, probe._act_size = [], [], 0
            probe._seen_sites.clear()
            return result

        return measured_apply

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
        values = self._out.numpy().astype(np.float64)
        act_size = sum(2 + s.units for s in self.slots)
        if values.size != act_size + PER_VARIABLE * len(self.variables) or not self.variables:
            return None
        stats: dict[str, dict[str, Any]] = {}
        per_var = values[act_size:].reshape(-1, PER_VARIABLE)
        n = len(self.layers)
        owners = np.array([i for i, _, _ in self.variables], dtype=np.intp)
        bias = np.array([b for _, b, _ in self.variables], dtype=bool)
        numel = np.array([k for _, _, k in self.variables], dtype=np.float64)
        g, wb, _wa, dw = per_var.T
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            g_sq = np.bincount(owners[~bias], weights=g[~bias] ** 2, minlength=n)
            b_sq = np.bincount(owners[bias], weights=g[bias] ** 2, minlength=n)
            g_numel = np.bincount(owners[~bias], weights=numel[~bias], minlength=n)
            w_sq = np.bincount(owners[~bias], weights=wb[~bias] ** 2, minlength=n)
            u_sq = np.bincount(owners[~bias], weights=dw[~bias] ** 2, minlength=n)
            bad_g = np.bincount(owners, weights=~np.isfinite(g), minlength=n) > 0
            bad_w = np.bincount(owners, weights=~np.isfinite(per_var[:, 1:3]).all(1), minlength=n) > 0
            has_w = np.bincount(owners[~bias], minlength=n) > 0
            has_b = np.bincount(owners[bias], minlength=n) > 0
            ratio = np.sqrt(u_sq / w_sq)
            global_norm = float(np.sqrt(np.sum(g**2)))
        for i, layer in enumerate(self.layers):
            stats[layer.name] = {
                "grad_norm": float(np.sqrt(g_sq[i])) if has_w[i] else None,
                "grad_rms": float(np.sqrt(g_sq[i] / max(g_numel[i], 1.0))) if has_w[i] else None,
                "bias_grad_norm": float(np.sqrt(b_sq[i])) if has_b[i] else None,
                "weight_norm": float(np.sqrt(w_sq[i])) if has_w[i] else None,
                "update_ratio": float(ratio[i]) if has_w[i] and w_sq[i] > 0 else None,
                "nonfinite_grad": bool(bad_g[i]),
                "nonfinite_weight": bool(bad_w[i]),
            }
        for slot in self.slots:
            chunk = values[slot.offset : slot.offset + 2 + slot.units]
            act = ActivationStats(
                kind=slot.site.kind,
                zero_fraction=float(chunk[0]),
                saturated_fraction=float(chunk[1]) if slot.site.kind in ("sigmoid", "tanh") else None,
                active=chunk[2:] > 0.5,
            )
            stats.setdefault(slot.site.name, {})["activation"] = act
        return {name: LayerStats(**fields) for name, fields in stats.items()}, global_norm

    def units(self) -> dict[str, int]:
        return {slot.site.name: slot.units for slot in self.slots}
