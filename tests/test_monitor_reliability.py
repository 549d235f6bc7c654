"""The monitor never takes the run down and never lies: wrong arguments fail at once and leave nothing behind,
an internal fault is an incident in the report (never a healthy verdict over unwatched steps), and one
model has one monitor.
"""

from __future__ import annotations

import atexit
import json
import os
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import gradmedic
from gradmedic.pipeline import Pipeline
from gradmedic.probe.gradients import GradientProbe

STEPS = 40


def _setup() -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    return model, torch.optim.SGD(model.parameters(), lr=0.1)


def _loop(model: nn.Module, opt: torch.optim.Optimizer, monitor: gradmedic.Monitor, steps: int = STEPS) -> None:
    x, y = torch.randn(32, 8), torch.randint(0, 2, (32,))
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        monitor.observe_loss(loss)


def _hooks(model: nn.Module, opt: torch.optim.Optimizer) -> int:
    module_hooks = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())
    return module_hooks + len(opt._optimizer_step_pre_hooks) + len(opt._optimizer_step_post_hooks)


# --- 1. report() never raises into user code ------------------------------------------------------------
def test_report_mid_run_and_after_close_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    model, opt = _setup()
    monitor = gradmedic.watch(model, opt, console=False, every=1)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("broken report")

    monkeypatch.setattr(Pipeline, "report", broken)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _loop(model, opt, monitor, 5)
        mid = monitor.report()  # on main: RuntimeError raised into the caller
        _loop(model, opt, monitor, 5)
        final = monitor.close()
        again = monitor.report()
    assert mid.steps == 5 and final.steps == 10 and again.steps == 10
    assert [i.component for i in again.incidents] == ["monitor"] and "broken report" in again.incidents[0].error


# --- 2. after an internal fault the report counts every step and is not healthy --------------------------
def test_after_a_fault_the_record_counts_every_step_and_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    model, opt = _setup()
    real = GradientProbe.after_step
    calls = []

    def fails_at_step_3(self: GradientProbe, m: Any) -> Any:
        calls.append(1)
        if len(calls) > 3:
            raise ZeroDivisionError("fault at the fourth sampled step")
        return real(self, m)

    monkeypatch.setattr(GradientProbe, "after_step", fails_at_step_3)
    monitor = gradmedic.watch(model, opt, console=False, every=1, logdir=tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _loop(model, opt, monitor)
        report = monitor.close()
    assert report.steps == STEPS  # on main: 3
    assert not report.healthy
    assert [(i.step, i.component) for i in report.incidents] == [(3, "monitor")]
    # the JSONL's closing line carries the incident too
    last = json.loads((tmp_path / "gradmedic.jsonl").read_text().splitlines()[-1])
    assert last["type"] == "report" and last["steps"] == STEPS and last["incidents"][0]["step"] == 3
    err = capfd.readouterr().err
    assert "Traceback (most recent call last)" in err and "ZeroDivisionError: fault at the fourth" in err
    (warning,) = [w for w in caught if "stopped watching" in str(w.message)]
    assert warning.filename == __file__  # the user's loop, not torch/optim/optimizer.py
    assert "traceback above" in str(warning.message)


# --- 3. a failed watch() leaves nothing behind ------------------------------------------------------
def _unwritable(tmp_path: Path) -> Path:
    if os.geteuid() == 0:  # root writes through file modes: a folder under /proc takes no new file
        return Path("/proc/gradmedic-cannot-write/logs")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    return locked / "logs"


@pytest.mark.parametrize("case", ["file", "int", "unwritable"])
def test_failed_watch_leaves_no_hooks_no_exit_handler_no_files(case: str, tmp_path: Path) -> None:
    model, opt = _setup()
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("x")
    logdir: Any = {"file": a_file, "int": 3, "unwritable": _unwritable(tmp_path)}[case]
    before = (_hooks(model, opt), atexit._ncallbacks(), sorted(tmp_path.rglob("*")))
    for _ in range(3):
        with pytest.raises((TypeError, ValueError), match="logdir"):
            gradmedic.watch(model, opt, logdir=logdir, console=False)
    assert (_hooks(model, opt), atexit._ncallbacks(), sorted(tmp_path.rglob("*"))) == before
    with gradmedic.watch(model, opt, console=False) as monitor:  # the model can still be watched
        _loop(model, opt, monitor, 3)
    assert monitor.report().steps == 3


# --- 4. wrong arguments fail at once, naming the argument and what to pass -------------------------
def _other_optimizer(model: nn.Module, opt: torch.optim.Optimizer) -> dict[str, Any]:
    return {"optimizer": torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1)}


BAD_ARGUMENTS: list[tuple[str, Any, type[Exception], str]] = [
    ("model None", lambda m, o: {"model": None}, TypeError, "model must be a torch.nn.Module"),
    ("optimizer None", lambda m, o: {"optimizer": None}, TypeError, "optimizer"),
    ("config str", lambda m, o: {"config": "x"}, TypeError, "config must be a gradmedic.Config"),
    ("every str", lambda m, o: {"every": "3"}, TypeError, "every must be a whole number"),
    ("every float", lambda m, o: {"every": 1.5}, TypeError, "every must be a whole number"),
    ("every zero", lambda m, o: {"every": 0}, ValueError, "every must be >= 1"),
    ("logdir empty", lambda m, o: {"logdir": ""}, ValueError, "logdir must be a non-empty"),
    ("other model's optimizer", _other_optimizer, ValueError, "updates none of the parameters"),
    ("sinks str", lambda m, o: {"sinks": "console"}, TypeError, "sinks must be"),
    ("console str", lambda m, o: {"console": "no"}, TypeError, "console must be True or False"),
]


@pytest.mark.parametrize(
    ("make", "error", "message"), [b[1:] for b in BAD_ARGUMENTS], ids=[b[0] for b in BAD_ARGUMENTS]
)
def test_wrong_arguments_fail_before_anything_is_attached(
    make: Any, error: type[Exception], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # logdir="" must not write into the current folder
    model, opt = _setup()
    kwargs = {"model": model, "optimizer": opt, "console": False, **make(model, opt)}
    hooks, exits = _hooks(model, opt), atexit._ncallbacks()
    with pytest.raises(error, match=message):
        gradmedic.watch(kwargs.pop("model"), kwargs.pop("optimizer"), **kwargs)
    assert (_hooks(model, opt), atexit._ncallbacks()) == (hooks, exits)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("loss", [None, torch.tensor(1.0 + 2.0j), "0.5", torch.tensor(True)])
def test_a_non_real_loss_is_a_type_error_at_the_call_and_the_monitor_goes_on(loss: Any) -> None:
    model, opt = _setup()
    with gradmedic.watch(model, opt, console=False, every=1) as monitor:
        _loop(model, opt, monitor, 3)
        with pytest.raises(TypeError, match="observe_loss expects"):
            monitor.observe_loss(loss)
        _loop(model, opt, monitor, 3)
    report = monitor.report()
    assert report.steps == 6 and not report.incidents and report.healthy  # on main: switched off


# --- 6. one model, one monitor ------------------------------------------------------------------------
def test_a_second_watch_of_a_watched_model_is_refused_until_the_first_is_closed() -> None:
    model, opt = _setup()
    first = gradmedic.watch(model, opt, console=False)
    hooks = _hooks(model, opt)
    with pytest.raises(RuntimeError, match=r"already watched.*close"):
        gradmedic.watch(model, opt, console=False)
    assert _hooks(model, opt) == hooks
    first.close()
    with gradmedic.watch(model, opt, console=False) as second:
        _loop(model, opt, second, 2)
    assert second.report().steps == 2
