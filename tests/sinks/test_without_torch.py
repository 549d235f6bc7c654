"""The sinks work where torch cannot be imported: every sink writes a run in a subprocess that blocks torch."""

from __future__ import annotations

import json
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from gradmedic.sinks.jsonl import FILENAME

from ..test_without_torch import _run_without_torch

ROOT = Path(__file__).resolve().parents[2]


def test_every_sink_writes_without_torch(tmp_path: Path) -> None:
    done = _run_without_torch(
        f"""
        sys.path.insert(0, {str(ROOT)!r})
        from gradmedic.records import Incident
        from gradmedic.sinks.base import SinkSet
        from gradmedic.sinks.console import ConsoleSink
        from gradmedic.sinks.jsonl import JsonlSink
        from gradmedic.sinks.tensorboard import TensorBoardSink
        from tests.sinks.records import LAYERS, report, step
        sinks = SinkSet([JsonlSink("logs"), TensorBoardSink("logs"), ConsoleSink()])
        for n in range(5):
            sinks.write_step(step(n), LAYERS)
        sinks.write_incident(Incident(4, "monitor", "stopped"))
        sinks.close(report(5, diagnoses=1))
        print("torch" in sys.modules)
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
    assert "INCIDENT monitor" in done.stderr and "5 steps watched" in done.stderr
    records = [json.loads(line) for line in (tmp_path / "logs" / FILENAME).read_text().splitlines()]
    assert [r["type"] for r in records] == ["run", "layers"] + ["step"] * 5 + ["incident", "report"]
    acc = EventAccumulator(str(tmp_path / "logs"))
    acc.Reload()
    assert [e.step for e in acc.Scalars("gradmedic/zero_fraction/block3.fc")] == [0, 1, 2, 3, 4]
