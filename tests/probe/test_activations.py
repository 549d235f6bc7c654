"""The on-device activation reductions agree with plain boolean counting."""

from __future__ import annotations

import pytest
import torch

from gradmedic.probe.activations import CHUNK, Site, cpu_scratch, infer_kind, reduce_activation

MARGIN = 0.0025


def _reference(x: torch.Tensor, unit_dim: int) -> dict[str, object]:
    other = [d for d in range(x.ndim) if d != (unit_dim % x.ndim)]
    return {
        "zero": int((x == 0).sum()),
        "sat_sig": int(((x < MARGIN) | (x > 1 - MARGIN)).sum()),
        "sat_tanh": int((x.abs() > 1 - 2 * MARGIN).sum()),
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
        (lambda g: torch.sigmoid(6 * torch.randn(3, CHUNK + 7, generator=g)), -1),  # several chunks, a ragged end
        (lambda g: torch.tanh(3 * torch.randn(2, 5, CHUNK // 4, generator=g)).half(), 1),  # a half chunk is copied
        (lambda g: torch.relu(torch.randn(CHUNK // 2, 8, generator=g)).t(), -1),  # not contiguous: no chunks
    ],
)
@pytest.mark.parametrize("scratch", [False, True])
def test_functional_reduction_matches_boolean_counting(make, unit_dim, scratch) -> None:  # type: ignore[no-untyped-def]
    x = make(torch.Generator().manual_seed(0))
    header, unit_max = reduce_activation(x, unit_dim, None, MARGIN, cpu_scratch() if scratch else None)
    ref = _reference(x.float(), unit_dim)
    assert x.numel() - header[0].item() == ref["zero"]
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
