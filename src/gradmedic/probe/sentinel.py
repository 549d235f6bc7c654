"""The every-step check: one device op per step, read at the next sampled step. No host sync.

Each training step writes the sum of the model's output (NaN and Inf survive a sum) into its slot
of a small device buffer, and the loss, when the user hands it over, into a second row. The buffer
rides along with the sampled step's single host transfer, which tells the exact first step that
went non-finite and the loss of every step in between.
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


# With more steps than slots between two sampled steps, later steps reuse slots: a run that went
# non-finite stays non-finite, so it is still caught, only its first step may be reported late.
MAX_SLOTS = 1024


class Sentinel:
    def __init__(self, every: int) -> None:
        self.slots = max(1, min(every, MAX_SLOTS))
        self.buffer: torch.Tensor | None = None  # [2, slots]: output sums, losses
        self._written: set[int] = set()  # steps whose output sum was written
        self._loss_steps: set[int] = set()
        self._float_losses: dict[int, float] = {}

    def _slot(self, tensor: torch.Tensor, row: int, step: int) -> torch.Tensor:
        if self.buffer is None or self.buffer.device != tensor.device:
            dtype = torch.float32 if tensor.device.type == "mps" else torch.float64
            self.buffer = torch.zeros(2, self.slots, dtype=dtype, device=tensor.device)
        return self.buffer[row, step % self.slots]

    def record_output(self, output: torch.Tensor, step: int) -> None:
        slot = self._slot(output, 0, step)
        slot.copy_(output.detach().sum(dtype=slot.dtype))
        self._written.add(step)

    def record_loss(self, loss: torch.Tensor | float, step: int) -> None:
        if isinstance(loss, torch.Tensor):
            slot = self._slot(loss, 1, step)
            slot.copy_(loss.detach().sum(dtype=slot.dtype))
            self._loss_steps.add(step)
        else:
            self._float_losses[step] = float(loss)

    def take(self) -> torch.Tensor | None:
        """The buffer to transfer (flattened), or None when nothing was written on the device."""
        if self.buffer is None or not (self._written or self._loss_steps):
            return None
        return self.buffer.reshape(-1)

    def read(self, values: np.ndarray | None) -> Interval:
        """Interpret the transferred buffer, then start a new interval."""
        bad_output: int | None = None
        losses = dict(self._float_losses)
        if values is not None:
            sums, device_losses = values[: self.slots], values[self.slots :]
            recent = sorted(self._written)[-self.slots :]  # steps whose slots were not overwritten
            bad_output = next((s for s in recent if not math.isfinite(sums[s % self.slots])), None)
            for step in sorted(self._loss_steps)[-self.slots :]:
                losses[step] = float(device_losses[step % self.slots])
        bad_loss = next((s for s, v in sorted(losses.items()) if not math.isfinite(v)), None)
        self._written.clear()
        self._loss_steps.clear()
        self._float_losses.clear()
        return Interval(bad_output, bad_loss, losses)
