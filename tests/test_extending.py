"""docs/extending.md's worked examples, run as they are: a failure kind of one's own (detected, explained,
logged, titled in the HTML report, treated by one's own cure) and a sink of one's own."""

from __future__ import annotations

import csv
import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Iterator

import pytest
import torch
from torch import nn

import gradmedic
from gradmedic.config import Config
from gradmedic.detectors.engine import Engine
from gradmedic.kinds import register_kind, unregister_kind
from gradmedic.report.build import build_report

from .detectors.helpers import make_step, stack

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"
DOC = EXAMPLES.parent / "extending.md"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"docs_example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


plateau = _load("loss_plateau")
csv_sink = _load("csv_sink")


@pytest.fixture
def registered() -> Iterator[None]:
    register_kind(plateau.PLATEAU)
    try:
        yield
    finally:
        unregister_kind("loss_plateau")


def _train(lr: float, steps: int = 30, **watch: object) -> gradmedic.Report:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 2))
    x = torch.randn(256, 8)
    y = (x[:, 0] > 0).long()  # learnable in a few steps
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    with gradmedic.watch(model, opt, console=False, every=1, **watch) as monitor:  # type: ignore[arg-type]
        for _ in range(steps):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            monitor.observe_loss(loss)
    return monitor.report()


def test_the_doc_shows_each_example_file_as_it_is() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    for path in sorted(EXAMPLES.glob("*.py")):
        shown = f"# docs/examples/{path.name}\n{path.read_text()}"
        assert shown in blocks, f"docs/extending.md does not show {path.name} as it is"


def test_the_plateau_detector_on_synthetic_records() -> None:
    cfg, layers = Config(), stack(3)
    flat, falling = Engine(cfg, detectors=[plateau.PLATEAU]), Engine(cfg, detectors=[plateau.PLATEAU])
    for step in range(2 * cfg.window - 1):
        assert flat.update(make_step(step, [1.0, 1.0, 1.0], loss=2.0), layers) == []  # not two windows yet
    (found,) = flat.update(make_step(2 * cfg.window - 1, [1.0, 1.0, 1.0], loss=2.0), layers)
    for step in range(4 * cfg.window):
        falling.update(make_step(step, [1.0, 1.0, 1.0], loss=2.0 * 0.9**step), layers)
    assert found.kind == "loss_plateau" and found.first_step == cfg.window and found.evidence["median_loss_now"] == 2.0
    assert falling.findings == {}
    assert plateau.detect([], layers, cfg) is None  # too little history: nothing said


def test_a_registered_kind_is_watched_for_logged_and_titled(registered: None, tmp_path: Path) -> None:
    report = _train(lr=0.0, logdir=tmp_path)  # the weights never move: the loss stays where it is
    (d,) = [d for d in report.diagnoses if d.kind == "loss_plateau"]
    assert d.severity == "warning" and d.message.startswith("The loss has stopped falling since step")
    assert [r.name for r in d.remedies] == ["raise_lr", "check_targets"]
    logged = [json.loads(line) for line in (tmp_path / "gradmedic.jsonl").read_text().splitlines()]
    assert [r["kind"] for r in logged if r["type"] == "diagnosis"] == ["loss_plateau"]
    page = build_report(tmp_path).read_text()
    assert "<h3>Loss plateau</h3>" in page and "the model has stopped learning" in page
    assert "loss_plateau" not in _train(lr=0.5).kinds()  # a run that learns has no plateau


def test_a_kind_of_ones_own_is_treated_by_a_cure_of_ones_own(registered: None) -> None:
    report = _train(lr=1e-4, steps=40, treat={"plateau": [plateau.RaiseLearningRate()]})
    raised = [t for t in report.treatments if t.remedy == "raise_lr"]
    assert raised and raised[0].kind == "loss_plateau" and raised[0].before["lr_scale"] == 1.0
    assert raised[0].action == "raise the learning rate 3x (scale 1 -> 3)"
    (d,) = [d for d in report.diagnoses if d.kind == "loss_plateau"]
    assert [r.name for r in d.remedies if r.applied] == ["raise_lr"]


def test_malformed_plans_are_refused_before_anything_is_attached() -> None:
    model = nn.Linear(2, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(TypeError, match="lacks name, applies_to, apply"):
        gradmedic.watch(model, opt, treat={"plateau": [object()]})  # type: ignore[list-item]
    with pytest.raises(TypeError, match="dict of family"):
        gradmedic.watch(model, opt, treat={"plateau": plateau.RaiseLearningRate()})
    with pytest.raises(TypeError, match="treat must be True, False, or plans"):
        gradmedic.watch(model, opt, treat="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="list of gradmedic.FailureKind"):
        gradmedic.watch(model, opt, detectors=plateau.PLATEAU)
    assert gradmedic.monitor.monitor_of(model) is None  # nothing was left attached


def test_the_csv_sink_writes_a_row_per_sampled_step_and_per_diagnosis(registered: None, tmp_path: Path) -> None:
    path = tmp_path / "run.csv"
    report = _train(lr=0.0, sinks=[csv_sink.CsvSink(path)])
    rows = list(csv.DictReader(path.open()))
    steps = [r for r in rows if r["record"] == "step"]
    assert len(steps) == report.steps == 30 and all(float(r["grad_norm"]) > 0 for r in steps)
    assert [int(r["step"]) for r in steps] == sorted(int(r["step"]) for r in steps)
    assert [r["kind"] for r in rows if r["record"] == "diagnosis"] == ["loss_plateau"]
    assert not [i for i in report.incidents if i.component.startswith("sink:")]  # it never failed
