"""``gradmedic run`` never takes the script down and never lies: one monitor per model however many
optimizers step it, a script that does not compile fails exactly as under python, bad options are
refused before the script starts, and a monitor's incident reaches the report JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gradmedic.probe.gradients import GradientProbe
from gradmedic.run import RunOptions, run

TWO_OPTIMIZERS = """
import torch
import torch.nn.functional as F
from torch import nn

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
first = torch.optim.SGD(model.parameters(), lr=0.05)
second = torch.optim.Adam(model.parameters(), lr=1e-3)
x, y = torch.randn(32, 8), torch.randint(0, 2, (32,))
for step in range(12):
    first.zero_grad()
    second.zero_grad()
    F.cross_entropy(model(x), y).backward()
    first.step()
    second.step()
"""


def _write(path: Path, source: str) -> Path:
    path.write_text(textwrap.dedent(source).lstrip())
    return path


@pytest.mark.slow
@pytest.mark.parametrize("second", ["model.parameters()", "model[2].parameters()"], ids=["same", "head"])
def test_two_optimizers_stepping_one_model_get_one_monitor(tmp_path: Path, second: str) -> None:
    source = TWO_OPTIMIZERS.replace("torch.optim.Adam(model.parameters()", f"torch.optim.Adam({second}")
    script = _write(tmp_path / "two_optimizers.py", source)
    report = tmp_path / "report.json"
    code = run(str(script), [], RunOptions(json_path=str(report), quiet=True))
    data = json.loads(report.read_text())
    assert code == 0
    assert [m["type"] for m in data["models"]] == ["Sequential"]  # on main: two monitors, Sequential twice
    assert data["steps"] == 12
    assert [layer["name"] for layer in data["layers"]] == ["0", "2"]


def test_a_monitor_incident_reaches_the_report_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: GradientProbe, m: object) -> None:
        raise ArithmeticError("injected")

    monkeypatch.setattr(GradientProbe, "after_step", broken)
    script = _write(tmp_path / "two_optimizers.py", TWO_OPTIMIZERS)
    report = tmp_path / "report.json"
    with pytest.warns(RuntimeWarning, match="stopped watching") as caught:
        code = run(str(script), [], RunOptions(json_path=str(report), quiet=True))
    assert code == 0
    assert caught[0].filename == str(script)  # the script's own line that stepped the optimizer
    data = json.loads(report.read_text())
    assert data["steps"] == 12
    assert [(i["step"], i["component"]) for i in data["incidents"]] == [(0, "monitor")]


def _process(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("source", ["x = (1,\ny = 2\n", "def f():\nreturn 1\n", "print('a' 'b' 1)\n"])
def test_a_script_that_does_not_compile_fails_exactly_as_under_python(tmp_path: Path, source: str) -> None:
    script = tmp_path / "bad.py"
    script.write_text(source)
    python = _process("bad.py", cwd=tmp_path)
    ours = _process("-m", "gradmedic", "run", "bad.py", cwd=tmp_path)
    assert ours.returncode == python.returncode == 1
    assert ours.stderr == python.stderr, ours.stderr  # on main: gradmedic's frames above the SyntaxError
    assert "gradmedic" not in ours.stderr


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--logdir", ""], "--logdir must be a non-empty"),
        (["--logdir", "a-file"], "is a file, not a folder"),
        (["--json", "."], "is a folder"),
        (["--html", "a-file/report.html"], "is a file"),
    ],
)
def test_bad_options_are_refused_before_the_script_runs(
    tmp_path: Path, option: list[str], message: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("x")
    ran = tmp_path / "ran"
    script = _write(tmp_path / "train.py", f"open({str(ran)!r}, 'w').close()\n")
    before = sorted(tmp_path.rglob("*"))
    code = run(str(script), [], _options(option))
    assert code == 2
    assert message in capsys.readouterr().err
    assert not ran.exists(), "the script must not start with options that cannot work"
    assert sorted(tmp_path.rglob("*")) == before


def _options(option: list[str]) -> RunOptions:
    flag, value = option
    key = {"--logdir": "logdir", "--json": "json_path", "--html": "html_path"}[flag]
    return RunOptions(quiet=True, **{key: value})  # type: ignore[arg-type]


def test_gradmedic_check_shows_a_syntax_error_without_its_own_frames(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gradmedic.check_script import NOT_CHECKED, CheckOptions, check

    script = tmp_path / "bad.py"
    script.write_text("x = (1,\ny = 2\n")
    assert check(str(script), [], CheckOptions(quiet=True)) == NOT_CHECKED
    err = capsys.readouterr().err
    assert err.startswith(f'  File "{script}", line 1\n') and "SyntaxError: '(' was never closed" in err
    assert "Traceback" not in err and "check_script.py" not in err
