"""The monitor on real (tiny) training loops: naming, traps, bad input and fail-safety."""

from __future__ import annotations

import json
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import gradmedic
from gradmedic.demo import data
from gradmedic.demo.scenarios import FunctionalNet

from .models import fit, relu_mlp


def _watch(model: nn.Module, opt: torch.optim.Optimizer, **kw: object) -> gradmedic.Monitor:
    return gradmedic.watch(model, opt, console=False, **kw)  # type: ignore[arg-type]


# --- bad input gets a clear error ---------------------------------------------------------------------
def test_model_without_parameters_is_refused_with_a_fix() -> None:
    with pytest.raises(ValueError, match="no parameters"):
        gradmedic.watch(nn.ReLU(), torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1))


def test_frozen_model_is_refused() -> None:
    model = nn.Linear(2, 2).requires_grad_(False)
    with pytest.raises(ValueError, match="frozen"):
        gradmedic.watch(model, torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1))


def test_wrong_optimizer_type_says_what_to_pass() -> None:
    model = nn.Linear(2, 2)
    sched = torch.optim.lr_scheduler.StepLR(torch.optim.SGD(model.parameters(), lr=0.1), 1)
    with pytest.raises(TypeError, match="scheduler.optimizer"):
        gradmedic.watch(model, sched)  # type: ignore[arg-type]


def test_bad_every_is_refused() -> None:
    model = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="every must be >= 1"):
        gradmedic.watch(model, torch.optim.SGD(model.parameters(), lr=0.1), every=0)


# --- the report ------------------------------------------------------------------------------------
def test_report_json_has_the_stable_keys() -> None:
    model = relu_mlp()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    with _watch(model, opt) as monitor:
        fit(model, opt, 30, monitor)
    report = monitor.close()  # idempotent
    d = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert set(d) == {"version", "steps", "layers", "diagnoses", "treatments", "incidents"}
    assert d["steps"] == 30
    names = [layer["name"] for layer in d["layers"]]
    assert names == ["0", "2", "4"]  # named as in named_modules(), in depth order
    assert d["layers"][-1]["is_output"] is True
    assert d["layers"][0]["activation"] == "ReLU" and d["layers"][0]["activation_module"] == "1"


def test_diagnosis_dict_has_the_stable_keys() -> None:
    model = relu_mlp()
    with torch.no_grad():
        model[2].bias.fill_(-50.0)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    with _watch(model, opt) as monitor:
        fit(model, opt, 20, monitor)
    (diag,) = [d.to_dict() for d in monitor.report().diagnoses if d.kind == "dead_units"]
    assert {"kind", "severity", "layers", "first_step", "message", "evidence", "remedies"} <= set(diag)
    assert diag["severity"] == "error" and diag["layers"][0] == "2"
    assert all({"name", "summary", "snippet", "rank", "applied"} <= set(r) for r in diag["remedies"])


# --- traps ---------------------------------------------------------------------------------------------
def test_functional_relu_is_read_from_the_next_layer_input() -> None:
    torch.manual_seed(0)
    model = FunctionalNet([64, 64, 64, 10])
    with torch.no_grad():
        model.fcs[1].bias.fill_(-50.0)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    with _watch(model, opt) as monitor:
        fit(model, opt, 20, monitor)
    report = monitor.report()
    dead = next(d for d in report.diagnoses if d.kind == "dead_units")
    assert dead.layers[0] == "fcs.1"
    info = {i.name: i for i in report.layers}
    assert info["fcs.0"].activation == "functional" and info["fcs.0"].units == 64


def test_inplace_relu_and_reused_activation_module() -> None:
    class Reused(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1, self.fc2, self.fc3 = nn.Linear(64, 32), nn.Linear(32, 48), nn.Linear(48, 10)
            self.act = nn.ReLU(inplace=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc3(self.act(self.fc2(self.act(self.fc1(x)))))

    torch.manual_seed(0)
    model = Reused()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    with _watch(model, opt) as monitor:
        fit(model, opt, 40, monitor)
    report = monitor.report()
    info = {i.name: i for i in report.layers}
    assert (info["fc1"].units, info["fc2"].units) == (32, 48)  # one site per producer, not one per module
    assert info["fc1"].activation_module == "act"
    assert report.healthy, report.to_dict()["diagnoses"]


def test_no_grad_evaluation_passes_are_not_counted() -> None:
    torch.manual_seed(0)
    model = relu_mlp()
    opt = torch.optim.Adam(model.parameters(), 1e-3)

    def evaluate(_: int) -> None:
        with torch.no_grad():
            model(torch.full((8, 64), -100.0))  # would kill every unit if it were counted

    with _watch(model, opt, every=1) as monitor:
        fit(model, opt, 40, monitor, between=evaluate)
    assert monitor.report().healthy


def test_input_pixels_that_are_always_zero_are_not_dead_units() -> None:
    torch.manual_seed(0)
    model = relu_mlp()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    x, y = data.digits()
    x = x.clone()
    x[:, :16] = 0.0  # a zero border: data, not activations
    with _watch(model, opt) as monitor:
        for xb, yb in data.batches(x, y, 64, 40):
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
    assert monitor.report().healthy


def test_gradient_accumulation_counts_optimizer_steps() -> None:
    torch.manual_seed(0)
    model = relu_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    x, y = data.digits()
    with _watch(model, opt) as monitor:
        for i, (xb, yb) in enumerate(data.batches(x, y, 32, 60)):
            (F.cross_entropy(model(xb), yb) / 3).backward()
            if i % 3 == 2:
                opt.step()
                opt.zero_grad()
    report = monitor.report()
    assert report.steps == 20 and report.healthy


def test_frozen_shared_and_unused_parameters() -> None:
    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.frozen = nn.Linear(64, 64).requires_grad_(False)
            self.enc = nn.Linear(64, 32)
            self.dec = nn.Linear(32, 64)
            self.dec.weight = nn.Parameter(self.enc.weight.t().detach().clone())
            self.shared = self.enc  # the same module twice in named_modules()
            self.unused = nn.Linear(5, 5)
            self.head = nn.Linear(64, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(torch.relu(self.dec(torch.relu(self.enc(torch.relu(self.frozen(x)))))))

    torch.manual_seed(0)
    model = Tied()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], 1e-3)
    with _watch(model, opt) as monitor:
        fit(model, opt, 30, monitor)
    report = monitor.report()
    info = {i.name: i for i in report.layers}
    assert "unused" in info and "enc" in info
    # the frozen layer has no gradient statistics, but its activated output is its own
    assert info["frozen"].num_params == 0 and not info["frozen"].has_weights and info["frozen"].units == 64
    assert report.healthy, report.to_dict()["diagnoses"]


def test_several_optimizers_use_the_first_as_the_clock() -> None:
    torch.manual_seed(0)
    model = relu_mlp()
    opt_a = torch.optim.Adam(model[0].parameters(), 1e-3)
    opt_b = torch.optim.SGD([p for m in list(model)[1:] for p in m.parameters()], lr=0.05)
    x, y = data.digits()
    with gradmedic.watch(model, [opt_a, opt_b], console=False) as monitor:
        for xb, yb in data.batches(x, y, 64, 25):
            opt_a.zero_grad()
            opt_b.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            opt_a.step()
            opt_b.step()
    assert monitor.step == 25 and monitor.report().healthy


def _nan_input_at_step_27(hand_over_loss: bool) -> gradmedic.Monitor:
    """40 steps on digits; step 27 (not a sampled step) gets a NaN pixel."""
    torch.manual_seed(0)
    model = relu_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = data.digits()
    with _watch(model, opt) as monitor:
        for i, (xb, yb) in enumerate(data.batches(x, y, 64, 40)):
            opt.zero_grad()
            if i == 27:
                xb = xb.clone()
                xb[0, 0] = float("nan")
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            if hand_over_loss:
                monitor.observe_loss(loss)
    return monitor


def test_nan_loss_is_diagnosed_non_finite_without_crashing() -> None:
    monitor = _nan_input_at_step_27(hand_over_loss=True)
    nonfinite = next(d for d in monitor.report().diagnoses if d.kind == "non_finite")
    assert nonfinite.severity == "error"
    assert nonfinite.first_step == 27
    assert "weights" in nonfinite.evidence["in"] or "loss" in nonfinite.evidence["in"]


def test_nan_without_a_loss_is_dated_by_the_output_check() -> None:
    monitor = _nan_input_at_step_27(hand_over_loss=False)  # only the every-step output sum sees step 27
    nonfinite = next(d for d in monitor.report().diagnoses if d.kind == "non_finite")
    assert nonfinite.first_step == 27


def test_nan_float_loss_is_accepted() -> None:
    model = relu_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with _watch(model, opt) as monitor:
        fit(model, opt, 5, None)
        monitor.observe_loss(float("nan"))
    assert "non_finite" in monitor.report().kinds()


def test_gradscaler_skipped_steps_are_not_explosions() -> None:
    torch.manual_seed(0)
    model = relu_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    x, y = data.digits()
    with _watch(model, opt, every=1) as monitor:
        for i, (xb, yb) in enumerate(data.batches(x, y, 64, 40)):
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            if i in (5, 17):
                loss = loss * float("inf")  # an overflow the scaler must skip
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
    report = monitor.report()
    assert report.steps == 38  # two skipped steps never reached the optimizer
    assert report.healthy, report.to_dict()["diagnoses"]


# --- fail-safety -----------------------------------------------------------------------------------
def test_internal_error_switches_the_monitor_off_not_the_training(monkeypatch: pytest.MonkeyPatch) -> None:
    model = relu_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    monitor = _watch(model, opt)

    def boom(*args: object) -> None:
        raise RuntimeError("probe exploded")

    monkeypatch.setattr(monitor._grad, "before_step", boom)
    with pytest.warns(RuntimeWarning, match="stopped watching"):
        fit(model, opt, 5, monitor)
    monitor.close()


def test_failing_sink_is_dropped_with_one_warning() -> None:
    class Broken:
        def write_step(self, *a: object) -> None:
            raise OSError("disk full")

        def write_diagnosis(self, *a: object) -> None: ...
        def close(self, *a: object) -> None: ...

    model = relu_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with _watch(model, opt, sinks=[Broken()]) as monitor:
            fit(model, opt, 30, monitor)
    messages = [str(w.message) for w in caught if "switched off" in str(w.message)]
    assert len(messages) == 1 and "disk full" in messages[0]
    assert monitor.step == 30


def test_hooks_are_removed_on_close() -> None:
    model = relu_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    with _watch(model, opt):
        fit(model, opt, 3)
    assert not model._forward_hooks and not model._forward_pre_hooks
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    assert not opt._optimizer_step_pre_hooks and not opt._optimizer_step_post_hooks


def test_masked_output_with_minus_inf_is_not_non_finite() -> None:
    class Masked(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = relu_mlp()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            logits = self.net(x)
            mask = torch.zeros_like(logits)
            mask[:, -1] = float("-inf")  # a class that can never be predicted, masked as usual
            return logits + mask

    torch.manual_seed(0)
    model = Masked()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    x, y = data.digits()
    keep = y < 9
    with _watch(model, opt) as monitor:
        for xb, yb in data.batches(x[keep], y[keep], 64, 30):
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            monitor.observe_loss(loss)
    assert monitor.report().healthy, monitor.report().to_dict()["diagnoses"]


def test_non_scalar_loss_is_refused_with_a_fix() -> None:
    model = relu_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with _watch(model, opt) as monitor, pytest.raises(ValueError, match=r"loss\.mean\(\)"):
        monitor.observe_loss(torch.ones(4))
