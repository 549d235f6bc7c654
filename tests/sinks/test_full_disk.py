"""A watched training run on a "full disk" (``ulimit -f 64``: files stop at 64 KiB) finishes as it would
without gradmedic: normal exit code, no traceback, a JSONL log of whole lines only."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gradmedic.report import load_log
from gradmedic.sinks.jsonl import FILENAME

SCRIPT = """
import json, torch, gradmedic
from torch import nn
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
opt = torch.optim.SGD(model.parameters(), lr=0.01)
with gradmedic.watch(model, opt, logdir="logs", every=1, console=False) as monitor:
    for _ in range(400):  # every step sampled: the log passes 64 KiB after about a hundred steps
        opt.zero_grad()
        x = torch.randn(32, 16)
        loss = (model(x) - x.sum(1, keepdim=True)).pow(2).mean()
        loss.backward()
        opt.step()
        monitor.observe_loss(loss)
print(json.dumps([i.to_dict() for i in monitor.sinks.incidents]))
print("training finished")
"""


@pytest.mark.slow
def test_training_on_a_full_disk_finishes_with_whole_lines_and_no_traceback(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(textwrap.dedent(SCRIPT))
    done = subprocess.run(
        ["bash", "-c", f"ulimit -f 64 && exec {sys.executable} train.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "Exception in thread" not in done.stderr
    assert done.stdout.splitlines()[-1] == "training finished"
    log = tmp_path / "logs" / FILENAME
    assert 60 * 1024 < log.stat().st_size <= 64 * 1024
    assert log.read_bytes().endswith(b"\n")
    records = [json.loads(line) for line in log.read_text().splitlines()]  # no torn line
    steps = [r["step"] for r in records if r["type"] == "step"]
    assert steps == list(range(len(steps))) and 50 < len(steps) < 400
    components = {i["component"] for i in json.loads(done.stdout.splitlines()[-2])}
    assert "sink:JsonlSink" in components
    assert "JsonlSink failed (OSError: [Errno 27] File too large)" in done.stderr
    read = load_log(log)  # the reader rebuilds what it can from the whole lines
    assert read.series.steps.size == len(steps) and read.skipped_lines == 0
