"""JSONL and TensorBoard written by real runs, read back; logs survive exceptions and exits."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn

import gradmedic
from gradmedic.sinks.jsonl import FILENAME

from ..models import fit, relu_mlp


def _born_dead_run(logdir: Path, steps: int = 40) -> gradmedic.Report:
    torch.manual_seed(0)
    model = relu_mlp((64, 64, 64, 64, 10))
    with torch.no_grad():
        model[2].bias.fill_(-50.0)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    with gradmedic.watch(model, opt, logdir=logdir, console=False) as monitor:
        fit(model, opt, steps, monitor)
    return monitor.report()


def test_tensorboard_has_per_layer_scalars_and_zero_fraction_for_every_hidden_layer(tmp_path: Path) -> None:
    _born_dead_run(tmp_path)
    acc = EventAccumulator(str(tmp_path), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    scalars = set(acc.Tags()["scalars"])
    for hidden in ("0", "2", "4"):
        assert f"gradmedic/zero_fraction/{hidden}" in scalars
    for layer in ("0", "2", "4", "6"):
        assert f"gradmedic/grad_norm/{layer}" in scalars
        assert f"gradmedic/update_ratio/{layer}" in scalars
    assert "gradmedic/global/grad_norm" in scalars and "gradmedic/global/loss" in scalars
    dead = acc.Scalars("gradmedic/zero_fraction/2")
    assert all(e.value == 1.0 for e in dead)  # the born-dead layer outputs only zeros
    healthy = acc.Scalars("gradmedic/zero_fraction/0")
    assert all(0.0 < e.value < 1.0 for e in healthy)
    steps = [e.step for e in acc.Scalars("gradmedic/global/grad_norm")]
    assert steps[:3] == [0, 1, 2] and steps == sorted(steps)
    texts = acc.Tensors("gradmedic/diagnoses/text_summary")
    body = texts[0].tensor_proto.string_val[0].decode()
    assert "dead_units" in body and "LeakyReLU" in body


def test_jsonl_is_the_canonical_record(tmp_path: Path) -> None:
    report = _born_dead_run(tmp_path)
    lines = [json.loads(line) for line in (tmp_path / FILENAME).read_text().splitlines()]
    types = [r["type"] for r in lines]
    assert types[:2] == ["run", "layers"] and types[-1] == "report"
    steps = [r for r in lines if r["type"] == "step"]
    assert [s["step"] for s in steps][:4] == [0, 1, 2, 3]
    assert steps[0]["layers"]["2"]["zero_fraction"] == 1.0
    assert any(r["type"] == "diagnosis" and r["kind"] == "dead_units" for r in lines)
    assert lines[-1]["diagnoses"] == report.to_dict()["diagnoses"]


def test_logs_are_flushed_when_training_raises(tmp_path: Path) -> None:
    model = relu_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    with pytest.raises(KeyboardInterrupt), gradmedic.watch(model, opt, logdir=tmp_path, console=False):
        fit(model, opt, 12)
        raise KeyboardInterrupt
    last = json.loads((tmp_path / FILENAME).read_text().splitlines()[-1])
    assert last["type"] == "report" and last["steps"] == 12


@pytest.mark.slow
def test_logs_are_flushed_at_exit_without_close(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import torch, gradmedic
        from torch import nn
        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        monitor = gradmedic.watch(model, opt, logdir={str(tmp_path)!r}, console=False)
        for _ in range(7):
            opt.zero_grad(); model(torch.randn(16, 4)).pow(2).mean().backward(); opt.step()
        # no close(): the process simply ends
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    last = json.loads((tmp_path / FILENAME).read_text().splitlines()[-1])
    assert last["type"] == "report" and last["steps"] == 7
    acc = EventAccumulator(str(tmp_path))
    acc.Reload()
    assert "gradmedic/grad_norm/0" in acc.Tags()["scalars"]


def test_console_prints_live_line_and_summary(capsys: pytest.CaptureFixture[str]) -> None:
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 10))
    with torch.no_grad():
        model[2].bias.fill_(-50.0)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    with gradmedic.watch(model, opt) as monitor:
        fit(model, opt, 20, monitor)
    err = capsys.readouterr().err
    assert "dead_units" in err and "fix:" in err
    assert "steps watched" in err
