"""Gradients that explode through time: a ReLU RNN whose recurrent matrix has spectral radius 1.05 over 300 steps.

Untreated, it is diagnosed as exploding through the recurrent weight (not as a learning-rate problem), with
the recurrent remedy first; treated, it trains to near its healthy twin (radius 0.9); the checkup flags it
before training. A run whose every step is dropped is escalated, and marked stuck when nothing helps.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

import gradmedic
from gradmedic.demo import data
from gradmedic.demo.scenarios import SCENARIOS, ReluRNN, train
from gradmedic.probe.recurrent_weights import RecurrenceProbe, spectral_radius

PROBLEM = SCENARIOS["relu_rnn_radius_above_one"]
TWIN = SCENARIOS[PROBLEM.twin]


def test_spectral_radius_by_power_iteration_matches_the_eigenvalues() -> None:
    torch.manual_seed(0)
    w = 1.05 * torch.eye(32) + 0.01 * torch.randn(32, 32) / 32**0.5
    exact = float(torch.linalg.eigvals(w).abs().max())
    radius, _ = spectral_radius(w, None, 30)
    assert float(radius) == pytest.approx(exact, rel=0.02)


def test_the_probe_finds_the_recurrent_weight_and_the_sequence_length() -> None:
    torch.manual_seed(0)
    model = ReluRNN(1.05)
    probe = RecurrenceProbe(model)
    model(torch.randn(2, 50, 1))
    found = probe.measure()
    probe.remove()
    assert set(found) == {"rnn.weight_hh_l0"}
    assert found["rnn.weight_hh_l0"].steps == 50 and 1.0 < found["rnn.weight_hh_l0"].radius < 1.1


def test_a_hand_written_cell_is_recurrent_once_it_is_fed_back() -> None:
    class Cell(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inp, self.hh, self.out = nn.Linear(1, 8), nn.Linear(8, 8), nn.Linear(8, 8)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = torch.zeros(x.shape[0], 8)
            for t in range(x.shape[1]):
                h = torch.relu(self.inp(x[:, t]) + self.hh(h))  # [B, 8]
            return self.out(h)  # square too, but called once: not recurrent

    model = Cell()
    probe = RecurrenceProbe(model)
    model(torch.randn(2, 30, 1))
    found = probe.measure()
    probe.remove()
    assert set(found) == {"hh.weight"} and found["hh.weight"].steps == 30


def test_untreated_it_is_diagnosed_exploding_through_time_with_the_recurrent_remedy_first() -> None:
    short = dataclasses.replace(PROBLEM, steps=4)
    result, report = train(short, watch=gradmedic.watch, console=False)
    assert not math.isfinite(result.final_loss) or result.final_loss > 1e6
    blown = next(d for d in report.diagnoses if d.kind == "exploding_gradients")
    assert blown.severity == "error" and blown.first_step == 0 and blown.layers == ("rnn",)
    cause = blown.evidence["through_time"]["rnn.weight_hh_l0"]
    assert cause["radius"] > 1.0 and cause["steps"] == 300
    assert blown.remedies[0].name == "rescale_recurrent"
    assert "lower_lr" not in {r.name for r in blown.remedies}  # the overflow came before any step
    assert "learning rate is not the cause" in blown.message
    broken = next(d for d in report.diagnoses if d.kind == "non_finite")
    assert broken.evidence["explained_by"] == "exploding_gradients"
    assert broken.remedies[0].name != "lower_lr"
    assert report.diagnoses[0] is blown  # the cause before what it explains


@pytest.mark.slow  # about 15 s: the treated run and its twin, 60 steps over 300-step sequences
def test_treated_it_trains_near_its_healthy_twin_and_the_report_keeps_every_diagnosis() -> None:
    treated, report = train(PROBLEM, watch=gradmedic.watch, console=False, treat=True)
    twin, _ = train(TWIN)
    assert math.isfinite(treated.final_loss) and treated.final_loss <= 1.6 * twin.final_loss, (
        treated,
        twin,
        report.to_dict()["treatments"],
    )
    assert report.treatments[0].remedy in ("skip_nonfinite_step", "rescale_recurrent")
    rescale = next(t for t in report.treatments if t.remedy == "rescale_recurrent")
    assert rescale.outcome == "worked" and rescale.step <= 3
    dropped = next(t for t in report.treatments if t.remedy == "skip_nonfinite_step")
    assert dropped.after["steps_dropped"] >= 1 and "stuck" not in dropped.outcome
    outcomes = {d.kind: d.outcome for d in report.diagnoses if d.severity != "info"}
    assert outcomes["exploding_gradients"].startswith(f"cured at step {rescale.step} (")
    assert outcomes["non_finite"].startswith("cured at step")
    assert report.to_dict()["diagnoses"][0]["outcome"].startswith("cured")


def test_the_checkup_flags_it_before_training_and_passes_the_twin() -> None:
    x, y = data.sequences(n=64, length=300)
    torch.manual_seed(0)
    report = gradmedic.checkup(ReluRNN(1.05), x, y)
    assert "exploding_gradients" in report.kinds(at_least="warning")
    d = next(d for d in report.diagnoses if d.kind == "exploding_gradients")
    cause = d.evidence["through_time"]["rnn.weight_hh_l0"]
    assert cause["steps"] == 300 and cause["radius"] > 1.0 and cause["hidden_growth"] > 1.0
    assert d.remedies[0].name == "rescale_recurrent"
    torch.manual_seed(0)
    assert "exploding_gradients" not in gradmedic.checkup(ReluRNN(0.9), x, y).kinds(at_least="warning")


def test_a_run_whose_every_step_is_dropped_is_escalated_then_marked_stuck(tmp_path: Path) -> None:
    from rich.console import Console

    from gradmedic.report.build import build_report
    from gradmedic.sinks.console import ConsoleSink

    shown = io.StringIO()
    console = ConsoleSink(Console(file=shown, width=250, highlight=False))
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(16, 4)
    x[0, 0] = float("nan")  # bad data: every gradient is NaN, whatever the weights
    with gradmedic.watch(model, opt, console=False, treat=True, logdir=tmp_path, sinks=[console]) as monitor:
        for _ in range(15):
            opt.zero_grad()
            loss = model(x).pow(2).mean()
            loss.backward()
            opt.step()
            monitor.observe_loss(loss)
    report = monitor.report()
    assert all(torch.isfinite(p).all() for p in model.parameters())  # no NaN reached the weights
    dropped = next(t for t in report.treatments if t.remedy == "skip_nonfinite_step")
    assert dropped.after["steps_dropped"] == 15 and dropped.outcome.startswith("stuck")
    cures = [t for t in report.treatments if t.remedy != "skip_nonfinite_step"]
    assert cures and all(t.step <= 8 for t in cures)  # escalated within a few steps, not left waiting
    broken = next(d for d in report.diagnoses if d.kind == "non_finite")
    assert broken.outcome.startswith("not cured: stuck")
    table = shown.getvalue().split("steps watched")[-1]
    assert "non_finite" in table and "not cured: stuck" in table
    page = build_report(tmp_path).read_text()
    assert 'class="diagnosis-outcome">Outcome: <b>not cured: stuck' in page


RNN_SCRIPT = """
import torch
import torch.nn.functional as F
from torch import nn

torch.manual_seed(0)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(1, 32, nonlinearity="relu", batch_first=True)
        self.head = nn.Linear(32, 1)
        with torch.no_grad():
            self.rnn.weight_hh_l0.copy_(1.05 * torch.eye(32) + 0.01 * torch.randn(32, 32) / 32**0.5)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


model = Net()
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
x = torch.randn(32, 300, 1)
y = x[:, -3:, 0].sum(1, keepdim=True)
for step in range(3):
    optimizer.zero_grad()
    F.mse_loss(model(x), y).backward()
    optimizer.step()
"""


def test_gradmedic_check_flags_the_script_before_its_first_step(tmp_path: Path) -> None:
    from gradmedic.check_script import CheckOptions, check

    script = tmp_path / "train_rnn.py"
    script.write_text(RNN_SCRIPT)
    out = tmp_path / "checkup.json"
    code = check(str(script), [], CheckOptions(json_path=str(out), quiet=True))
    report = json.loads(out.read_text())
    assert code == 1
    blown = next(d for d in report["diagnoses"] if d["kind"] == "exploding_gradients")
    assert blown["evidence"]["through_time"]["rnn.weight_hh_l0"]["steps"] == 300
    assert blown["remedies"][0]["name"] == "rescale_recurrent"


def test_plain_square_layers_stop_being_watched_after_a_few_passes() -> None:
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 8))
    probe = RecurrenceProbe(model)
    assert not probe.empty
    for _ in range(3):
        model(torch.randn(2, 8))
    assert probe.empty and probe.measure() == {}
    assert not any(m._forward_hooks for m in model.modules() if isinstance(m, nn.Linear))
    assert not model._forward_pre_hooks  # nothing left to count per pass: the root's hook is gone too
    probe.remove()


def test_a_fed_back_cell_keeps_the_pass_counter() -> None:
    cell = nn.Linear(8, 8)

    class Unrolled(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.cell = cell

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            for _ in range(4):
                x = torch.tanh(self.cell(x))
            return x

    model = Unrolled()
    probe = RecurrenceProbe(model)
    for _ in range(5):
        model(torch.randn(2, 8))
    assert model._forward_pre_hooks and probe.measure()["cell.weight"].steps == 4
    probe.remove()
    assert not model._forward_pre_hooks and not cell._forward_hooks


def test_a_failing_probe_hook_never_breaks_the_forward_pass() -> None:
    class Broken(dict):  # type: ignore[type-arg]
        def get(self, *args: object) -> int:
            raise RuntimeError("boom")

    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 8))
    probe = RecurrenceProbe(model)
    probe._calls = Broken()
    with pytest.warns(RuntimeWarning, match="stopped measuring recurrent weights"):
        out = model(torch.randn(2, 8))
    assert out.shape == (2, 8) and probe.empty and probe.measure() == {}
    model(torch.randn(2, 8))  # the hooks are gone
