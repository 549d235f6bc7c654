"""The on-device activation reductions agree with plain boolean counting, on the elements they count."""

from __future__ import annotations

import math

import pytest
import torch

from gradmedic.probe.activations import (
    COUNT_RUN,
    COUNT_RUNS,
    COUNT_SAMPLE,
    Site,
    count_sample,
    cpu_scratch,
    infer_kind,
    reduce_activation,
)

MARGIN = 0.0025


def _reference(x: torch.Tensor, unit_dim: int) -> dict[str, object]:
    """Counts over the sampled elements (picked by index, not by count_sample), range and units over all."""
    other = [d for d in range(x.ndim) if d != (unit_dim % x.ndim)]
    flat = x.reshape(-1)
    if flat.numel() > COUNT_SAMPLE:
        stride = next(k for k in range((flat.numel() - COUNT_RUN) // (COUNT_RUNS - 1), 0, -1) if math.gcd(k, 210) == 1)
        assert stride >= COUNT_RUN and (COUNT_RUNS - 1) * stride + COUNT_RUN <= flat.numel()  # no overlap, in range
        flat = flat[(torch.arange(COUNT_RUNS)[:, None] * stride + torch.arange(COUNT_RUN)).reshape(-1)]
    return {
        "counted": flat.numel(),
        "zero": int((flat == 0).sum()),
        "sat_sig": int(((flat < MARGIN) | (flat > 1 - MARGIN)).sum()),
        "sat_tanh": int((flat.abs() > 1 - 2 * MARGIN).sum()),
        "lo": float(x.min()),
        "active": (x.amax(dim=other) > 0).tolist(),
    }


@pytest.mark.parametrize(
    "make, unit_dim",
    [
        (lambda g: torch.relu(torch.randn(64, 32, generator=g)), -1),
        (lambda g: torch.sigmoid(3 * torch.randn(16, 8, 5, 5, generator=g)), 1),
        (lambda g: torch.tanh(4 * torch.randn(4, 10, 24, generator=g)), -1),
        (lambda g: torch.tensor([[0.0, 0.5, 1 - MARGIN, MARGIN, 1.0, -1.0, -(1 - 2 * MARGIN)]]), -1),  # exact ties
        (lambda g: torch.sigmoid(6 * torch.randn(8, COUNT_SAMPLE // 8, generator=g)), -1),  # just counted whole
        (lambda g: torch.sigmoid(6 * torch.randn(3, COUNT_SAMPLE + 7, generator=g)), -1),  # sampled, a ragged end
        (
            lambda g: torch.tanh(3 * torch.randn(2, 5, COUNT_SAMPLE // 4, generator=g)).half(),
            1,
        ),  # a half sample is copied
        (lambda g: torch.relu(torch.randn(COUNT_SAMPLE // 2, 8, generator=g)).t(), -1),  # not contiguous: copied
    ],
)
@pytest.mark.parametrize("scratch", [False, True])
def test_functional_reduction_matches_boolean_counting(make, unit_dim, scratch) -> None:  # type: ignore[no-untyped-def]
    x = make(torch.Generator().manual_seed(0))
    header, unit_max, counted = reduce_activation(x, unit_dim, None, MARGIN, cpu_scratch() if scratch else None)
    ref = _reference(x.float(), unit_dim)
    assert counted == ref["counted"] == min(x.numel(), COUNT_SAMPLE)
    assert counted - header[0].item() == ref["zero"]
    assert header[1].item() == ref["sat_sig"]
    assert header[2].item() == ref["sat_tanh"]
    assert header[3].item() == pytest.approx(ref["lo"])
    assert (unit_max > 0).tolist() == ref["active"]


def test_relu_site_accumulates_over_passes_and_finds_dead_units() -> None:
    site = Site("fc1", "relu", "act", unit_dim=-1)
    a = torch.relu(torch.randn(8, 6))
    a[:, 2] = 0.0  # unit 2 never fires
    b = torch.relu(torch.randn(8, 6))
    b[:, 2] = 0.0
    b[:, 4] = 0.0
    site.add(a, MARGIN)
    site.add(b, MARGIN)
    stats = site.unpack(torch.cat(site.parts()).numpy())
    assert stats.kind == "relu"
    assert stats.active.tolist() == [True, True, False, True, True, True]
    assert stats.zero_fraction == pytest.approx(float(((a == 0).sum() + (b == 0).sum()) / 96))
    assert stats.saturated_fraction is None


@pytest.mark.parametrize(
    "lo, hi, kind",
    [(0.01, 0.99, "sigmoid"), (0.0, 3.0, "relu"), (-0.9, 0.9, "tanh"), (-3.0, 2.0, "other"), (0.0, 0.0, "relu")],
)
def test_functional_kind_is_inferred_from_the_range(lo: float, hi: float, kind: str) -> None:
    assert infer_kind(lo, hi) == kind


def test_settled_functional_site_skips_saturation_counts_until_its_range_changes() -> None:
    site = Site("fc1", None, "", unit_dim=-1)
    g = torch.Generator().manual_seed(0)
    relu = lambda: torch.relu(torch.randn(32, 8, generator=g))  # noqa: E731
    kinds = []
    for _ in range(3):
        site.add(relu(), MARGIN)
        kinds.append((site.counted_as, site.unpack(torch.cat(site.parts()).numpy()).kind))
        site.reset()
    assert kinds == [(None, "relu"), (None, "relu"), ("other", "relu")]
    saturated = 0.001 + 0.998 * (torch.rand(32, 8, generator=g) > 0.5).float()  # now a saturated sigmoid's range
    site.add(saturated, MARGIN)
    stats = site.unpack(torch.cat(site.parts()).numpy())
    assert stats.kind == "sigmoid" and stats.saturated_fraction is None  # not counted on this step
    assert stats.zero_fraction == 0.0
    site.reset()
    site.add(saturated, MARGIN)
    stats = site.unpack(torch.cat(site.parts()).numpy())
    assert site.counted_as is None and stats.saturated_fraction is not None and stats.saturated_fraction == 1.0


def test_a_unit_active_outside_the_count_sample_is_still_active() -> None:
    x = torch.zeros(4 * COUNT_SAMPLE // 64, 64)  # four times the sample: most rows are not counted
    picked = torch.zeros(x.numel(), dtype=torch.bool)
    picked.view(-1)[count_sample(torch.arange(x.numel()))] = True
    row = int((~picked.view(x.shape).any(1)).nonzero()[0])  # a row of which no element is counted
    x[row, 5] = 2.0
    header, unit_max, counted = reduce_activation(x, -1, "relu", MARGIN, cpu_scratch())
    assert counted == COUNT_SAMPLE and header[0].item() == 0  # the counts never saw it
    assert (unit_max > 0).nonzero().flatten().tolist() == [5]  # the unit maxima did


@pytest.mark.parametrize("scratch", [False, True])
def test_sampled_fractions_come_close_to_the_exact_ones(scratch: bool) -> None:
    g = torch.Generator().manual_seed(1)
    relu = torch.relu(torch.randn(256, 512, generator=g) - 0.3 * torch.randn(512, generator=g))  # uneven units
    tanh = torch.tanh(2 * torch.randn(32, 64, 16, 16, generator=g) * torch.rand(64, 1, 1, generator=g))  # [B, C, H, W]
    for x, kind, unit_dim, exact in [
        (relu, "relu", -1, float((relu == 0).float().mean())),
        (tanh, "tanh", 1, float((tanh.abs() > 1 - 2 * MARGIN).float().mean())),
    ]:
        site = Site("layer", kind, "act", unit_dim)  # type: ignore[arg-type]
        site.add(x, MARGIN, cpu_scratch() if scratch else None)
        stats = site.unpack(torch.cat(site.parts()).numpy())
        estimate = stats.zero_fraction if kind == "relu" else stats.saturated_fraction
        assert site.counted == COUNT_SAMPLE < x.numel()
        assert estimate == pytest.approx(exact, abs=0.01)


@pytest.mark.parametrize(
    "shape, unit_dim", [((256, 512), -1), ((16, 32, 768), -1), ((32, 32, 32, 32), 1), ((8, 64, 56, 56), 1)]
)
def test_the_count_sample_sees_every_unit(shape: tuple[int, ...], unit_dim: int) -> None:
    """Runs at a stride sharing a factor with the row would see a few units only (aliasing)."""
    index = torch.arange(math.prod(shape)).view(shape)
    unit = index.div(math.prod(shape[2:]), rounding_mode="floor") % shape[1] if unit_dim == 1 else index % shape[-1]
    seen = unit.reshape(-1)[count_sample(index).reshape(-1)]
    per_unit = torch.bincount(seen, minlength=shape[unit_dim])
    assert count_sample(index).numel() == COUNT_SAMPLE
    assert int(per_unit.min()) > 0.5 * COUNT_SAMPLE / shape[unit_dim]  # every unit, and none far below its share
