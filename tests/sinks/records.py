"""Synthetic records for the sink tests: steps with a few layers, and a report, without training anything."""

from __future__ import annotations

import numpy as np

from gradmedic.records import ActivationStats, Diagnosis, LayerInfo, LayerStats, Remedy, Report, StepStats

LAYERS = {f"block{i}.fc": LayerInfo(f"block{i}.fc", "Linear", i, activation="ReLU", units=16) for i in range(4)}


def step(n: int) -> StepStats:
    rng = np.random.default_rng(n)
    stats = {
        name: LayerStats(
            grad_norm=float(rng.random()),
            weight_norm=1.0 + i,
            activation=ActivationStats("relu", float(rng.random()), None, rng.random(16) > 0.3),
        )
        for i, name in enumerate(LAYERS)
    }
    return StepStats(n, stats, global_grad_norm=2.0, loss=1.0 / (n + 1), losses={n: 1.0 / (n + 1)})


def report(steps: int, diagnoses: int = 0) -> Report:
    found = [
        Diagnosis(
            kind="dead_units",
            severity="error",
            layers=("block1.fc",),
            first_step=3,
            message=f"diagnosis {k}: " + "the units of block1.fc are zero for every example " * 4,
            evidence={"dead_fraction": 1.0},
            remedies=(Remedy("leaky_relu", "use LeakyReLU", "nn.LeakyReLU(0.01)", 1),),
        )
        for k in range(diagnoses)
    ]
    return Report(steps=steps, layers=list(LAYERS.values()), diagnoses=found)
