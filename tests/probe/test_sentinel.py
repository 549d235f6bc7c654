"""The every-step sentinel: exact first non-finite step, every loss, bounded memory."""

from __future__ import annotations

import math

import torch

from gradmedic.probe.sentinel import CHUNK, Sentinel


def _read(sentinel: Sentinel):  # type: ignore[no-untyped-def]
    parts = sentinel.take()
    values = torch.cat([p.to(torch.float64) for p in parts]).numpy() if parts else None
    return sentinel.read(values)


def test_first_nonfinite_output_and_every_loss_of_the_interval() -> None:
    sentinel = Sentinel()
    for step in range(10):
        out = torch.full((4, 3), float("inf") if step >= 6 else 1.0)
        sentinel.record_output(out, step)
        sentinel.record_loss(torch.tensor(0.5 * step), step)
    interval = _read(sentinel)
    assert interval.nonfinite_output_step == 6
    assert interval.nonfinite_loss_step is None
    assert interval.losses == {step: 0.5 * step for step in range(10)}
    assert _read(sentinel).losses == {}  # a new interval starts empty


def test_float_and_one_element_losses_mix() -> None:
    sentinel = Sentinel()
    sentinel.record_loss(torch.tensor([2.0]), 0)
    sentinel.record_loss(float("nan"), 1)
    sentinel.record_loss(torch.tensor(3.0, dtype=torch.float16), 2)
    interval = _read(sentinel)
    assert interval.losses[0] == 2.0 and interval.losses[2] == 3.0 and math.isnan(interval.losses[1])
    assert interval.first_nonfinite_step == 1


def test_a_long_interval_keeps_at_most_two_chunks_and_still_sees_the_nan() -> None:
    sentinel = Sentinel()
    steps = 3 * CHUNK + 5
    for step in range(steps):
        sentinel.record_output(torch.tensor([float("nan") if step >= CHUNK else 1.0]), step)
    parts = sentinel.take()
    assert sum(p.numel() for p in parts) == CHUNK + 5
    interval = sentinel.read(torch.cat(parts).to(torch.float64).numpy())
    assert interval.nonfinite_output_step == 2 * CHUNK  # reported late: the first chunks were dropped
