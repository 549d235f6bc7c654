"""Several models' reports as one (``gradmedic run`` and ``gradmedic check`` on a script that trains more than
one model), and the report JSON the two commands write. Framework-free."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, Sequence

from .atomic_file import write_text_atomic
from .records import SEVERITY_RANK, Diagnosis, Incident, LayerInfo, Report, Treatment


def merge_reports(reports: Sequence[tuple[str, Report]]) -> Report:
    """One report for several models; the names of every model labelled (all but the first) get ``label/``."""
    layers: list[LayerInfo] = []
    diagnoses: list[Diagnosis] = []
    treatments: list[Treatment] = []
    incidents: list[Incident] = []
    for label, report in reports:
        prefix = f"{label}/" if label else ""
        layers += [replace(info, name=prefix + info.name) for info in report.layers]
        diagnoses += [replace(d, layers=tuple(prefix + n for n in d.layers)) for d in report.diagnoses]
        treatments += [replace(t, action=f"{label}: {t.action}") if label else t for t in report.treatments]
        incidents += [replace(i, component=f"{label}: {i.component}") if label else i for i in report.incidents]
    diagnoses.sort(key=lambda d: (-SEVERITY_RANK[d.severity], d.first_step))
    treatments.sort(key=lambda t: t.step)
    steps = max((r.steps for _, r in reports), default=0)
    return Report(steps=steps, layers=layers, diagnoses=diagnoses, treatments=treatments, incidents=incidents)


def write_report_json(path: str, report: Report, models: list[dict[str, Any]]) -> None:
    """The report JSON, with one entry per watched model, written whole or not at all (strict JSON: no NaN)."""
    data = report.to_dict()
    data["models"] = models
    write_text_atomic(path, json.dumps(data, indent=2, allow_nan=False))
