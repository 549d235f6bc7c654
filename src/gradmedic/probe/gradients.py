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


@dataclass
class GradientMeasurement:
    """The device tensors of one sampled step, and which layer each entry belongs to."""

    grad_owner: list[tuple[int, bool, int]]  # (layer index, is_bias, numel) per gradient
    grad_norms: torch.Tensor  # [n_grads]
    param_owner: list[tuple[int, bool]]  # (layer index, is_bias) per parameter
    param_norms: torch.Tensor  # [n_params]
    snapshot: list[torch.Tensor]  # copies of the weights before the step
    update_norms: torch.Tensor | None = None  # [n_weights], set after the step

    def tensors(self) -> list[torch.Tensor]:
        assert self.update_norms is not None
        return [self.grad_norms, self.param_norms, self.update_norms]


class GradientProbe:
    def __init__(self, layers: list[Layer]) -> None:
        self.layers = layers
        self.device = next(p for layer in layers for p in layer.weights + layer.biases).device

    def _params(self) -> list[tuple[int, bool, torch.nn.Parameter]]:
        return [
            (i, is_bias, p)
            for i, layer in enumerate(self.layers)
            for is_bias, group in ((False, layer.weights), (True, layer.biases))
            for p in group
        ]

    def before_step(self) -> GradientMeasurement:
        params = self._params()
        with_grad = [(i, b, p) for i, b, p in params if p.grad is not None]
        weights = [p.detach() for _, b, p in params if not b]
        return GradientMeasurement(
            grad_owner=[(i, b, p.numel()) for i, b, p in with_grad],
            grad_norms=_norms([p.grad for _, _, p in with_grad if p.grad is not None], self.device),
            param_owner=[(i, b) for i, b, _ in params],
            param_norms=_norms([p.detach() for _, _, p in params], self.device),
            snapshot=[w.clone() for w in weights],
        )

    def after_step(self, m: GradientMeasurement) -> None:
        weights = [p.detach() for _, b, p in self._params() if not b]
        if len(weights) != len(m.snapshot):
            m.update_norms = torch.zeros(len(m.snapshot), device=self.device)
        else:
            torch._foreach_sub_(m.snapshot, weights)
            m.update_norms = _norms(m.snapshot, self.device)
        m.snapshot = []

    def unpack(self, m: GradientMeasurement, values: np.ndarray) -> tuple[dict[str, LayerStats], float]:
        """Per-layer stats and the global gradient norm, from this measurement's slice of the host array."""
        n_g, n_p = len(m.grad_owner), len(m.param_owner)
        grad, param, update = values[:n_g], values[n_g : n_g + n_p], values[n_g + n_p :]
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
        u_sq = np.zeros(n)
        weight_index = 0
        for (i, is_bias), norm in zip(m.param_owner, param.astype(np.float64)):
            bad_w[i] |= not np.isfinite(norm)
            if not is_bias:
                w_sq[i] += norm * norm
                u = float(update[weight_index]) if weight_index < len(update) else 0.0
                u_sq[i] += u * u
                weight_index += 1
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
                    update_ratio=float(np.sqrt(u_sq[i]) / w_norm) if w_norm and has_g[i] else None,
                    nonfinite_grad=bool(bad_g[i]),
                    nonfinite_weight=bool(bad_w[i]),
                )
            global_norm = float(np.sqrt(np.sum(grad.astype(np.float64) ** 2)))
        return stats, global_norm
