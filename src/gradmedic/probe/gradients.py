"""Gradient, weight and update norms around ``optimizer.step``, with foreach kernels and no host sync.

``before_step`` runs in the optimizer's step pre-hook (gradients are final there: after accumulation,
after the user's own clipping, after GradScaler unscaled them). ``after_step`` runs in the post-hook
and measures how far the step moved each weight.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import torch

from ..records import LayerStats
from .layers import Layer
from .norms import norms as _norms


def grad_norms(tensors: Sequence[torch.Tensor]) -> dict[int, float]:
    """The L2 norm of each tensor's gradient, by the tensor's id (one host transfer; those without one left out)."""
    with_grad = [(id(t), t.grad) for t in tensors if t.grad is not None]
    if not with_grad:
        return {}
    grads = [g for _, g in with_grad]
    values = _norms(grads, grads[0].device).cpu().tolist()
    return {key: float(v) for (key, _), v in zip(with_grad, values)}


# The update ratio ||dw|| / ||w|| is estimated on a fixed subset of each weight, so a sampled step copies a
# few thousand numbers per tensor instead of the whole model: UPDATE_BLOCKS contiguous runs of UPDATE_RUN
# elements, spread evenly from the tensor's start to its end (a weight of at most 4096 elements whole).
# Runs, not single elements at a stride: a strided gather touches one cache line per number. On the four
# workloads of benchmarks/update_sample.py the copy and the difference of a sampled step cost 6-16x less in
# runs of 64 (MLP: 2.1 ms strided, 0.26 ms in runs), and estimate the whole weight's ratio as closely
# (within 6 %, strided 4 %; 16 runs of 256 were within 11 %).
UPDATE_BLOCKS = 64
UPDATE_RUN = 64


def _subset(p: torch.Tensor) -> torch.Tensor:
    flat = p.detach().reshape(-1)  # a view for contiguous weights
    n = flat.numel()
    if n <= UPDATE_BLOCKS * UPDATE_RUN:
        return flat
    step = (n - UPDATE_RUN) // (UPDATE_BLOCKS - 1)  # >= UPDATE_RUN here: the runs do not overlap
    # [blocks, run], a view: the first run opens the tensor, the last one ends it
    return flat.as_strided((UPDATE_BLOCKS, UPDATE_RUN), (step, 1), flat.storage_offset())


@dataclass
class GradientMeasurement:
    """The device tensors of one sampled step, and which parameters had a gradient."""

    with_grad: tuple[int, ...]  # indices into the probe's parameters
    norms: torch.Tensor  # [n_grads + n_params + n_weights]: gradient, parameter and subset norms
    update_norms: torch.Tensor | None = None  # [n_weights], norms of the subsets' change, after the step

    def tensors(self) -> list[torch.Tensor]:
        assert self.update_norms is not None
        return [self.norms, self.update_norms]


@dataclass(frozen=True)
class _Owners:
    """Which layer each entry of a measurement belongs to, as index arrays for np.bincount."""

    layer: np.ndarray  # per entry: the layer index
    bias: np.ndarray  # per entry: a bias?
    numel: np.ndarray  # per entry: element count


class _Views:
    """Detached aliases of the parameters and strided views of the weights, made once.

    They stay valid while the optimizer updates in place; when a parameter's storage is replaced
    (``p.data = ...``) they are made again.
    """

    def __init__(self, params: Sequence[torch.Tensor], weights: Sequence[torch.Tensor]) -> None:
        self._params, self._weights = params, weights
        self._ptrs: list[int] = []
        self._copied: list[int] = []  # weights whose subset is a copy (not contiguous): taken afresh each time
        self.params: list[torch.Tensor] = []
        self._subsets: list[torch.Tensor] = []
        self.snapshot: list[torch.Tensor] = []  # one buffer per weight subset, reused across steps

    def refresh(self) -> None:
        if self.follow():
            self.snapshot = [s.clone(memory_format=torch.contiguous_format) for s in self._subsets]

    def follow(self) -> bool:
        """Point the aliases at the parameters' storage when it was replaced; True when it was.

        After an update by hand that replaces it (``p.data = p.data - lr * p.grad``) the snapshot taken
        before the update stays, and the update is measured against the new storage.
        """
        ptrs = [p.data_ptr() for p in self._params]
        if ptrs == self._ptrs:
            return False
        self._ptrs = ptrs
        self.params = [p.detach() for p in self._params]
        self._subsets = [_subset(w) for w in self._weights]
        self._copied = [k for k, w in enumerate(self._weights) if not w.is_contiguous()]
        return True

    @property
    def subsets(self) -> list[torch.Tensor]:
        for k in self._copied:
            self._subsets[k] = _subset(self._weights[k])
        return self._subsets


class GradientProbe:
    def __init__(self, layers: list[Layer]) -> None:
        self.layers = layers
        self.device = next(p for layer in layers for p in layer.weights + layer.biases).device
        self._params = [
            (i, is_bias, p)
            for i, layer in enumerate(self.layers)
            for is_bias, group in ((False, layer.weights), (True, layer.biases))
            for p in group
        ]
        self._weights = [p for _, is_bias, p in self._params if not is_bias]
        self._views = _Views([p for _, _, p in self._params], self._weights)
        self._param_owners = _owners([(i, b, p.numel()) for i, b, p in self._params])
        self._weight_layer = np.array([i for i, b, _ in self._params if not b], dtype=np.intp)
        self._grad_owners: dict[tuple[int, ...], _Owners] = {}

    def before_step(self) -> GradientMeasurement:
        views = self._views
        views.refresh()
        torch._foreach_copy_(views.snapshot, views.subsets)
        with_grad = tuple(k for k, (_, _, p) in enumerate(self._params) if p.grad is not None)
        grads = [g for k in with_grad if (g := self._params[k][2].grad) is not None]
        return GradientMeasurement(with_grad, _norms(grads + views.params + views.snapshot, self.device))

    def remeasure(self, m: GradientMeasurement, params: Sequence[torch.Tensor]) -> None:
        """Read again the gradients of ``params`` (another optimizer's, about to step) into ``m``."""
        wanted = {id(p) for p in params}
        slots = [i for i, k in enumerate(m.with_grad) if id(self._params[k][2]) in wanted]
        grads = [g for i in slots if (g := self._params[m.with_grad[i]][2].grad) is not None]
        if not slots or len(grads) != len(slots):
            return
        index = torch.tensor(slots, device=m.norms.device)
        m.norms.index_copy_(0, index, _norms(grads, self.device).to(m.norms.device))

    def nonfinite_weight_layers(self) -> list[str]:
        """The layers holding a NaN or Inf weight (one host transfer; for the end of a run)."""
        self._views.refresh()
        norms = _norms(self._views.params, self.device).cpu().numpy()
        bad = {self.layers[i].name for (i, _, _), n in zip(self._params, norms) if not np.isfinite(n)}
        return [layer.name for layer in self.layers if layer.name in bad]

    def after_step(self, m: GradientMeasurement) -> None:
        self._views.follow()
        snapshot = self._views.snapshot
        torch._foreach_sub_(snapshot, self._views.subsets)
        m.update_norms = _norms(snapshot, self.device)

    def from_norms(self, norms: Mapping[int, float]) -> tuple[dict[str, LayerStats], float]:
        """Per-layer gradient stats and the global norm from gradient norms by parameter id (``grad_norms``),
        for a step measured before the probe existed: no weights, no update."""
        g_sq, b_sq, numel = np.zeros(len(self.layers)), np.zeros(len(self.layers)), np.zeros(len(self.layers))
        has_g, has_b = np.zeros(len(self.layers), bool), np.zeros(len(self.layers), bool)
        for i, is_bias, p in self._params:
            if id(p) not in norms:
                continue
            value = norms[id(p)]
            if is_bias:
                b_sq[i] += value**2
                has_b[i] = True
            else:
                g_sq[i] += value**2
                numel[i] += p.numel()
                has_g[i] = True
        stats: dict[str, LayerStats] = {}
        for i, layer in enumerate(self.layers):
            if not (has_g[i] or has_b[i]):
                continue
            norm = float(np.sqrt(g_sq[i]))
            stats[layer.name] = LayerStats(
                grad_norm=norm if has_g[i] else None,
                grad_rms=norm / float(np.sqrt(max(numel[i], 1))) if has_g[i] else None,
                bias_grad_norm=float(np.sqrt(b_sq[i])) if has_b[i] else None,
                nonfinite_grad=not (np.isfinite(g_sq[i]) and np.isfinite(b_sq[i])),
            )
        return stats, float(np.sqrt(g_sq.sum() + b_sq.sum()))

    def unpack(self, m: GradientMeasurement, values: np.ndarray) -> tuple[dict[str, LayerStats], float]:
        """Per-layer stats and the global gradient norm, from this measurement's slice of the host array."""
        grads = self._grad_owners.get(m.with_grad)
        if grads is None:
            grads = self._grad_owners[m.with_grad] = _owners(
                [(i, b, p.numel()) for i, b, p in (self._params[k] for k in m.with_grad)]
            )
        params = self._param_owners
        n_g, n_p, n_w = len(m.with_grad), len(self._params), len(self._weights)
        values = values.astype(np.float64)
        grad, param = values[:n_g], values[n_g : n_g + n_p]
        subset, update = values[n_g + n_p : n_g + n_p + n_w], values[n_g + n_p + n_w :]
        n = len(self.layers)

        def per_layer(owners: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
            return np.bincount(owners, weights=weights, minlength=n)

        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            gw, gb = grads.layer[~grads.bias], grads.layer[grads.bias]
            g_sq, b_sq = per_layer(gw, grad[~grads.bias] ** 2), per_layer(gb, grad[grads.bias] ** 2)
            g_numel = per_layer(gw, grads.numel[~grads.bias])
            has_g, has_b = per_layer(gw) > 0, per_layer(gb) > 0
            bad_g = per_layer(grads.layer, ~np.isfinite(grad)) > 0
            w_sq = per_layer(params.layer[~params.bias], param[~params.bias] ** 2)
            bad_w = per_layer(params.layer, ~np.isfinite(param)) > 0
            s_sq, u_sq = per_layer(self._weight_layer, subset**2), per_layer(self._weight_layer, update**2)
            g_norm, b_norm, w_norm = np.sqrt(g_sq), np.sqrt(b_sq), np.sqrt(w_sq)
            g_rms = g_norm / np.sqrt(np.maximum(g_numel, 1))
            ratio = np.sqrt(u_sq / s_sq)
            global_norm = float(np.sqrt(np.sum(grad**2)))
        stats: dict[str, LayerStats] = {}
        for i, layer in enumerate(self.layers):
            stats[layer.name] = LayerStats(
                grad_norm=float(g_norm[i]) if has_g[i] else None,
                grad_rms=float(g_rms[i]) if has_g[i] else None,
                bias_grad_norm=float(b_norm[i]) if has_b[i] else None,
                weight_norm=float(w_norm[i]) if layer.weights else None,
                update_ratio=float(ratio[i]) if s_sq[i] > 0 and has_g[i] else None,
                nonfinite_grad=bool(bad_g[i]),
                nonfinite_weight=bool(bad_w[i]),
            )
        return stats, global_norm


def _owners(entries: list[tuple[int, bool, int]]) -> _Owners:
    return _Owners(
        layer=np.array([i for i, _, _ in entries], dtype=np.intp),
        bias=np.array([b for _, b, _ in entries], dtype=bool),
        numel=np.array([k for _, _, k in entries], dtype=np.float64),
    )
