"""``gradmedic check SCRIPT``: run up to the first optimizer step, never take it, and check what it would train.

Throwaway scripts are written to tmp_path; each writes a marker file right after its first
``optimizer.step()``, so a marker on disk means the step was taken. Most cases call ``check`` in-process;
one runs the command line in a subprocess for the exit code and argv.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gradmedic.check_script import CheckOptions, check

SCRIPTS_DIR = Path(__file__).parent / "scripts"

PROLOGUE = """
import sys
from pathlib import Path
import torch
import torch.nn.functional as F
from torch import nn

torch.manual_seed(0)
MARKER = Path(__file__).with_suffix(".stepped")
"""

SIGMOID = """
layers = []
for _ in range(10):
    layers += [nn.Linear(32, 32), nn.Sigmoid()]
model = nn.Sequential(*layers, nn.Linear(32, 4))
"""

HE_RELU = """
model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 4))
for m in model.modules():
    if isinstance(m, nn.Linear):
        nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
"""

LOOP = """
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for step in range(3):
    x, y = torch.randn(64, 32), torch.randint(0, 4, (64,))
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    MARKER.write_text("stepped")
"""


def write(tmp_path: Path, body: str, name: str = "train.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(PROLOGUE) + textwrap.dedent(body))
    return path


def run_check(script: Path, args: list[str] | None = None) -> tuple[int, dict | None]:
    report = script.with_name(script.stem + "-checkup.json")
    code = check(str(script), args or [], CheckOptions(json_path=str(report), quiet=True))
    return code, json.loads(report.read_text()) if report.is_file() else None


def problems(report: dict) -> set[str]:
    return {d["kind"] for d in report["diagnoses"] if d["severity"] in ("warning", "error")}


def test_stops_before_the_first_step_and_finds_vanishing_gradients(tmp_path: Path) -> None:
    script = write(tmp_path, SIGMOID + LOOP)
    code, report = run_check(script)
    assert not script.with_suffix(".stepped").exists(), "the optimizer step was taken"
    assert code == 1 and report is not None
    assert "vanishing_gradients" in problems(report)
    assert report["steps"] == 0 and report["checkup"]["loss"] == "script_gradient"
    assert report["checkup"]["batch_size"] == 64 and len(report["checkup"]["layers"]) == 11
    assert report["models"] == [{"label": "", "type": "Sequential"}]


def test_healthy_script_with_its_own_argv(tmp_path: Path) -> None:
    body = HE_RELU + 'assert sys.argv[1:] == ["--lr", "0.1"], sys.argv\n' + LOOP
    code, report = run_check(write(tmp_path, body), ["--lr", "0.1"])
    assert code == 0 and report is not None and not problems(report)


def test_a_script_that_swallows_exceptions_is_still_stopped(tmp_path: Path) -> None:
    loop = LOOP.replace(
        "    optimizer.step()\n", "    try:\n        optimizer.step()\n    except Exception:\n        pass\n"
    )
    script = write(tmp_path, SIGMOID + loop)
    code, _ = run_check(script)
    assert code == 1 and not script.with_suffix(".stepped").exists()


def test_keyword_calls_and_a_fine_tuned_head(tmp_path: Path) -> None:
    body = """
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(32, 64), nn.ReLU())
            self.head = nn.Linear(64, 4)

        def forward(self, x, scale=1.0):
            return self.head(self.body(x)) * scale

    model = Net()
    model.body.requires_grad_(False)
    optimizer = torch.optim.Adam(model.head.parameters(), lr=1e-3)  # trains the head only
    x, y = torch.randn(64, 32), torch.randint(0, 4, (64,))
    loss = F.cross_entropy(model(x=x, scale=2.0), y)
    loss.backward()
    optimizer.step()
    MARKER.write_text("stepped")
    """
    script = write(tmp_path, body)
    code, report = run_check(script)
    assert code == 0 and report is not None
    assert [layer["name"] for layer in report["checkup"]["layers"]] == ["body.0", "head"]  # the model the head is in
    assert not script.with_suffix(".stepped").exists()


def test_optimizer_step_with_a_closure(tmp_path: Path) -> None:
    closure = """
    optimizer = torch.optim.LBFGS(model.parameters())
    x, y = torch.randn(64, 32), torch.randint(0, 4, (64,))

    def closure():  # the only place the model is called
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        return loss

    optimizer.step(closure)
    MARKER.write_text("stepped")
    """
    code, report = run_check(write(tmp_path, SIGMOID + textwrap.dedent(closure)))
    assert code == 1 and report is not None and "vanishing_gradients" in problems(report)


BY_HAND_LOOP = """
for step in range(3):
    x, y = torch.randn(64, 32), torch.randint(0, 4, (64,))
    model.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    with torch.no_grad():
        for p in model.parameters():
            p -= 0.1 * p.grad
    MARKER.write_text("stepped")
"""


def test_hand_updated_script_stops_at_the_end_of_its_first_backward_pass(tmp_path: Path) -> None:
    script = write(tmp_path, SIGMOID + BY_HAND_LOOP)
    code, report = run_check(script)
    assert not script.with_suffix(".stepped").exists(), "the hand update was applied"
    assert code == 1 and report is not None
    assert "vanishing_gradients" in problems(report)
    assert report["checkup"]["loss"] == "script_gradient" and report["checkup"]["batch_size"] == 64
    assert report["models"] == [{"label": "", "type": "Sequential"}]


def test_backward_passes_of_an_optimizer_script_stop_nothing(tmp_path: Path) -> None:
    """Gradient accumulation: backward passes before the first optimizer step; the step still stops it."""
    loop = LOOP.replace("    loss.backward()\n", "    loss.backward()\n    F.cross_entropy(model(x), y).backward()\n")
    script = write(tmp_path, SIGMOID + loop)
    code, report = run_check(script)
    assert code == 1 and report is not None and "vanishing_gradients" in problems(report)
    assert not script.with_suffix(".stepped").exists()


def test_a_backward_pass_outside_any_module_stops_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = """
    w = torch.randn(4, requires_grad=True)
    for _ in range(3):
        (w**2).sum().backward()
        with torch.no_grad():
            w -= 0.1 * w.grad
    MARKER.write_text("stepped")
    """
    script = write(tmp_path, body)
    code, report = run_check(script)
    assert code == 2 and report is None and script.with_suffix(".stepped").exists()
    assert "ended without an optimizer step or a backward pass" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (HE_RELU + "print('no training here')\n", "ended without an optimizer step"),
        (HE_RELU + "raise RuntimeError('broken data')\n", "failed before its first optimizer step"),
        (HE_RELU + "sys.exit(3)\n", "ended without an optimizer step"),
    ],
)
def test_no_checkup_without_a_step(tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, message: str) -> None:
    code, report = run_check(write(tmp_path, body))
    assert code == 2 and report is None
    assert message in capsys.readouterr().err


def test_missing_script(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert check(str(tmp_path / "nope.py"), [], CheckOptions()) == 2
    assert "no such script" in capsys.readouterr().err


# Failures of the suite that are decided at initialisation; every other script is healthy at its first step
# (the rest of the suite's failures come from too high a learning rate, during training).
DECIDED_AT_INIT = {
    "train_dead_born_dead_bias.py": "dead_units",
    "train_exploding_cnn_large_init.py": "exploding_gradients",
    "train_vanishing_deep_sigmoid_mlp.py": "vanishing_gradients",
    "train_vanishing_deep_tanh_small_init.py": "vanishing_gradients",
    "train_vanishing_sigmoid_cnn.py": "vanishing_gradients",
}
NOT_ONE_MODULE = {"train_exploding_rnn_moduledict.py"}  # a ModuleDict whose parts the loop calls one by one
# no optimizer ever steps (weights updated by hand): checked at the end of the first backward pass
BY_HAND = {"train_by_hand_data_add.py", "train_by_hand_no_grad.py"}


@pytest.mark.parametrize("script", sorted(p.name for p in SCRIPTS_DIR.glob("train_*.py")))
def test_suite_scripts_at_their_first_step(script: str, tmp_path: Path) -> None:
    report_path = tmp_path / "report.json"
    code = check(str(SCRIPTS_DIR / script), [], CheckOptions(json_path=str(report_path), quiet=True))
    if script in NOT_ONE_MODULE:
        assert code == 2 and not report_path.exists()
        return
    report = json.loads(report_path.read_text())
    if script in BY_HAND:
        assert report["models"][0]["type"] in {"Sequential", "Linear"}
    assert report["checkup"]["loss"] == "script_gradient"
    expected = DECIDED_AT_INIT.get(script)
    if expected is None:
        assert code == 0 and not problems(report), report["diagnoses"]
    else:
        assert code == 1 and expected in problems(report)


def test_command_line(tmp_path: Path) -> None:
    script = write(tmp_path, SIGMOID + 'assert sys.argv[1:] == ["-v"]\n' + LOOP)
    report = tmp_path / "out" / "checkup.json"
    result = subprocess.run(
        [sys.executable, "-m", "gradmedic", "check", "--json", str(report), str(script), "-v"],
        cwd=tmp_path,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr[-2000:]
    assert "vanishing_gradients" in result.stdout and "not healthy" in result.stdout
    assert "fix:" in result.stdout and json.loads(report.read_text())["steps"] == 0
    assert not script.with_suffix(".stepped").exists()
