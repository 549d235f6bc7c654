"""Recurrent activations are measured where they are computed: hand-written cells and built-in layers."""

from __future__ import annotations

from typing import Callable

import pytest
import torch
from torch import nn

import gradmedic
from gradmedic.config import Config
from gradmedic.probe.recurrent import recurrent_kind, recurrent_output

from ..recurrent_models import HIDDEN, INPUTS, BuiltIn, GRUCell, TanhCell, Unrolled, scale_weights, sequences, train
from ..step_recorder import StepRecorder

STEPS = 25


def _watched(make: Callable[[], nn.Module]) -> tuple[gradmedic.Report, StepRecorder]:
    torch.manual_seed(0)
    model = make()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    recorder = StepRecorder()
    with gradmedic.watch(model, opt, console=False, sinks=[recorder]) as monitor:
        train(model, opt, STEPS, monitor)
    return monitor.report(), recorder


def _kinds(report: gradmedic.Report) -> dict[str, tuple[str, ...]]:
    return {d.kind: d.layers for d in report.diagnoses if d.severity != "info"}


def test_saturated_tanh_cell_is_found_at_the_cells_layer() -> None:
    report, recorder = _watched(lambda: scale_weights(Unrolled(TanhCell()), 3.0))
    assert "cell.xh_to_h" in _kinds(report)["saturated_units"]
    info = {i.name: i for i in report.layers}["cell.xh_to_h"]
    assert info.activation == "functional" and info.units == HIDDEN


def test_saturated_fraction_counts_every_time_step_of_the_cell_output() -> None:
    torch.manual_seed(0)
    model = scale_weights(Unrolled(TanhCell()), 3.0)
    outputs: list[torch.Tensor] = []
    model.cell.register_forward_hook(lambda m, a, out: outputs.append(out.detach().clone()))
    x, _ = sequences(0)
    with torch.no_grad():
        model(x)  # an independent look at the first step's 30 hidden states, with the same weights
    margin = Config().saturation_margin
    expected = float((torch.cat(outputs).abs() > 1 - 2 * margin).float().mean())
    assert len(outputs) == x.shape[1] and expected > 0.5

    opt = torch.optim.SGD(model.parameters(), lr=0.0)  # the weights stay as they were looked at
    recorder = StepRecorder()
    with gradmedic.watch(model, opt, console=False, sinks=[recorder]):
        train(model, opt, 1)
    assert recorder.steps[0].step == 0
    assert recorder.saturated("cell.xh_to_h") == pytest.approx(expected, abs=1e-6)


@pytest.mark.slow
def test_saturated_gru_cell_gates_are_found() -> None:
    report, recorder = _watched(lambda: scale_weights(Unrolled(GRUCell()), 3.0))
    saturated = _kinds(report)["saturated_units"]
    assert {"cell.xh_to_r", "cell.xh_to_z", "cell.xh_to_hbar"} <= set(saturated)
    last = recorder.steps[-1].layers
    assert last["cell.xh_to_r"].activation is not None and last["cell.xh_to_r"].activation.kind == "sigmoid"
    assert last["cell.xh_to_hbar"].activation is not None and last["cell.xh_to_hbar"].activation.kind == "tanh"


@pytest.mark.slow
@pytest.mark.parametrize("cell", [TanhCell, GRUCell])
def test_healthy_recurrent_cell_stays_quiet(cell: Callable[[], nn.Module]) -> None:
    report, recorder = _watched(lambda: Unrolled(cell()))
    assert _kinds(report) == {}
    assert all(recorder.saturated(name) is not None for name in recorder.steps[-1].layers if name.startswith("cell."))


def test_relu_rnn_with_a_negative_bias_has_dead_units() -> None:
    def dead() -> nn.Module:
        return scale_weights(BuiltIn(nn.RNN(INPUTS, HIDDEN, nonlinearity="relu", batch_first=True)), 0.1, -3.0)

    report, _ = _watched(dead)
    assert _kinds(report)["dead_units"] == ("rnn",)


def test_healthy_relu_rnn_has_no_dead_units() -> None:
    report, recorder = _watched(lambda: BuiltIn(nn.RNN(INPUTS, HIDDEN, nonlinearity="relu", batch_first=True)))
    assert _kinds(report) == {}
    act = recorder.steps[-1].layers["rnn"].activation
    assert act is not None and act.kind == "relu" and act.zero_fraction > 0.1  # measured, and sparse as relu is


def test_lstm_whose_cell_state_runs_away_is_saturated() -> None:
    # small weights, a large bias: every gate open, the cell state grows each step, tanh(c) pins at one
    report, _ = _watched(lambda: scale_weights(BuiltIn(nn.LSTM(INPUTS, HIDDEN, batch_first=True)), 0.3, 5.0))
    assert _kinds(report)["saturated_units"] == ("rnn",)


@pytest.mark.parametrize(
    "make", [lambda: nn.LSTM(INPUTS, HIDDEN, batch_first=True), lambda: nn.GRU(INPUTS, HIDDEN, num_layers=2)]
)
@pytest.mark.slow
def test_healthy_lstm_and_gru_stay_quiet(make: Callable[[], nn.RNNBase]) -> None:
    report, recorder = _watched(lambda: BuiltIn(make()))
    assert _kinds(report) == {}
    assert recorder.saturated("rnn") is not None


@pytest.mark.parametrize(
    "module, kind",
    [
        (nn.RNN(4, 8), "tanh"),
        (nn.RNN(4, 8, nonlinearity="relu"), "relu"),
        (nn.RNNCell(4, 8, nonlinearity="relu"), "relu"),
        (nn.LSTM(4, 8), "tanh"),
        (nn.LSTMCell(4, 8), "tanh"),
        (nn.GRU(4, 8, bidirectional=True), "tanh"),
        (nn.GRUCell(4, 8), "tanh"),
        (nn.LSTM(4, 8, proj_size=4), None),  # its output is a linear projection, not bounded by one
        (nn.Linear(4, 8), None),
    ],
)
def test_recurrent_output_kind(module: nn.Module, kind: str | None) -> None:
    assert recurrent_kind(module) == kind


def test_recurrent_output_is_the_hidden_sequence() -> None:
    x = torch.randn(5, 3, 4)
    lstm = nn.LSTM(4, 8)
    out, (h, c) = lstm(x)
    assert recurrent_output((out, (h, c))) is out
    packed = nn.utils.rnn.pack_padded_sequence(x, [5, 4, 2])
    packed_out, _ = lstm(packed)
    seq = recurrent_output((packed_out, (h, c)))
    assert seq is not None and seq.shape == (11, 8)
    h1, c1 = nn.LSTMCell(4, 8)(x[0])
    assert recurrent_output((h1, c1)) is h1
