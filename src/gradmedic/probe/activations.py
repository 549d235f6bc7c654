"""On-device reductions of one layer's activated output, accumulated over the passes of one step.

Nothing here synchronises with the host: every count stays a tensor until the monitor moves the whole
step to the host at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..records import ActivationKind, ActivationStats

# Layout of the packed tensor: [nonzero_count, sigmoid_saturated, tanh_saturated, min, *unit_max]
_HEADER = 4

# A functional activation read as "relu" or "other" on this many sampled steps in a row is then
# measured without the saturation counts (about a third of the work), until its range says otherwise.
SETTLED = 2


# The element-wise counts (zeros, saturation) of a large activation are taken on a fixed sample of
# COUNT_RUNS runs of COUNT_RUN contiguous elements, spread from the tensor's start to its end; an activation
# of at most COUNT_SAMPLE elements is counted whole. The runs are a strided view (no copy, no index), and
# the stride between them is coprime to 2, 3, 5 and 7: a row of W units (W a product of those, as layer
# widths and feature maps are) then sees its run starts at every offset alike. A stride that shares a
# factor with W sees the same few units over and over (evenly spaced runs of 128 on the MLP workload's
# [256, 512] output never saw a quarter of its units). The unit maxima (dead units: zero for every input)
# and the minimum (the kind of a functional activation) always take every element.
# benchmarks/activation_sample.py measures the cost and how close the sampled fractions come.
COUNT_RUNS = 4096
COUNT_RUN = 8
COUNT_SAMPLE = COUNT_RUNS * COUNT_RUN


def cpu_scratch() -> torch.Tensor:
    """Two float32 rows of COUNT_SAMPLE elements: the counts' work space, and a float32 copy of the sample."""
    return torch.empty(2, COUNT_SAMPLE)


def _coprime_stride(room: int) -> int:
    """The largest stride in COUNT_RUN..room coprime to 210 (2 * 3 * 5 * 7), else ``room`` itself."""
    for stride in range(room, COUNT_RUN - 1, -1):
        if math.gcd(stride, 210) == 1:
            return stride
    return room


def count_sample(x: torch.Tensor) -> torch.Tensor:
    """The elements whose zeros and saturation are counted: all of ``x`` (flat, a view when contiguous),
    or a [COUNT_RUNS, COUNT_RUN] strided view of them."""
    flat = x.reshape(-1)
    n = flat.numel()
    if n <= COUNT_SAMPLE:
        return flat
    stride = _coprime_stride((n - COUNT_RUN) // (COUNT_RUNS - 1))  # >= COUNT_RUN: the runs do not overlap
    return flat.as_strided((COUNT_RUNS, COUNT_RUN), (stride, 1), flat.storage_offset())


def reduce_activation(
    x: torch.Tensor, unit_dim: int, kind: ActivationKind | None, margin: float, scratch: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Reduce an activation tensor to (header[4], unit_max[units], counted) without leaving the device.

    ``kind`` says what to count: a module's kind, or None for a functional activation whose kind is
    inferred later from its range; then both saturation counts are taken. The minimum is taken for None
    and "other" (what a settled functional activation counts as; its kind is still inferred), else 0.
    A count not taken is 0. ``counted`` is how many elements the counts cover (``count_sample``).
    ``scratch`` (from ``cpu_scratch``) lets a CPU sample be counted without temporaries.
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
    lo = x.amin().float() if kind in (None, "other") else zero
    sample = count_sample(x)
    if scratch is not None and x.device.type == "cpu":
        if sample.dtype != torch.float32:
            sample = scratch[1, : sample.numel()].view(sample.shape).copy_(sample)
        counts = _counts(sample, kind, margin, scratch[0, : sample.numel()].view(sample.shape), zero)
    else:
        counts = _counts(sample.float(), kind, margin, None, zero)
    return torch.stack(counts + [lo]), unit_max.float(), sample.numel()


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
    counted: int = 0  # elements the counts cover, over the passes of this step
    inferred: tuple[ActivationKind | None, int] = (
        None,
        0,
    )  # a functional activation's last inferred kind, and for how many steps
    counted_as: ActivationKind | None = None  # what this step's reductions counted (see reduce_activation)

    def add(self, x: torch.Tensor, margin: float, scratch: torch.Tensor | None = None) -> None:
        if self.header is None:
            self.counted_as = self._counting()
        header, unit_max, counted = reduce_activation(x, self.unit_dim, self.counted_as, margin, scratch)
        if self.header is None or self.unit_max is None or self.unit_max.shape != unit_max.shape:
            self.header, self.unit_max, self.counted = header, unit_max, 0
        else:
            lo = torch.minimum(self.header[3], header[3])
            self.header = torch.cat([self.header[:3] + header[:3], lo.reshape(1)])
            self.unit_max = torch.maximum(self.unit_max, unit_max)
        self.counted += counted

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
        self.header, self.unit_max, self.counted = None, None, 0

    def unpack(self, values: np.ndarray) -> ActivationStats:
        """Turn this site's slice of the host array into an ActivationStats record."""
        nonzero, sat_sig, sat_tanh, lo = (float(v) for v in values[:_HEADER])
        unit_max = values[_HEADER:]
        n = max(self.counted, 1)
        kind = self.kind
        if kind is None:
            kind = infer_kind(lo, float(unit_max.max(initial=0.0)))
            last, steps = self.inferred
            self.inferred = (kind, steps + 1 if kind == last else 1)
        kind_counted = self.counted_as in (None, kind)
        saturated = {"sigmoid": sat_sig, "tanh": sat_tanh}.get(kind) if kind_counted else None
        return ActivationStats(
            kind=kind,
            zero_fraction=max(self.counted - nonzero, 0.0) / n,
            saturated_fraction=None if saturated is None else saturated / n,
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
