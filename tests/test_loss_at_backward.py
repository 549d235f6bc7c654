"""watch() reads the loss where the script calls backward() on it, when the script does not hand it over.

Real torch loops: the losses the monitor filed are compared with the ones the script computed, step by
step; ``observe_loss`` always wins, and no step is filed twice.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import gradmedic
from benchmarks.false_alarms import watch_run
from gradmedic.monitor import Monitor
from gradmedic.probe import backward_taps


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(256, 20, generator=g)
    return x, (x[:, 0] > 0).long()


def _mlp() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2))


def filed_losses(monitor: Monitor) -> dict[int, float]:
    """Every loss the monitor's records hold, by step (after close)."""
    found: dict[int, float] = {}
    for stats in monitor._pipeline.history:
        found.update(stats.losses)
        if stats.loss is not None:
            found[stats.step] = stats.loss
    return found


def count_filings(monitor: Monitor) -> list[int]:
    """The step of every loss filed from now on (observe_loss and the loss read at backward() alike)."""
    steps: list[int] = []
    file_loss = monitor._file_loss

    def counted(loss: Any, step: int) -> None:
        steps.append(step)
        file_loss(loss, step)

    monitor._file_loss = counted  # type: ignore[method-assign]
    return steps


def test_a_loop_that_hands_no_loss_over_gets_loss_divergence_and_logs_its_losses(tmp_path: Path) -> None:
    model, (x, y) = _mlp(), _data()
    optimizer = torch.optim.Adam(model.parameters(), lr=1.0)
    losses = []
    with gradmedic.watch(model, optimizer, console=False, logdir=tmp_path) as monitor:
        for _ in range(30):
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    report = monitor.report()
    assert "loss_divergence" in report.kinds(at_least="warning"), report.diagnoses
    logged = {
        line["step"]: line["loss"]
        for line in map(json.loads, (tmp_path / "gradmedic.jsonl").read_text().splitlines())
        if line.get("type") == "step"
    }
    assert sorted(logged) == list(range(21)) and all(v is not None for v in logged.values())
    assert logged == pytest.approx({step: losses[step] for step in logged}, rel=1e-6)
    assert filed_losses(monitor) == pytest.approx(dict(enumerate(losses)), rel=1e-6)


@pytest.mark.parametrize("where", ["before_backward", "after_backward", "after_step"])
@pytest.mark.parametrize("every", [None, 1])
def test_observe_loss_wins_and_each_step_is_filed_once(where: str, every: int | None) -> None:
    model, (x, y) = _mlp(), _data()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    monitor = gradmedic.watch(model, optimizer, console=False, every=every)
    filings = count_filings(monitor)
    for step in range(25):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        handed = 100.0 + step  # not the loss backward() sees: the filed value tells whose it is
        if where == "before_backward":
            monitor.observe_loss(handed)
        loss.backward()
        if where == "after_backward":
            monitor.observe_loss(handed)
        optimizer.step()
        if where == "after_step":
            monitor.observe_loss(handed)
    monitor.close()
    assert filings == list(range(25))
    assert filed_losses(monitor) == {step: 100.0 + step for step in range(25)}


def test_losses_handed_over_now_and_then_leave_the_other_steps_to_backward() -> None:
    model, (x, y) = _mlp(), _data()
    monitor = gradmedic.watch(model, console=False)  # hand-updated: each backward pass is a step
    filings = count_filings(monitor)
    losses = []
    for step in range(30):
        model.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        if step % 10 == 0:
            monitor.observe_loss(-1.0)
        with torch.no_grad():
            for p in model.parameters():
                p -= 0.05 * p.grad
        losses.append(loss.item())
    monitor.close()
    assert sorted(filings) == sorted(set(filings))
    filed = filed_losses(monitor)
    assert all(filed[step] == -1.0 for step in (0, 10, 20))
    # after a step the script handed over itself, gradmedic leaves reading to it for one step
    read = {step: v for step, v in filed.items() if step % 10}
    assert len(read) >= 24 and read == pytest.approx({step: losses[step] for step in read}, rel=1e-6)


def test_two_monitors_get_only_the_losses_of_their_own_steps() -> None:
    """A GAN: the generator's loss goes back through the discriminator too, after the discriminator stepped."""
    torch.manual_seed(0)
    generator = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 8))
    discriminator = nn.Sequential(nn.Linear(8, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))
    opt_g = torch.optim.Adam(generator.parameters(), lr=1e-3)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=1e-3)
    real = torch.randn(64, 8) + 2.0
    ones, zeros = torch.ones(64, 1), torch.zeros(64, 1)
    watch_g = gradmedic.watch(generator, opt_g, console=False)
    watch_d = gradmedic.watch(discriminator, opt_d, console=False)
    d_losses, g_losses = [], []
    for _ in range(25):
        fake = generator(torch.randn(64, 4))
        opt_d.zero_grad()
        err_d = F.binary_cross_entropy_with_logits(discriminator(real), ones) + F.binary_cross_entropy_with_logits(
            discriminator(fake.detach()), zeros
        )
        err_d.backward()
        opt_d.step()
        opt_g.zero_grad()
        err_g = F.binary_cross_entropy_with_logits(discriminator(fake), ones)
        err_g.backward()
        opt_g.step()
        d_losses.append(err_d.item())
        g_losses.append(err_g.item())
    watch_g.close()
    watch_d.close()
    assert filed_losses(watch_d) == pytest.approx(dict(enumerate(d_losses)), rel=1e-6)
    assert filed_losses(watch_g) == pytest.approx(dict(enumerate(g_losses)), rel=1e-6)
    assert backward_taps.listening() == 0


def test_a_backward_that_reaches_no_watched_model_files_nothing() -> None:
    watched, other, (x, y) = _mlp(), _mlp(), _data()
    original = torch.autograd.backward
    with gradmedic.watch(watched, torch.optim.SGD(watched.parameters(), lr=0.01), console=False) as monitor:
        assert torch.autograd.backward is not original
        for _ in range(5):
            F.cross_entropy(other(x), y).backward()  # the watched model is never called
    assert torch.autograd.backward is original
    assert filed_losses(monitor) == {}


def _second_order(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor | None]:
    """retain_graph, create_graph and inputs= on one batch; the gradients they leave."""
    model.zero_grad()
    loss = F.cross_entropy(model(x), y)
    assert loss.backward(retain_graph=True, create_graph=True) is None
    penalty = sum((p.grad**2).sum() for p in model.parameters() if p.grad is not None)
    model.zero_grad()
    assert torch.autograd.backward(penalty, inputs=[model[0].weight], retain_graph=True) is None
    grads = [None if p.grad is None else p.grad.detach().clone() for p in model.parameters()]
    loss.backward()  # the retained graph, once more
    with pytest.raises(RuntimeError) as raised:
        loss.backward()  # freed by now: torch's own error, unchanged
    grads.append(torch.tensor(len(str(raised.value))))
    return grads


def test_backward_arguments_results_and_errors_pass_through_unchanged() -> None:
    x, y = _data()
    plain = _second_order(_mlp(), x, y)
    model = _mlp()
    with gradmedic.watch(model, console=False) as monitor:
        watched = _second_order(model, x, y)
    assert not monitor.report().incidents
    assert [g is None for g in watched] == [g is None for g in plain]
    for a, b in zip(watched, plain):
        if a is not None and b is not None:
            torch.testing.assert_close(a, b)


def test_a_gradscaler_loss_is_read_unscaled() -> None:
    model, (x, y) = _mlp(), _data()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**16)
    losses = []
    with gradmedic.watch(model, optimizer, console=False) as monitor:
        for _ in range(10):
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            losses.append(loss.item())
    assert filed_losses(monitor) == pytest.approx(dict(enumerate(losses)), rel=1e-6)


def test_a_fault_in_the_loss_reading_is_an_incident_and_training_goes_on() -> None:
    model, (x, y) = _mlp(), _data()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    config = gradmedic.Config(warmup_steps=1, every=1000)  # unsampled steps: the loss goes to the sentinel
    monitor = gradmedic.watch(model, optimizer, console=False, config=config)

    def broken(loss: Any, step: int) -> None:
        raise RuntimeError("injected")

    monitor._sentinel.record_loss = broken  # type: ignore[method-assign]
    with pytest.warns(RuntimeWarning, match="gradmedic stopped watching"):
        for _ in range(5):
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
    report = monitor.close()
    assert report.steps == 5 and not report.healthy
    assert any("injected" in incident.error for incident in report.incidents)
    assert backward_taps.listening() == 0


# --- pytorch/examples regression/main.py as a loop under watch(model), no observe_loss ------------------------
# seeds 6, 12, 15 and 17 raised update_ratio here before the loss was read at backward(); 69 and 161 under
# gradmedic run (tests/detectors/test_update_ratio.py, benchmarks/false_alarms.py)
@pytest.mark.parametrize("seed", [6, 12, 15, 17, 69, 161])
def test_the_regression_example_under_watch_without_observe_loss_raises_nothing(seed: int) -> None:
    report = watch_run(seed)
    assert report.kinds(at_least="warning") == set(), report.diagnoses
    assert report.steps > 10


SCRIPT_WATCHING_ITSELF = """
import json, sys
import torch
import torch.nn.functional as F
from torch import nn
import gradmedic

torch.manual_seed(0)
x = torch.randn(128, 8)
y = (x[:, 0] > 0).long()
model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
losses = []
with gradmedic.watch(model, optimizer, console=False) as monitor:
    for _ in range(25):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
filed = {}
for stats in monitor._pipeline.history:
    filed.update(stats.losses)
    if stats.loss is not None:
        filed[stats.step] = stats.loss
json.dump({"losses": losses, "filed": filed}, open(sys.argv[1], "w"))
"""


def test_a_script_watching_its_own_model_under_gradmedic_run_reads_each_loss_once(tmp_path: Path) -> None:
    from gradmedic.run import RunOptions, run

    script, out = tmp_path / "train.py", tmp_path / "out.json"
    script.write_text(SCRIPT_WATCHING_ITSELF)
    original = torch.autograd.backward
    assert run(str(script), [str(out)], RunOptions(quiet=True, json_path=str(tmp_path / "report.json"))) == 0
    assert torch.autograd.backward is original and backward_taps.listening() == 0
    result = json.loads(out.read_text())
    filed = {int(step): value for step, value in result["filed"].items()}
    assert filed == pytest.approx(dict(enumerate(result["losses"])), rel=1e-6)
    assert json.loads((tmp_path / "report.json").read_text())["steps"] == 0  # the runner added no monitor


class _HandsNothing:
    """A monitor as a loop sees it that never calls observe_loss."""

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor

    def observe_loss(self, loss: Any) -> None:
        pass

    def close(self) -> gradmedic.Report:
        return self.monitor.close()


@pytest.mark.parametrize(("name", "treat"), [("relu_huge_lr", True), ("deep_sigmoid", False)])
def test_a_demo_loop_handing_no_loss_over_gets_the_report_of_one_that_does(name: str, treat: bool) -> None:
    from gradmedic.demo.scenarios import SCENARIOS, train

    def silent(*args: Any, **kwargs: Any) -> _HandsNothing:
        return _HandsNothing(gradmedic.watch(*args, **kwargs))

    handing, handed = train(SCENARIOS[name], watch=gradmedic.watch, console=False, treat=treat)
    reading, read = train(SCENARIOS[name], watch=silent, console=False, treat=treat)
    assert handed is not None and read is not None and handed.diagnoses
    assert read.to_dict() == handed.to_dict() and reading == handing
