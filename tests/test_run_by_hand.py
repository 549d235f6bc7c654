"""``gradmedic run`` on scripts without an optimizer, on scripts that die right after a blow-up, and on
scripts in which it sees no training step at all (it says so, and why)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gradmedic.unwatched import nothing_watched_reason

from .test_runner import gradmedic_run, kinds, run_in_process, tiny_training, write

SCRIPTS = Path(__file__).parent / "scripts"


def _copy(script: Path, folder: Path) -> Path:
    """The script in a scratch folder: an in-process run writes its report next to it."""
    copy = folder / script.name
    copy.write_text(script.read_text())
    return copy


def _report(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.mark.slow
def test_hand_updated_script_is_watched_from_its_first_backward(tmp_path: Path) -> None:
    report_path = tmp_path / "r.json"
    result = gradmedic_run("--json", report_path, SCRIPTS / "train_by_hand_no_grad.py", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = _report(report_path)
    assert report["steps"] == 300  # one per backward pass, the first (seen before attaching) included
    assert [layer["name"] for layer in report["layers"]] == ["Linear"]  # the model is the lone nn.Linear
    assert report["models"][0]["type"] == "Linear"
    assert not kinds(report) and not report["incidents"]
    assert "300 steps watched" in result.stderr


@pytest.mark.slow
def test_hand_updated_script_going_nan_at_its_second_step_is_diagnosed(tmp_path: Path) -> None:
    report_path = tmp_path / "r.json"
    result = gradmedic_run(
        "--quiet", "--json", report_path, SCRIPTS / "failing" / "by_hand_nan_at_second_step.py", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    report = _report(report_path)
    assert report["steps"] == 30
    nonfinite = [d for d in report["diagnoses"] if d["kind"] == "non_finite"]
    assert nonfinite and nonfinite[0]["severity"] == "error" and nonfinite[0]["first_step"] <= 1


@pytest.mark.slow
def test_hand_updated_script_under_treat_drops_its_nonfinite_steps_and_says_it_stayed_stuck(tmp_path: Path) -> None:
    """The script's first update (lr 1e30) lands before gradmedic attaches, at its second backward: no
    snapshot predates the damage, so every later step is dropped (its gradients zeroed before the script's
    own update) and the report says the run stayed stuck, rather than calling it cured."""
    report_path = tmp_path / "r.json"
    script = SCRIPTS / "failing" / "by_hand_nan_at_second_step.py"
    result = gradmedic_run("--treat", "--quiet", "--json", report_path, script, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = _report(report_path)
    skips = [t for t in report["treatments"] if t["remedy"] == "skip_nonfinite_step"]
    assert skips and skips[0]["step"] == 1 and "by hand" in skips[0]["action"]
    assert skips[0]["outcome"].startswith("stuck")
    nonfinite = next(d for d in report["diagnoses"] if d["kind"] == "non_finite")
    assert nonfinite["outcome"].startswith("not cured: stuck")


@pytest.mark.slow
def test_lbfgs_script_counts_optimizer_steps_not_closure_calls(tmp_path: Path) -> None:
    code, report = run_in_process(_copy(SCRIPTS / "train_lbfgs_closure.py", tmp_path))
    assert code == 0
    assert report["steps"] == 40


@pytest.mark.slow
def test_script_dying_right_after_a_blow_up_gets_the_diagnosis(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = run_in_process(_copy(SCRIPTS / "failing" / "blowup_then_overflow.py", tmp_path))
    assert code == 1
    assert "OverflowError" in capsys.readouterr().err
    assert report["steps"] == 3
    divergence = [d for d in report["diagnoses"] if d["kind"] == "loss_divergence"]
    assert divergence and divergence[0]["severity"] == "error" and divergence[0]["first_step"] == 1


def test_gradient_accumulation_without_a_first_step_is_not_counted_twice(tmp_path: Path) -> None:
    """Four backward passes before the first optimizer step: the optimizer takes the monitor over."""
    source = tiny_training(10).replace(
        "    loss.backward()\n    optimizer.step()",
        "    for _ in range(4):\n        F.cross_entropy(model(x), y).backward()\n    optimizer.step()",
    )
    code, report = run_in_process(write(tmp_path / "accumulate.py", source))
    assert code == 0
    assert len(report["models"]) == 1
    # backward passes 2 to 4 before the first optimizer step were counted as steps; nothing after that
    assert report["steps"] == 10 + 3


@pytest.mark.slow
def test_script_without_training_says_nothing_was_watched(tmp_path: Path) -> None:
    script = write(tmp_path / "no_training.py", "import torch\nprint(torch.nn.Linear(2, 2)(torch.ones(1, 2)).shape)\n")
    report_path = tmp_path / "r.json"
    result = gradmedic_run("--json", report_path, script, cwd=tmp_path)
    assert result.returncode == 0
    lines = [line for line in result.stderr.splitlines() if "no training step was watched" in line]
    assert len(lines) == 1 and "no optimizer step and no backward()" in lines[0]
    report = _report(report_path)
    assert report["steps"] == 0
    assert report["incidents"] == [{"step": -1, "component": "runner", "error": lines[0].split(": ", 2)[2]}]


def test_tensors_trained_outside_any_module_are_named_as_the_reason(tmp_path: Path) -> None:
    script = write(
        tmp_path / "bare_tensors.py",
        """
        import torch
        w = torch.randn(4, 1, requires_grad=True)
        x, y = torch.randn(32, 4), torch.randn(32, 1)
        for _ in range(5):
            loss = ((x @ w - y) ** 2).mean()
            loss.backward()
            with torch.no_grad():
                w -= 0.1 * w.grad
                w.grad.zero_()
        """,
    )
    code, report = run_in_process(script)
    assert code == 0 and report["steps"] == 0
    (incident,) = report["incidents"]
    assert incident["component"] == "runner" and "nn.Module" in incident["error"]


def test_the_reason_names_another_framework() -> None:
    reason = nothing_watched_reason(0, False, {"tensorflow": object(), "numpy": object()})
    assert "TensorFlow" in reason and "PyTorch" in reason
    assert "JAX" in nothing_watched_reason(0, False, {"jax": object()})
    assert "TensorFlow" not in nothing_watched_reason(0, False, {"torch": object()})


def test_first_backward_pass_is_the_calm_reference_of_a_run_that_blows_up_at_once(tmp_path: Path) -> None:
    """The model is found at the second backward pass, after the first update: the first one's gradients
    are read when it ends and judged as step 0, so a blow-up with no calm period still has a reference."""
    code, report = run_in_process(_copy(SCRIPTS / "failing" / "by_hand_rnn_blow_up.py", tmp_path), logdir=str(tmp_path))
    assert code == 0
    first_norm = float((tmp_path / "first_norm.txt").read_text())  # what the script measured itself
    records = [json.loads(line) for line in (tmp_path / "gradmedic.jsonl").read_text().splitlines()]
    steps = [r for r in records if r["type"] == "step"]
    assert steps[0]["step"] == 0 and steps[0]["global_grad_norm"] == pytest.approx(first_norm, rel=1e-4)
    assert set(steps[0]["layers"]) == {"encoder", "rnn", "decoder"}
    exploding = next(d for d in report["diagnoses"] if d["kind"] == "exploding_gradients")
    assert exploding["evidence"]["first_norm"] == pytest.approx(first_norm, rel=1e-4)
    assert "its first value" in exploding["message"]


# --- the JSONL log's layer table ---------------------------------------------------------------------------
HAND_MLP = """
import torch
from torch import nn

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 1))
x, y = torch.randn(64, 8), torch.randn(64, 1)
for _ in range(30):
    model.zero_grad()
    loss = ((model(x) - y) ** 2).mean()
    loss.backward()
    with torch.no_grad():
        for p in model.parameters():
            p -= 0.05 * p.grad
"""


def test_the_jsonl_layer_table_carries_the_depths_once_they_are_known(tmp_path: Path) -> None:
    """A hand-updated script is attached at its second backward pass: the records of steps 0 and 1 come
    before the probe saw a forward pass, so the first layer table has no depths yet (placeholders past the
    end, no depth profile, no output layer). The log writes the table again once they are known, and its
    last table is the report's."""
    script = write(tmp_path / "hand_mlp.py", HAND_MLP)
    result = gradmedic_run("--quiet", "--logdir", tmp_path / "log", "--json", tmp_path / "r.json", script, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in (tmp_path / "log" / "gradmedic.jsonl").read_text().splitlines()]
    tables = [r["layers"] for r in records if r["type"] == "layers"]
    steps = [r for r in records if r["type"] == "step"]
    assert steps[0]["step"] == 0 and tables
    last = {layer["name"]: layer for layer in tables[-1]}
    assert [last[name]["order"] for name in ("0", "2", "4")] == [0, 1, 2]  # depth among the layers, input side first
    assert all(last[name]["has_weights"] for name in ("0", "2", "4"))
    assert [name for name, layer in last.items() if layer["is_output"]] == ["4"]
    assert last["0"]["activation"] == "Tanh" and last["0"]["units"] == 16
    report = _report(tmp_path / "r.json")
    assert sorted(tables[-1], key=lambda layer: layer["name"]) == sorted(
        report["layers"], key=lambda layer: layer["name"]
    )
    # the table with depths comes before the first step record whose detectors used them
    first_known = next(i for i, r in enumerate(records) if r["type"] == "layers" and r["layers"] == tables[-1])
    assert any(r["type"] == "step" for r in records[first_known:])
