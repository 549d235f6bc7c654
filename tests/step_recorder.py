"""A sink that keeps every sampled step's record in memory, for tests that read the statistics back."""

from __future__ import annotations

from typing import Mapping

from gradmedic.records import Diagnosis, LayerInfo, Report, StepStats, Treatment


class StepRecorder:
    def __init__(self) -> None:
        self.steps: list[StepStats] = []

    def write_step(self, stats: StepStats, layers: Mapping[str, LayerInfo]) -> None:
        self.steps.append(stats)

    def write_diagnosis(self, diagnosis: Diagnosis, step: int) -> None:
        pass

    def write_treatment(self, treatment: Treatment) -> None:
        pass

    def close(self, report: Report) -> None:
        pass

    def saturated(self, layer: str) -> float | None:
        """The last recorded saturated fraction of ``layer``'s activated output."""
        act = self.steps[-1].layers[layer].activation if layer in self.steps[-1].layers else None
        return None if act is None else act.saturated_fraction
