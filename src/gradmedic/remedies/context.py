"""What a cure may look at and touch: the model, its optimizers, the gate, snapshots, and recent statistics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from ..config import Config
from ..detectors.dead import ever_active
from ..records import LayerInfo, StepStats
from .gate import StepGate
from .snapshots import Snapshots


@dataclass
class Context:
    model: nn.Module
    optimizers: list[torch.optim.Optimizer]
    gate: StepGate
    snapshots: Snapshots
    config: Config
    step: int = 0
    layers: Mapping[str, LayerInfo] = ()  # type: ignore[assignment]
    history: Sequence[StepStats] = ()
    firing: frozenset[str] = frozenset()  # the problem kinds the detectors find on the latest window
    onset: int = 0  # the earliest first step of the family being treated (its diagnoses date it differently)
    stuck: bool = False  # every recent step was dropped: only cures that act on the weights can help
    distributed: bool = False  # a replica of a DDP run: cures that add parameters are off (DDP would not sync them)

    def module(self, name: str) -> nn.Module | None:
        try:
            return self.model.get_submodule(name)
        except AttributeError:
            return None

    def dead_mask(self, layer: str) -> np.ndarray | None:
        """Units of ``layer`` never active over the detector's window (True = dead), or None if unknown."""
        window = list(self.history)[-self.config.window :]
        acts = [act for s in window if layer in s.layers and (act := s.layers[layer].activation) is not None]
        ever = ever_active(acts)
        return None if ever is None else ~ever

    def recent_loss(self) -> float | None:
        """The median loss of the last sampled steps, or None when no loss was seen."""
        losses = [v for s in list(self.history)[-self.config.window :] for v in s.losses.values()]
        finite = [v for v in losses if np.isfinite(v)]
        return float(np.median(finite)) if finite and len(finite) == len(losses) else None

    def recent_update_ratio(self) -> float | None:
        """The largest per-layer median update ratio ||dw||/||w|| over the last sampled steps.

        The largest, not the typical: once units died, their layers barely move, but the layers still
        learning show how large the steps are.
        """
        per_layer: dict[str, list[float]] = {}
        for stats in list(self.history)[-self.config.window :]:
            for name, s in stats.layers.items():
                ratio = s.update_ratio
                if ratio is not None and np.isfinite(ratio) and name in self.layers and self.layers[name].has_weights:
                    per_layer.setdefault(name, []).append(ratio)
        return max((float(np.median(v)) for v in per_layer.values()), default=None)
