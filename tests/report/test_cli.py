"""``gradmedic report``, ``gradmedic run --html`` and the demo's pages."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from gradmedic.cli import main as cli_main
from gradmedic.demo.show import main as demo_main
from gradmedic.run import RunOptions, run
from gradmedic.sinks.jsonl import FILENAME

from .conftest import Run

SCRIPT = """
import torch
from torch import nn
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(8, 32), nn.Sigmoid(), nn.Linear(32, 32), nn.Sigmoid(), nn.Linear(32, 1))
opt = torch.optim.SGD(model.parameters(), lr=0.05)
for _ in range(30):
    opt.zero_grad()
    x = torch.randn(16, 8)
    loss = (model(x) - x.sum(1, keepdim=True)).pow(2).mean()
    loss.backward()
    opt.step()
"""


def test_report_command_writes_the_page_next_to_the_log(healthy_run: Run, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["report", str(healthy_run.logdir)]) == 0
    page = healthy_run.logdir / "report.html"
    assert page.is_file() and 'id="m0-flow"' in page.read_text()
    assert f"wrote {page}" in capsys.readouterr().err


def test_report_command_takes_the_jsonl_path_and_an_output(healthy_run: Run, tmp_path: Path) -> None:
    out = tmp_path / "sub" / "page.html"
    assert cli_main(["report", str(healthy_run.logdir / FILENAME), "--html", str(out)]) == 0
    assert "Healthy" in out.read_text()


def test_report_command_without_a_log_explains_how_to_make_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "holds no gradmedic.jsonl" in err and "--logdir" in err


@pytest.mark.slow
def test_run_html_without_logdir_logs_to_a_temporary_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(SCRIPT))
    out = tmp_path / "report.html"
    assert run(str(script), [], RunOptions(quiet=True, html_path=str(out))) == 0
    page = out.read_text()
    assert 'id="m0-flow"' in page and "30 steps watched" in page
    said = re.search(r"HTML report in (\S+) \(log in (\S+)\)", capsys.readouterr().err)
    assert said is not None and Path(said.group(1)) == out
    assert (Path(said.group(2)) / FILENAME).is_file()


@pytest.mark.slow
def test_run_html_with_logdir(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(SCRIPT))
    code = cli_main(
        ["run", "--quiet", "--logdir", str(tmp_path / "logs"), "--html", str(tmp_path / "r.html"), str(script)]
    )
    assert code == 0
    assert (tmp_path / "logs" / FILENAME).is_file()
    assert "30 steps watched" in (tmp_path / "r.html").read_text()


@pytest.mark.slow
def test_demo_writes_a_page_per_scenario_and_an_index(tmp_path: Path) -> None:
    demo_main(str(tmp_path), ["dead"])
    index = (tmp_path / "index.html").read_text()
    for name in ("relu_high_lr", "relu_lower_lr"):
        assert f'href="{name}/report.html"' in index
        assert 'id="m0-flow"' in (tmp_path / name / "report.html").read_text()
    assert re.search(r"relu_high_lr</a></td><td>[^<]*</td><td>dead_units", index)
    assert re.search(r"relu_lower_lr</a></td><td>[^<]*</td><td>healthy", index)
