"""HostBatch: several measurements' tensors in one transfer, each share read back by its ticket."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gradmedic.probe.host_batch import HostBatch


def test_each_share_is_what_was_added_in_order() -> None:
    batch = HostBatch(torch.device("cpu"))
    first = batch.add([torch.tensor([1.0, 2.0]), torch.tensor([[3.0], [4.0]])])
    empty = batch.add([])
    last = batch.add([torch.tensor([5], dtype=torch.int64), torch.tensor(6.0, dtype=torch.float64)])
    batch.transfer()
    assert batch.share(first).tolist() == [1.0, 2.0, 3.0, 4.0]
    assert batch.share(empty).size == 0
    assert batch.share(last).tolist() == [5.0, 6.0]
    assert batch.share(last).dtype == np.float32


def test_nothing_added_transfers_nothing() -> None:
    batch = HostBatch(torch.device("cpu"))
    ticket = batch.add([])
    batch.transfer()
    assert batch.share(ticket).size == 0


def test_misuse_says_what_to_do() -> None:
    batch = HostBatch(torch.device("cpu"))
    ticket = batch.add([torch.ones(2)])
    with pytest.raises(RuntimeError, match="before transfer"):
        batch.share(ticket)
    batch.transfer()
    with pytest.raises(RuntimeError, match="make a new batch"):
        batch.add([torch.ones(1)])
