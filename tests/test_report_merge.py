"""Several models' reports as one, as ``gradmedic run`` and ``gradmedic check`` write it."""

from __future__ import annotations

import json
from pathlib import Path

from gradmedic.records import Diagnosis, Incident, LayerInfo, Report, Treatment
from gradmedic.report_merge import merge_reports, write_report_json


def _report(steps: int, severity: str, first_step: int, treated_at: int) -> Report:
    return Report(
        steps=steps,
        layers=[LayerInfo("fc", "Linear", 0)],
        diagnoses=[Diagnosis("dead_units", severity, ("fc",), first_step, "m", {})],  # type: ignore[arg-type]
        treatments=[Treatment(step=treated_at, kind="dead_units", action="revive", reason="r")],
        incidents=[Incident(step=1, component="sink", error="e")],
    )


def test_labelled_models_get_prefixed_names_and_one_order() -> None:
    merged = merge_reports([("", _report(30, "warning", 5, 20)), ("Critic", _report(40, "error", 9, 10))])
    assert merged.steps == 40
    assert [i.name for i in merged.layers] == ["fc", "Critic/fc"]
    assert [(d.severity, d.layers) for d in merged.diagnoses] == [("error", ("Critic/fc",)), ("warning", ("fc",))]
    assert [t.action for t in merged.treatments] == ["Critic: revive", "revive"]  # by step
    assert [i.component for i in merged.incidents] == ["sink", "Critic: sink"]


def test_report_json_names_the_models(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    write_report_json(str(path), _report(3, "info", 0, 1), [{"label": "", "type": "Net"}])
    data = json.loads(path.read_text())
    assert data["models"] == [{"label": "", "type": "Net"}] and data["steps"] == 3
