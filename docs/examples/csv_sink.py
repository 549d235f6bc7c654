"""A sink of your own: one CSV row per sampled step (step, global gradient norm, loss) and per diagnosis.

Subclass ``gradmedic.Sink`` and override the records you care about; the others do nothing. A sink that
raises is switched off with a warning and an incident in the report, and training goes on.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Mapping

import gradmedic
from gradmedic import Diagnosis, LayerInfo, Report, StepStats


class CsvSink(gradmedic.Sink):
    def __init__(self, path: str | Path) -> None:
        self._file = open(path, "w", newline="")  # noqa: SIM115  (closed in close())
        self._rows = csv.writer(self._file)
        self._rows.writerow(["step", "record", "grad_norm", "loss", "kind", "severity"])

    def write_step(self, stats: StepStats, layers: Mapping[str, LayerInfo]) -> None:
        self._rows.writerow([stats.step, "step", stats.global_grad_norm, stats.loss, "", ""])

    def write_diagnosis(self, diagnosis: Diagnosis, step: int) -> None:
        self._rows.writerow([step, "diagnosis", "", "", diagnosis.kind, diagnosis.severity])

    def close(self, report: Report) -> None:
        self._file.close()
