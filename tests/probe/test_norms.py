"""One foreach-norm helper for the probe, the step gate and the snapshots."""

from __future__ import annotations

import torch

from gradmedic.probe.norms import norms


def test_norms_of_mixed_tensors_as_float32() -> None:
    dense = torch.tensor([3.0, 4.0])
    wide = torch.tensor([[6.0, 8.0]], dtype=torch.float64)
    sparse = torch.sparse_coo_tensor([[0, 2]], [5.0, 12.0], (4,), check_invariants=True)
    out = norms([dense, sparse], torch.device("cpu"))
    assert out.dtype == torch.float32 and out.tolist() == [5.0, 13.0]
    assert norms([wide], torch.device("cpu")).tolist() == [10.0]  # float64 does not narrow in the kernel
    assert norms([], torch.device("cpu")).shape == (0,)


def test_a_non_finite_tensor_shows() -> None:
    out = norms([torch.ones(3), torch.tensor([1.0, float("nan")])], torch.device("cpu"))
    assert torch.isfinite(out).tolist() == [True, False]
