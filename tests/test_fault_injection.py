"""Fault injection: each internal part of gradmedic is made to raise in turn, and the training loop must not
notice. Its losses stay bitwise those of an unwatched run with the same seed, nothing raises into it (nor
from ``report()`` or ``close()``), and the report says what happened through an incident.
"""

from __future__ import annotations

import struct
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import gradmedic
from gradmedic.detectors.engine import Engine
from gradmedic.kinds.registry import registered_kinds
from gradmedic.monitor import Monitor
from gradmedic.pipeline import Pipeline
from gradmedic.probe.gradients import GradientProbe
from gradmedic.probe.hooks import ForwardProbe
from gradmedic.probe.sentinel import Sentinel
from gradmedic.remedies.doctor import Doctor
from gradmedic.remedies.gate import StepGate
from gradmedic.sinks.base import SinkSet
from gradmedic.sinks.console import ConsoleSink
from gradmedic.sinks.jsonl import JsonlSink
from gradmedic.sinks.tensorboard import TensorBoardSink

STEPS = 24


class InjectedFault(RuntimeError):
    pass


def _raise(*args: Any, **kwargs: Any) -> Any:
    raise InjectedFault("injected by the test")


def _model() -> nn.Sequential:
    """A small ReLU net whose middle layer is born dead: the dead-units detector fires, so the advice,
    the diagnosis sinks and the doctor all get work."""
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 4))
    with torch.no_grad():
        model[2].bias.fill_(-50.0)
    return model


def train(watch: dict[str, Any] | None, report_at: int = STEPS // 2) -> tuple[list[bytes], Monitor | None]:
    """Train STEPS steps from seed 0; returns each loss's bytes and the monitor (None when unwatched)."""
    torch.manual_seed(0)
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    x = torch.randn(64, 16)
    y = torch.randint(0, 4, (64,))
    monitor = gradmedic.watch(model, opt, every=1, **watch) if watch is not None else None
    losses = []
    for step in range(STEPS):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        if monitor is not None:
            monitor.observe_loss(loss)
            if step == report_at:
                monitor.report()  # the README shows it mid-run
        losses.append(struct.pack("d", loss.item()))
    if monitor is not None:
        monitor.close()
    return losses, monitor


@pytest.fixture(scope="module")
def unwatched() -> list[bytes]:
    return train(None)[0]


# (what breaks, the class or module, the attribute made to raise)
MONITOR_FAULTS = [
    ("probe root hook", ForwardProbe, "_root_pre"),
    ("probe layer hook", ForwardProbe, "_record"),
    ("gradient probe before the step", GradientProbe, "before_step"),
    ("gradient probe after the step", GradientProbe, "after_step"),
    ("sentinel output check", Sentinel, "record_output"),
    ("sentinel read", Sentinel, "read"),
    ("pipeline", Pipeline, "ingest"),
    ("engine", Engine, "update"),
    ("report", Pipeline, "report"),
    ("close", Monitor, "_final_nonfinite_check"),
]


def _check_survived(losses: list[bytes], unwatched: list[bytes], monitor: Monitor | None) -> gradmedic.Report:
    assert monitor is not None
    assert losses == unwatched, "the watched run's losses must be bitwise those of the unwatched run"
    report = monitor.report()  # after close: never raises either
    assert report.steps == STEPS, "steps counts every training step, watched or not"
    return report


def _check_stopped(report: gradmedic.Report, caught: list[warnings.WarningMessage], err: str) -> None:
    stops = [i for i in report.incidents if i.component == "monitor"]
    assert len(stops) == 1 and "InjectedFault" in stops[0].error, report.incidents
    assert not report.healthy and not report.watched_fully
    assert "incidents" in report.to_dict() and report.to_dict()["incidents"][0]["component"] == "monitor"
    ours = [w for w in caught if "gradmedic stopped watching" in str(w.message)]
    assert len(ours) == 1, [str(w.message) for w in caught]
    assert ours[0].filename == __file__, f"the warning points at {ours[0].filename}, not the user's loop"
    assert err.count("Traceback (most recent call last)") == 1 and "InjectedFault: injected by the test" in err


@pytest.mark.parametrize(("what", "owner", "attribute"), MONITOR_FAULTS, ids=[f[0] for f in MONITOR_FAULTS])
def test_a_broken_part_stops_the_monitor_not_the_run(
    what: str,
    owner: Any,
    attribute: str,
    unwatched: list[bytes],
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(owner, attribute, _raise)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        losses, monitor = train({"console": False})
    report = _check_survived(losses, unwatched, monitor)
    _check_stopped(report, caught, capfd.readouterr().err)


def test_a_broken_detector_is_switched_off_the_others_go_on(unwatched: list[bytes]) -> None:
    """One failure kind's detector raises: that kind goes unwatched (an incident names it), the monitor and
    the other kinds carry on, and training is bitwise untouched."""
    kinds = [replace(k, detect=_raise) if k.name == "dead_units" else k for k in registered_kinds()]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        losses, monitor = train({"console": False, "detectors": kinds})
    report = _check_survived(losses, unwatched, monitor)
    told = [i for i in report.incidents if i.component == "detector:dead_units"]
    assert len(told) == 1 and "InjectedFault" in told[0].error, report.incidents
    assert not any(i.component == "monitor" for i in report.incidents), "the monitor itself was not stopped"
    assert "dead_units" not in report.kinds()
    assert report.steps == STEPS and report.layers, "the other kinds were still fed every sampled step"
    assert sum("dead_units detector failed" in str(w.message) for w in caught) == 1


def test_broken_advice_stops_the_monitor_not_the_run(
    unwatched: list[bytes], monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("gradmedic.pipeline.explain", _raise)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        losses, monitor = train({"console": False})
    report = _check_survived(losses, unwatched, monitor)
    _check_stopped(report, caught, capfd.readouterr().err)


@pytest.mark.parametrize("attribute", ["review", "after_step"])
def test_a_broken_doctor_stops_the_monitor_not_the_run(
    attribute: str, unwatched: list[bytes], monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(Doctor, attribute, _raise)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        losses, monitor = train({"console": False, "treat": True})
    report = _check_survived(losses, unwatched, monitor)
    _check_stopped(report, caught, capfd.readouterr().err)
    assert not report.treatments
    assert monitor is not None and not monitor.model[0]._forward_hooks  # type: ignore[index]
    assert monitor._doctor is not None and not monitor._doctor.gate._handles, "the step gate leaves with close()"


def test_a_broken_step_gate_never_raises_into_optimizer_step(
    unwatched: list[bytes], monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(StepGate, "_before", _raise)
    monkeypatch.setattr(Doctor, "review", lambda *args: None)  # no treatment: the run stays comparable
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        losses, monitor = train({"console": False, "treat": True})
    report = _check_survived(losses, unwatched, monitor)
    _check_stopped(report, caught, capfd.readouterr().err)


SINK_FAULTS = [
    (ConsoleSink, "write_diagnosis"),
    (JsonlSink, "write_step"),
    (TensorBoardSink, "write_step"),
    (JsonlSink, "close"),
]


@pytest.mark.skipif(
    not hasattr(SinkSet, "write_incident"), reason="sink incidents come with the sinks rewrite (SinkSet.incidents)"
)
@pytest.mark.parametrize(("owner", "attribute"), SINK_FAULTS, ids=[f"{o.__name__}.{a}" for o, a in SINK_FAULTS])
def test_a_broken_sink_is_switched_off_and_recorded(
    owner: Any, attribute: str, unwatched: list[bytes], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(owner, attribute, _raise)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        losses, monitor = train({"console": True, "logdir": tmp_path})
    report = _check_survived(losses, unwatched, monitor)
    assert any(i.component == f"sink:{owner.__name__}" for i in report.incidents), report.incidents
    assert report.watched_fully, "a sink switched off still leaves every step watched"


def test_control_without_a_fault_the_watched_run_is_bitwise_the_unwatched_one(unwatched: list[bytes]) -> None:
    losses, monitor = train({"console": False})
    report = _check_survived(losses, unwatched, monitor)
    assert not report.incidents and report.watched_fully
    assert "dead_units" in report.kinds(at_least="warning"), "the faults above must have had work to break"
