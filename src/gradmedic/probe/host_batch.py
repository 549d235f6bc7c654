"""``HostBatch``: the device tensors of a sampled step's measurements (gradients, each activation site, the
sentinel), joined and brought to the host in one transfer. Each measurement gets a ticket when its tensors
are added and reads its own share back by it, so nobody counts offsets, and a share is as long as what was
added, whatever the measurement thinks its size is.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch


class HostBatch:
    def __init__(self, device: torch.device) -> None:
        self._device = device
        self._parts: list[torch.Tensor] = []
        self._bounds: list[tuple[int, int]] = []
        self._values: np.ndarray | None = None

    def add(self, tensors: Sequence[torch.Tensor]) -> int:
        """Queue ``tensors`` (any shape; read back flat, in order, as float32); returns the ticket for ``share``."""
        if self._values is not None:
            raise RuntimeError("HostBatch.add after transfer: make a new batch for the next step")
        start = self._bounds[-1][1] if self._bounds else 0
        flat = [t.detach().reshape(-1) for t in tensors]
        self._parts += flat
        self._bounds.append((start, start + sum(int(t.numel()) for t in flat)))
        return len(self._bounds) - 1

    def transfer(self) -> None:
        """The one host transfer (a sync on an accelerator)."""
        if not self._parts:
            self._values = np.zeros(0, dtype=np.float32)
            return
        try:
            joined = torch.cat([t.float() for t in self._parts])
        except RuntimeError:  # tensors on several devices
            joined = torch.cat([t.float().to(self._device) for t in self._parts])
        self._values = joined.cpu().numpy()
        self._parts = []

    def share(self, ticket: int) -> np.ndarray:
        """The values of what was added under ``ticket``, after ``transfer``."""
        if self._values is None:
            raise RuntimeError("HostBatch.share before transfer")
        start, end = self._bounds[ticket]
        return self._values[start:end]
