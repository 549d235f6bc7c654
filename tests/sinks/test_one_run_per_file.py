"""One folder, one run per file: a reused log folder moves the old log aside to gradmedic.N.jsonl, and two
live monitors on one folder never write into the same file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import gradmedic
from gradmedic.sinks.jsonl import FILENAME, JsonlSink

from ..models import fit, relu_mlp
from .records import LAYERS, report, step


def _run_in(folder: Path, steps: int) -> None:
    sink = JsonlSink(folder)
    for n in range(steps):
        sink.write_step(step(n), LAYERS)
    sink.close(report(steps))


def _one_run(path: Path) -> dict[str, object]:
    """The closing line of a log holding exactly one run, whole, in order."""
    records = [json.loads(line) for line in path.read_text().splitlines()]
    types = [r["type"] for r in records]
    assert types[0] == "run" and types.count("run") == 1, path
    assert types[-1] == "report" and types.count("report") == 1, path
    steps = [r["step"] for r in records if r["type"] == "step"]
    assert steps == sorted(set(steps)), path
    return records[-1]


def test_a_reused_folder_moves_the_old_log_aside_and_says_so_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _run_in(tmp_path, 3)
    assert capsys.readouterr().err == ""
    _run_in(tmp_path, 5)
    _run_in(tmp_path, 7)
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "moved to gradmedic.1.jsonl" in err[0] and "moved to gradmedic.2.jsonl" in err[1]
    assert "--run N" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gradmedic.1.jsonl", "gradmedic.2.jsonl", FILENAME]
    assert [_one_run(tmp_path / name)["steps"] for name in ("gradmedic.1.jsonl", "gradmedic.2.jsonl", FILENAME)] == [
        3,
        5,
        7,
    ]


def test_a_crashed_run_is_moved_aside_above_the_highest_number(tmp_path: Path) -> None:
    (tmp_path / FILENAME).write_text('{"type": "step", "step": 0, "layers": {}}\n{"type": "st')
    (tmp_path / "gradmedic.4.jsonl").write_text("")  # numbers continue above the highest one there
    _run_in(tmp_path, 2)
    assert (tmp_path / "gradmedic.5.jsonl").read_text().startswith('{"type": "step"')
    assert _one_run(tmp_path / FILENAME)["steps"] == 2


def test_two_live_monitors_on_one_folder_write_two_whole_logs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    torch.manual_seed(0)
    model, other = relu_mlp(), relu_mlp()
    opt, other_opt = torch.optim.SGD(model.parameters(), lr=0.05), torch.optim.SGD(other.parameters(), lr=0.05)
    first = gradmedic.watch(model, opt, logdir=tmp_path, console=False)
    second = gradmedic.watch(other, other_opt, logdir=tmp_path, console=False)  # both live at once
    fit(model, opt, 12, first)
    fit(other, other_opt, 12, second)
    second.close()
    first.close()
    assert "moved to gradmedic.1.jsonl" in capsys.readouterr().err
    logs = sorted(tmp_path.glob("gradmedic*.jsonl"))
    assert [p.name for p in logs] == ["gradmedic.1.jsonl", FILENAME]
    for log in logs:
        assert _one_run(log)["steps"] == 12
