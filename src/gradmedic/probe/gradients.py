"""Gradient, weight and update norms around ``optimizer.step``, with foreach kernels and no host sync.

``before_step`` runs in the optimizer's step pre-hook (gradients are final there: after accumulation,
after the user's own clipping, after GradScaler unscaled them). ``after_step`` runs in the post-hook
and measures how far the step moved each weight.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..records import LayerStats
from .layers import Layer


def _norms(tensors: list[torch.Tensor], device: torch.device) -> torch.Tensor:
    """L2 norm of each tensor, stacked on one device as float32: [len(tensors)]."""
    if not tensors:
        return torch.zeros(0, device=device)
    dense = [t.coalesce().values() if t.is_sparse else t for t in tensors]
    norms = torch._foreach_norm(dense)
    return torch.stack([n.to(device=device, dtype=torch.float32) for n in norms])


# The update ratio ||dw|| / ||w|| is estimated on a fixed strided subset of each weight, so a sampled
# step copies a few thousand numbers per tensor instead of the whole model.
UPDATE_SAMPLE = 4096


def _subset(p: torch.Tensor) -> torch.Tensor:
    flat = p.detach().reshape(-1)  # a view for contiguous weights
    return flat[:: max(1, flat.numel() // UPDATE_SAMPLE)][:UPDATE_SAMPLE]


@dataclass
class GradientMeasurement:
    """The device tensors of one sampled step, and which layer each entry belongs to."""

    grad_owner: list[tuple[int, bool, int]]  # (layer index, is_bias, numel) per gradient
    grad_norms: torch.Tensor  # [n_grads]
    param_owner: list[tuple[int, bool]]  # (layer index, is_bias) per parameter
    param_norms: torch.Tensor  # [n_params]
    snapshot: list[torch.Tensor]  # strided subsets of the weights before the step
    subset_norms: torch.Tensor  # [n_weights]
    update_norms: torch.Tensor | None = None  # [n_weights], norms of the subsets' change, after the step

    def tensors(self) -> list[torch.Tensor]:
        assert self.update_norms is not None
        return [self.grad_norms, self.param_norms, self.subset_norms, self.update_norms]

    @property
    def size(self) -> int:
        return len(self.grad_owner) + len(self.param_owner) + 2 * len(self.subset_norms)


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

    def before_step(self) -> GradientMeasurement:
        with_grad = [(i, b, p) for i, b, p in self._params if p.grad is not None]
        snapshot = [_subset(w).clone() for w in self._weights]
        return GradientMeasurement(
            grad_owner=[(i, b, p.numel()) for i, b, p in with_grad],
            grad_norms=_norms([p.grad for _, _, p in with_grad if p.grad is not None], self.device),
            param_owner=[(i, b) for i, b, _ in self._params],
            param_norms=_norms([p.detach() for _, _, p in self._params], self.device),
            snapshot=snapshot,
            subset_norms=_norms(snapshot, self.device),
        )

    def nonfinite_weight_layers(self) -> list[str]:
        """The layers holding a NaN or Inf weight (one host transfer; for the end of a run)."""
        norms = _norms([p.detach() for _, _, p in self._params], self.device).cpu().numpy()
        bad = {self.layers[i].name for (i, _, _), n in zip(self._params, norms) if not np.isfinite(n)}
        return [layer.name for layer in self.layers if layer.name in bad]

    def after_step(self, m: GradientMeasurement) -> None:
        torch._foreach_sub_(m.snapshot, [_subset(w) for w in self._weights])
        m.update_norms = _norms(m.snapshot, self.device)
        m.snapshot = []

    def unpack(self, m: GradientMeasurement, values: np.ndarray) -> tuple[dict[str, LayerStats], float]:
        """Per-layer stats and the global gradient norm, from this measurement's slice of the host array."""
        n_g, n_p, n_w = len(m.grad_owner), len(m.param_owner), len(self._weights)
        grad, param = values[:n_g], values[n_g : n_g + n_p]
        subset, update = values[n_g + n_p : n_g + n_p + n_w], values[n_g + n_p + n_w :]
        n = len(self.layers)
        g_sq, g_numel, b_sq = np.zeros(n), np.zeros(n), np.zeros(n)
        has_g, has_b, bad_g = np.zeros(n, bool), np.zeros(n, bool), np.zeros(n, bool)
        for (i, is_bias, numel), norm in zip(m.grad_owner, grad.astype(np.float64)):
            bad_g[i] |= not np.isfinite(norm)
            if is_bias:
                b_sq[i] += norm * norm
                has_b[i] = True
            else:
                g_sq[i] += norm * norm
                g_numel[i] += numel
                has_g[i] = True
        w_sq, bad_w = np.zeros(n), np.zeros(n, bool)
        for (i, is_bias), norm in zip(m.param_owner, param.astype(np.float64)):
            bad_w[i] |= not np.isfinite(norm)
            if not is_bias:
                w_sq[i] += norm * norm
        s_sq, u_sq = np.zeros(n), np.zeros(n)
        weight_owner = [i for i, is_bias in m.param_owner if not is_bias]
        for i, s_norm, u_norm in zip(weight_owner, subset.astype(np.float64), update.astype(np.float64)):
            s_sq[i] += s_norm * s_norm
            u_sq[i] += u_norm * u_norm
        stats: dict[str, LayerStats] = {}
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            for i, layer in enumerate(self.layers):
                g_norm = float(np.sqrt(g_sq[i])) if has_g[i] else None
                w_norm = float(np.sqrt(w_sq[i])) if layer.weights else None
                stats[layer.name] = LayerStats(
                    grad_norm=g_norm,
                    grad_rms=None if g_norm is None else g_norm / float(np.sqrt(max(g_numel[i], 1))),
                    bias_grad_norm=float(np.sqrt(b_sq[i])) if has_b[i] else None,
                    weight_norm=w_norm,
                    update_ratio=float(np.sqrt(u_sq[i] / s_sq[i])) if s_sq[i] > 0 and has_g[i] else None,
                    nonfinite_grad=bool(bad_g[i]),
                    nonfinite_weight=bool(bad_w[i]),
                )
            global_norm = float(np.sqrt(np.sum(grad.astype(np.float64) ** 2)))
        return stats, global_norm
