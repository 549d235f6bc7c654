"""torch.compile: a watched compiled model compiles no more often than the same model unwatched, breaks no
graph, has its activations measured (its sampled steps run eagerly), and is diagnosed like an eager one.

Compiles are counted with ``torch._dynamo``'s own counters. Most tests use the ``aot_eager`` backend:
dynamo and AOTAutograd exactly as under inductor (the same graphs, guards and breaks), without the code
generation that takes a minute per graph on two shared CPU cores. One slow test uses inductor.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import torch
import torch._dynamo
import torch.nn.functional as F
from torch import nn
from torch._dynamo.utils import counters

import gradmedic
from gradmedic.demo import data
from gradmedic.demo.scenarios import SCENARIOS
from gradmedic.probe import eager_steps
from tests.models import relu_mlp
from tests.step_recorder import StepRecorder

BACKEND = "aot_eager"


@pytest.fixture(autouse=True)
def fresh_dynamo() -> Iterator[None]:
    """Each test compiles from scratch and counts its own compiles."""
    torch._dynamo.reset()
    counters.clear()
    yield
    torch._dynamo.reset()
    counters.clear()


def compiles() -> dict[str, int]:
    """Frames dynamo compiled, graphs it made, and graph breaks, so far."""
    return {
        "frames": counters["frames"]["total"],
        "graphs": counters["stats"]["unique_graphs"],
        "breaks": sum(counters["graph_break"].values()),
    }


def stance() -> str:
    return str(torch._dynamo.eval_frame._stance.stance)


class FunctionalNet(nn.Module):
    """A user's own module with functional activations (dynamo traces its forward, not its hooks)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(64, 32), nn.Linear(32, 32), nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


MODELS: dict[str, Callable[[], nn.Module]] = {
    "sequential": lambda: relu_mlp((64, 32, 32, 10)),
    "custom": FunctionalNet,
}


def train(
    run: Callable[[torch.Tensor], torch.Tensor],
    opt: torch.optim.Optimizer,
    steps: int,
    monitor: Any = None,
    *,
    loss_before_step: bool = False,
    losses: list[float] | None = None,
) -> None:
    x, y = data.digits()
    for xb, yb in data.batches(x, y, 64, steps):
        opt.zero_grad()
        loss = F.cross_entropy(run(xb), yb)
        loss.backward()
        if monitor is not None and loss_before_step:
            monitor.observe_loss(loss)
        opt.step()
        if monitor is not None and not loss_before_step:
            monitor.observe_loss(loss)
        if losses is not None:
            losses.append(loss.item())


def plain_compiles(build: Callable[[], nn.Module], steps: int) -> dict[str, int]:
    """What the same model compiles when nobody watches it (then dynamo is reset for the watched run)."""
    torch.manual_seed(0)
    model = build()
    train(torch.compile(model, backend=BACKEND), torch.optim.Adam(model.parameters(), 1e-3), steps)
    counts = compiles()
    torch._dynamo.reset()
    counters.clear()
    return counts


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(MODELS))
def test_a_compiled_model_watched_compiles_as_often_as_unwatched_and_is_measured(kind: str) -> None:
    plain = plain_compiles(MODELS[kind], 30)
    assert plain["graphs"] >= 1 and plain["breaks"] == 0

    torch.manual_seed(0)
    model = MODELS[kind]()
    compiled = torch.compile(model, backend=BACKEND)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    with gradmedic.watch(compiled, opt, console=False) as monitor:
        train(compiled, opt, 30, monitor)  # the dense first 20 steps ran eagerly; 20-29 compiled
        warm = compiles()
        train(compiled, opt, 30, monitor)
        assert compiles() == warm  # no recompile, whatever the sampled steps armed and removed
        assert monitor.compiled and stance() == "force_eager"  # step 60 is sampled: it would run eagerly
    report = monitor.close()
    assert stance() == "default"
    assert warm == plain  # the same graphs, and no graph break of ours
    assert report.steps == 60 and not report.incidents
    hidden = [layer for layer in report.layers if not layer.is_output]
    assert [layer.units for layer in hidden] == [32, 32]  # measured on the eager sampled steps
    assert all(layer.activation for layer in hidden)
    assert report.healthy


@pytest.mark.slow
def test_a_model_compiled_in_place_is_watched_without_recompiles() -> None:
    plain_model = FunctionalNet()
    plain_model.compile(backend=BACKEND)
    train(plain_model, torch.optim.Adam(plain_model.parameters(), 1e-3), 30)
    plain = compiles()
    torch._dynamo.reset()
    counters.clear()

    torch.manual_seed(0)
    model = FunctionalNet()
    model.compile(backend=BACKEND)  # its whole __call__ is compiled, hooks included
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    recorder = StepRecorder()
    losses: list[float] = []
    with gradmedic.watch(model, opt, console=False, sinks=[recorder]) as monitor:
        train(model, opt, 30, monitor, loss_before_step=True, losses=losses)
        warm = compiles()
        train(model, opt, 30, monitor, loss_before_step=True, losses=losses)
        assert compiles() == warm
    assert plain["graphs"] >= 1 and warm["graphs"] == plain["graphs"] and warm["breaks"] == 0
    report = monitor.close()
    assert report.steps == 60 and [layer.units for layer in report.layers[:2]] == [32, 32]
    # the root hooks never ran on compiled steps, yet each loss is filed under its own step
    compiled_steps = [s for s in recorder.steps if s.step >= 20]
    assert compiled_steps and all(s.loss == pytest.approx(losses[s.step]) for s in compiled_steps)


@pytest.mark.slow
def test_watching_the_inner_module_of_a_compiled_one_costs_at_most_one_recompile() -> None:
    """watch(model) while the loop calls torch.compile(model): the first pass is compiled with the
    sampled step's hooks in place (inert), so the first unsampled step compiles once more; never again."""
    plain = plain_compiles(MODELS["sequential"], 30)
    torch.manual_seed(0)
    model = MODELS["sequential"]()
    compiled = torch.compile(model, backend=BACKEND)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    with gradmedic.watch(model, opt, console=False) as monitor:
        train(compiled, opt, 30, monitor)
        warm = compiles()
        train(compiled, opt, 30, monitor)
        assert compiles() == warm
    assert warm["breaks"] == 0 and warm["graphs"] <= plain["graphs"] + 1  # frames: the hooks' empty one too
    report = monitor.close()
    assert monitor.compiled and report.steps == 60
    assert [layer.units for layer in report.layers[:2]] == [32, 32]  # from step 1 on, sampled steps run eagerly


@pytest.mark.slow
def test_a_compiled_model_updated_by_hand_is_watched_by_its_backward_passes() -> None:
    plain = plain_compiles(MODELS["custom"], 30)
    torch.manual_seed(0)
    model = MODELS["custom"]()
    compiled = torch.compile(model, backend=BACKEND)
    x, y = data.digits()
    with gradmedic.watch(compiled, console=False) as monitor:  # no optimizer: p.data -= lr * p.grad
        for xb, yb in data.batches(x, y, 64, 40):
            F.cross_entropy(compiled(xb), yb).backward()
            with torch.no_grad():
                for p in model.parameters():
                    p -= 0.1 * p.grad
                    p.grad = None
    report = monitor.close()
    assert compiles()["graphs"] == plain["graphs"] and compiles()["breaks"] == 0
    assert report.steps == 40 and [layer.units for layer in report.layers[:2]] == [32, 32]
    assert stance() == "default"


def compiled_scenario(name: str, steps: int, backend: str = BACKEND) -> gradmedic.Report:
    scenario = SCENARIOS[name]
    torch.manual_seed(0)
    model = scenario.build()
    if scenario.setup is not None:
        scenario.setup(model)
    opt = scenario.optimizer(model)
    compiled = torch.compile(model, backend=backend)
    with gradmedic.watch(compiled, opt, console=False) as monitor:
        train(compiled, opt, steps, monitor)
    assert stance() == "default"
    return monitor.close()


def kinds(report: gradmedic.Report) -> set[str]:
    return {d.kind for d in report.diagnoses if d.severity != "info"}


@pytest.mark.slow
def test_a_compiled_deep_sigmoid_stack_has_vanishing_gradients() -> None:
    report = compiled_scenario("deep_sigmoid", 150)
    assert "vanishing_gradients" in kinds(report)
    assert counters["frames"]["total"] <= 2 and not counters["graph_break"]


@pytest.mark.slow
def test_under_inductor_a_deep_sigmoid_stack_compiles_one_graph_and_has_vanishing_gradients() -> None:
    """Code generation too (a minute on two shared cores when its cache is cold): the ten-layer stack
    that never finished compiling while gradmedic's hooks were traced is one graph, no break."""
    report = compiled_scenario("deep_sigmoid", 60, backend="inductor")
    assert "vanishing_gradients" in kinds(report)
    assert compiles() == {"frames": 1, "graphs": 1, "breaks": 0}


@pytest.mark.slow
def test_a_compiled_healthy_sigmoid_net_stays_quiet() -> None:
    report = compiled_scenario("deep_sigmoid_batchnorm", 150)
    assert report.healthy and not kinds(report)


@pytest.mark.slow
def test_a_compiled_net_with_a_learning_rate_far_too_high_is_caught() -> None:
    report = compiled_scenario("relu_huge_lr", 60)
    assert kinds(report) & {"exploding_gradients", "non_finite", "loss_divergence"}


def test_the_eager_stance_is_counted_across_monitors_and_restores_the_users_own() -> None:
    a, b = object(), object()
    with torch.compiler.set_stance("eager_on_recompile"):
        assert eager_steps.hold(a) and eager_steps.hold(b) and eager_steps.hold(a)
        assert stance() == "force_eager"
        eager_steps.release(a)
        assert stance() == "force_eager"  # b still holds it
        eager_steps.release(b)
        assert stance() == "eager_on_recompile"
        eager_steps.release(b)  # a second release is a no-op
        assert stance() == "eager_on_recompile"
    assert stance() == "default"


def test_a_monitor_that_stops_or_closes_mid_step_lets_go_of_the_eager_stance() -> None:
    model = relu_mlp((64, 32, 10))
    compiled = torch.compile(model, backend=BACKEND)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    monitor = gradmedic.watch(compiled, opt, console=False)
    assert stance() == "force_eager"  # step 0 is sampled: it will run eagerly
    monitor.close()
    assert stance() == "default"

    monitor = gradmedic.watch(compiled, opt, console=False)
    with pytest.warns(RuntimeWarning, match="stopped watching"):
        monitor._fail(RuntimeError("boom"), "test")
    assert stance() == "default"
    train(compiled, opt, 3)  # the user's loop goes on, compiled
    monitor.close()
    assert stance() == "default"


@pytest.mark.slow
def test_an_optimizer_step_compiled_with_the_training_step_is_not_watched_and_the_report_says_so() -> None:
    """torch.compile(train_step) with optimizer.step() inside: the optimizer's hooks run in compiled
    code, where gradmedic's do nothing. No compile storm and no crash; the report names what was missed."""

    def run(watched: bool) -> tuple[dict[str, int], gradmedic.Report | None]:
        torch.manual_seed(0)
        model = relu_mlp((64, 32, 10))
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        monitor = gradmedic.watch(model, opt, console=False) if watched else None

        @torch.compile(backend=BACKEND)
        def train_step(xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            return loss

        x, y = data.digits()
        for xb, yb in data.batches(x, y, 64, 25):
            train_step(xb, yb)
        counts = compiles()
        torch._dynamo.reset()
        counters.clear()
        return counts, monitor.close() if monitor is not None else None

    plain, _ = run(False)
    watched, report = run(True)
    assert watched["graphs"] == plain["graphs"] and watched["breaks"] == plain["breaks"]
    assert report is not None and not report.healthy and stance() == "default"
    assert any("inside a torch.compile'd function" in i.error for i in report.incidents)


SCRIPT = """
    import torch
    import torch.nn.functional as F
    from sklearn.datasets import load_digits
    from torch import nn

    torch.manual_seed(0)
    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    y = torch.tensor(digits.target)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 10))
    model = torch.compile(model, backend="aot_eager")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for step in range(60):
        i = (step * 64) % (len(x) - 64)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x[i : i + 64]), y[i : i + 64])
        loss.backward()
        optimizer.step()
        if step % 10 == 0:
            print(f"step {step}: loss {loss.item():.4f}")
"""


@pytest.mark.slow
@pytest.mark.integration
def test_gradmedic_run_watches_a_script_that_compiles_its_model(tmp_path: Path) -> None:
    script = tmp_path / "train_compiled.py"
    script.write_text(textwrap.dedent(SCRIPT))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def run(*prefix: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, *prefix, str(script)]
        return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)

    plain = run()
    report_path = tmp_path / "report.json"
    watched = run("-m", "gradmedic", "run", "--quiet", "--json", str(report_path))
    assert plain.returncode == 0 and watched.returncode == 0, watched.stderr[-3000:]
    assert watched.stdout == plain.stdout and plain.stdout.count("loss") == 6
    assert "could not watch" not in watched.stderr
    report = json.loads(report_path.read_text())
    assert report["steps"] == 60 and report["models"][0]["type"] == "Sequential"
    assert [layer["units"] for layer in report["layers"][:2]] == [32, 32]
    assert isinstance(report["diagnoses"], list) and not report["incidents"]
