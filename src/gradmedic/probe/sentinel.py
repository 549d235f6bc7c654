"""The every-step check: at most one device op per step, read at the next sampled step. No host sync.

Each training step keeps the sum of the model's output (NaN and Inf survive a sum) as a 0-d device
tensor, and the loss, when the user hands it over, as it is (a 0-d tensor costs no op to keep). Both
ride along with the sampled step's single host transfer, which tells the exact first step that went
non-finite and the loss of every step in between. Values travel as float32: a finite output whose
sum overflows float32 (elements near 1e38 / numel) would read as non-finite, but such a model has
blown up already.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Interval:
    """What the sentinel saw over the steps since the last sampled one."""

    nonfinite_output_step: int | None
    nonfinite_loss_step: int | None
    losses: dict[int, float]  # step -> loss, for the steps whose loss was observed

    @property
    def first_nonfinite_step(self) -> int | None:
        steps = [s for s in (self.nonfinite_output_step, self.nonfinite_loss_step) if s is not None]
        return min(steps) if steps else None


# Values are stacked into one tensor every CHUNK steps and only the newest full chunk is kept, so a
# long stretch between sampled steps holds at most 2 * CHUNK values. A run that went non-finite stays
# non-finite, so it is still caught; only its first step may then be reported late.
CHUNK = 1024


def _stack(values: list[torch.Tensor]) -> torch.Tensor:
    try:
        return torch.stack(values)
    except RuntimeError:  # values on different devices (a loss moved between steps): gather on the first
        return torch.stack([v.to(values[0].device) for v in values])


class _Series:
    """0-d device tensors, one per step, kept without any device work until they are read."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.values: list[torch.Tensor] = []
        self.steps: list[int] = []
        self.chunk: torch.Tensor | None = None
        self.chunk_steps: list[int] = []

    def append(self, value: torch.Tensor, step: int) -> None:
        self.values.append(value)
        self.steps.append(step)
        if len(self.values) >= CHUNK:
            self.chunk, self.chunk_steps = _stack(self.values), self.steps
            self.values, self.steps = [], []

    def take(self) -> tuple[list[torch.Tensor], list[int]]:
        """The tensors to transfer and the step of each value in them; then start empty."""
        parts = [self.chunk] if self.chunk is not None else []
        if self.values:
            parts.append(_stack(self.values))
        steps = self.chunk_steps + self.steps
        self._reset()
        return parts, steps


class Sentinel:
    def __init__(self) -> None:
        self._outputs = _Series()
        self._losses = _Series()
        self._float_losses: dict[int, float] = {}
        self._taken: tuple[list[int], list[int]] = ([], [])

    def record_output(self, output: torch.Tensor, step: int) -> None:
        self._outputs.append(output.detach().sum(dtype=torch.float32), step)

    def record_loss(self, loss: torch.Tensor | float, step: int) -> None:
        if isinstance(loss, torch.Tensor):
            value = loss.detach()
            self._losses.append(value if value.ndim == 0 else value.reshape(()), step)
        else:
            self._float_losses[step] = float(loss)

    def take(self) -> list[torch.Tensor]:
        """The device tensors to transfer (flat; outputs first, then losses), possibly none."""
        outputs, output_steps = self._outputs.take()
        losses, loss_steps = self._losses.take()
        self._taken = (output_steps, loss_steps)
        return outputs + losses

    def read(self, values: np.ndarray | None) -> Interval:
        """Interpret the transferred values of the last ``take``, then start a new interval."""
        output_steps, loss_steps = self._taken
        self._taken = ([], [])
        losses = dict(self._float_losses)
        self._float_losses.clear()
        bad_output: int | None = None
        if values is not None:
            sums, device_losses = values[: len(output_steps)], values[len(output_steps) :]
            bad_output = next((s for s, v in zip(output_steps, sums) if not math.isfinite(v)), None)
            losses.update(zip(loss_steps, device_losses.tolist()))
        bad_loss = next((s for s, v in sorted(losses.items()) if not math.isfinite(v)), None)
        return Interval(bad_output, bad_loss, losses)
