"""On-device reductions of one layer's activated output, accumulated over the passes of one step.

Nothing here synchronises with the host: every count stays a tensor until the monitor moves the whole
step to the host at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..records import ActivationKind, ActivationStats

# Layout of the packed tensor: [nonzero_count, sigmoid_saturated, tanh_saturated, min, *unit_max]
_HEADER = 4

# A functional activation read as "relu" or "other" on this many sampled steps in a row is then
# measured without the saturation counts (about a third of the work), until its range says otherwise.
SETTLED = 2


# On the CPU the element-wise counts run in chunks through a reused scratch buffer: a fresh
# activation-sized temporary costs more in page faults than the counting itself.
CHUNK = 1 << 17


def cpu_scratch() -> torch.Tensor:
    """Two float32 rows of CHUNK elements: the counts' work space, and a float32 copy of a half chunk."""
    return torch.empty(2, CHUNK)


def reduce_activation(
    x: torch.Tensor, unit_dim: int, kind: ActivationKind | None, margin: float, scratch: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Reduce an activation tensor to (header[4], unit_max[units]) without leaving the device.

    ``kind`` says what to count: a module's kind, or None for a functional activation whose kind is
    inferred later from its range; then both saturation counts are taken. A count not taken is 0.
    ``scratch`` (from ``cpu_scratch``) lets a contiguous CPU tensor be counted without temporaries.
    """
    x = x.detach()
    if not x.is_floating_point():
        x = x.float()
    if unit_dim == -1 or x.ndim < 2:
        unit_max = x.reshape(-1, x.shape[-1]).amax(0)  # [units]
    else:
        other = [d for d in range(x.ndim) if d != unit_dim]
        unit_max = x.amax(dim=other)  # [units]
    zero = torch.zeros((), device=x.device)
    lo = x.amin().float() if kind != "relu" else zero
    if scratch is not None and x.device.type == "cpu" and x.is_contiguous():
        flat = x.reshape(-1)
        rows = []
        for start in range(0, flat.numel(), CHUNK):
            chunk = flat[start : start + CHUNK]
            if chunk.dtype != torch.float32:
                chunk = scratch[1, : chunk.numel()].copy_(chunk)
            rows.append(_counts(chunk, kind, margin, scratch[0, : chunk.numel()], zero))
    else:
        rows = [_counts(x.float(), kind, margin, None, zero)]
    if len(rows) == 1:
        return torch.stack(rows[0] + [lo]), unit_max.float()
    counts = torch.stack([t for row in rows for t in row]).view(len(rows), 3).sum(0)
    return torch.cat([counts, lo.reshape(1)]), unit_max.float()


def _counts(
    x: torch.Tensor, kind: ActivationKind | None, margin: float, out: torch.Tensor | None, zero: torch.Tensor
) -> list[torch.Tensor]:
    """[nonzero, sigmoid-saturated, tanh-saturated] of float32 ``x`` as 0-d sums; ``out`` is work space.

    Counting with sign() and float sums: several times faster on CPU than reducing bool masks.
    Saturated: |y - 1/2| > 1/2 - margin (sigmoid), |y| > 1 - 2 margin (tanh); exact ties do not count.
    """
    signs = torch.sign(x, out=out)
    nonzero = signs.sum() if kind == "relu" else signs.abs_().sum()  # relu outputs are never negative
    sat_sig = sat_tanh = zero
    if kind in (None, "sigmoid"):
        sat_sig = torch.sub(x, 0.5, out=out).abs_().sub_(0.5 - margin).clamp_min_(0).sign_().sum()
    if kind in (None, "tanh"):
        sat_tanh = torch.abs(x, out=out).sub_(1 - 2 * margin).clamp_min_(0).sign_().sum()
    return [nonzero, sat_sig, sat_tanh]


@dataclass
class Site:
    """Where an activation is measured: the output of ``name`` (a layer, or an activation module)."""

    name: str
    kind: ActivationKind | None  # from the activation module; None when functional
    module: str  # the activation module's name, "" when functional
    unit_dim: int
    header: torch.Tensor | None = None
    unit_max: torch.Tensor | None = None
    numel: int = 0
    inferred: tuple[ActivationKind | None, int] = (
        None,
        0,
    )  # a functional activation's last inferred kind, and for how many steps
    counted_as: ActivationKind | None = None  # what this step's reductions counted (see reduce_activation)

    def add(self, x: torch.Tensor, margin: float, scratch: torch.Tensor | None = None) -> None:
        if self.header is None:
            self.counted_as = self._counting()
        header, unit_max = reduce_activation(x, self.unit_dim, self.counted_as, margin, scratch)
        if self.header is None or self.unit_max is None or self.unit_max.shape != unit_max.shape:
            self.header, self.unit_max, self.numel = header, unit_max, 0
        else:
            lo = torch.minimum(self.header[3], header[3])
            self.header = torch.cat([self.header[:3] + header[:3], lo.reshape(1)])
            self.unit_max = torch.maximum(self.unit_max, unit_max)
        self.numel += x.numel()

    def _counting(self) -> ActivationKind | None:
        if self.kind is not None:
            return self.kind
        kind, steps = self.inferred
        return "other" if kind in ("relu", "other") and steps >= SETTLED else None

    @property
    def units(self) -> int:
        return 0 if self.unit_max is None else int(self.unit_max.shape[0])

    def parts(self) -> list[torch.Tensor]:
        """The tensors to transfer, in the order ``unpack`` reads them."""
        assert self.header is not None and self.unit_max is not None
        return [self.header, self.unit_max]

    def reset(self) -> None:
        self.header, self.unit_max, self.numel = None, None, 0

    def unpack(self, values: np.ndarray) -> ActivationStats:
        """Turn this site's slice of the host array into an ActivationStats record."""
        nonzero, sat_sig, sat_tanh, lo = (float(v) for v in values[:_HEADER])
        unit_max = values[_HEADER:]
        numel = max(self.numel, 1)
        kind = self.kind
        if kind is None:
            kind = infer_kind(lo, float(unit_max.max(initial=0.0)))
            last, steps = self.inferred
            self.inferred = (kind, steps + 1 if kind == last else 1)
        counted = self.counted_as in (None, kind)
        saturated = {"sigmoid": sat_sig, "tanh": sat_tanh}.get(kind) if counted else None
        return ActivationStats(
            kind=kind,
            zero_fraction=max(self.numel - nonzero, 0.0) / numel,
            saturated_fraction=None if saturated is None else saturated / numel,
            active=unit_max > 0,
        )


def infer_kind(lo: float, hi: float) -> ActivationKind:
    """The kind of a functional activation, from the range of its output."""
    if lo > 0 and hi <= 1:
        return "sigmoid"
    if lo >= 0:
        return "relu"
    if lo >= -1 and hi <= 1:
        return "tanh"
    return "other"
