"""gradmedic run under real ``torchrun --nproc_per_node=2`` (DDP, gloo on CPU): one writer, every rank's
trouble in the one report, and replicas that stay bit-identical while treatment changes the weights.

Both runs start at once (each is three Python processes importing torch) and the tests read their results.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.integration]

SCRIPTS = Path(__file__).parent / "scripts" / "distributed"
SCRIPT = SCRIPTS / "train_ddp.py"
NAN_STEP = 25  # rank 1's loss goes NaN here, and only there: its gradient stays finite
CHECKSUM = re.compile(r"checksum rank=(\d) ([0-9a-f]{64})")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _torchrun(
    folder: Path, gradmedic_args: list[str] | None, script_args: list[str], script: Path = SCRIPT
) -> subprocess.Popen[str]:
    """``torchrun -m gradmedic run [gradmedic_args] script``, or the script alone when gradmedic_args is None."""
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={_free_port()}"]
    command += ["-m", "gradmedic", "run", *gradmedic_args] if gradmedic_args is not None else []
    command += [str(script), *script_args]
    # a rank that never watches is waited for 3 s, not 30
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "GRADMEDIC_HANDSHAKE_SECONDS": "3"}
    return subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("ddp")
    watched, treated, api = root / "watched", root / "treated", root / "api"
    started = {
        "watched": _torchrun(
            watched,
            [
                "--logdir",
                str(watched / "logs"),
                "--json",
                str(watched / "report.json"),
                "--html",
                str(watched / "r.html"),
            ],
            ["--steps", "40", "--nan-on-rank1-at", str(NAN_STEP)],
        ),
        # lr 20: the loss blows up first (rollback), then units die (revival draws random weights on each rank)
        "treated": _torchrun(
            treated,
            ["--treat", "--json", str(treated / "report.json")],
            ["--steps", "80", "--problem", "dead", "--lr", "20"],
        ),
        "api": _torchrun(api, None, [], SCRIPTS / "watch_two_models.py"),
    }
    out: dict[str, Any] = {"watched_dir": watched, "treated_dir": treated}
    for name, process in started.items():
        try:
            stdout, stderr = process.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
            pytest.fail(f"{name}: torchrun did not finish in 300 s (a deadlock?)\n{stderr[-3000:]}")
        out[name] = (process.returncode, stdout, stderr)
    return out


def _ok(runs: dict[str, Any], name: str) -> tuple[str, str]:
    code, stdout, stderr = runs[name]
    assert code == 0, f"{name} exited with {code}\n{stderr[-3000:]}"
    return stdout, stderr


def test_rank_0_writes_one_log_one_event_file_and_one_report(runs: dict[str, Any]) -> None:
    _, stderr = _ok(runs, "watched")
    folder: Path = runs["watched_dir"]
    logs = sorted(p.name for p in (folder / "logs").iterdir())
    assert [n for n in logs if n.endswith(".jsonl")] == ["gradmedic.jsonl"], logs  # no second run moved aside
    assert len([n for n in logs if "tfevents" in n]) == 1, logs
    records = [json.loads(line) for line in (folder / "logs" / "gradmedic.jsonl").read_text().splitlines()]
    kinds = Counter(r["type"] for r in records)
    assert kinds["run"] == 1 and kinds["report"] == 1, kinds
    steps = Counter(r["step"] for r in records if r["type"] == "step")
    assert steps and max(steps.values()) == 1, steps  # each sampled step once
    assert stderr.count("steps watched") == 1, stderr[-3000:]  # one console
    assert stderr.count("HTML report in") == 1
    assert json.loads((folder / "report.json").read_text())["steps"] == 40
    assert sorted(p.name for p in folder.iterdir()) == ["logs", "r.html", "report.json"]


def test_tensorboard_series_have_each_step_once(runs: dict[str, Any]) -> None:
    _ok(runs, "watched")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(runs["watched_dir"] / "logs"))
    events.Reload()
    tag = "gradmedic/grad_norm/0"
    assert tag in events.Tags()["scalars"]
    steps = [e.step for e in events.Scalars(tag)]
    assert steps and len(steps) == len(set(steps)), steps


def test_a_nan_on_rank_1_alone_is_in_rank_0s_report(runs: dict[str, Any]) -> None:
    _, stderr = _ok(runs, "watched")
    assert stderr.count("steps watched") == 1  # the report is rank 0's alone, not rank 1's written over it
    report = json.loads((runs["watched_dir"] / "report.json").read_text())
    nonfinite = [d for d in report["diagnoses"] if d["kind"] == "non_finite"]
    assert nonfinite and nonfinite[0]["first_step"] == NAN_STEP, report["diagnoses"]
    assert nonfinite[0]["evidence"]["in"] == ["loss"]  # the gradient stayed finite: only rank 1's loss says it


def test_treatment_keeps_the_replicas_bit_identical(runs: dict[str, Any]) -> None:
    stdout, stderr = _ok(runs, "treated")
    sums = dict(CHECKSUM.findall(stdout))
    assert set(sums) == {"0", "1"}, stdout
    assert sums["0"] == sums["1"], stdout
    report = json.loads((runs["treated_dir"] / "report.json").read_text())
    remedies = {t["remedy"] for t in report["treatments"]}
    assert remedies & {"rollback", "revive_units", "init", "leaky_activation"}, report["treatments"]  # weights changed
    assert "batch_norm" not in remedies
    assert stderr.count("steps watched") == 1


def _checksums(stdout: str, name: str) -> dict[str, str]:
    return dict(re.findall(rf"checksum {name} rank=(\d) ([0-9a-f]{{64}})", stdout))


def test_a_rank_that_stops_watching_stops_the_exchange_without_a_hang(runs: dict[str, Any]) -> None:
    stdout, _ = _ok(runs, "api")
    reports = json.loads(next(line for line in stdout.splitlines() if line.startswith("{")))
    sums = _checksums(stdout, "shared")
    assert set(sums) == {"0", "1"} and sums["0"] == sums["1"], stdout
    errors = [i["error"] for i in reports["shared"]["incidents"] if i["component"] == "distributed"]
    assert errors and "rank 1 stopped watching" in errors[0], reports["shared"]["incidents"]
    assert reports["shared"]["steps"] == 40


def test_a_model_watched_on_rank_0_alone_is_not_treated_on_rank_0_alone(runs: dict[str, Any]) -> None:
    stdout, stderr = _ok(runs, "api")
    reports = json.loads(next(line for line in stdout.splitlines() if line.startswith("{")))
    sums = _checksums(stdout, "rank0_only")
    assert set(sums) == {"0", "1"} and sums["0"] == sums["1"], stdout  # a one-sided cure would set them apart
    assert reports["rank0_only"]["steps"] == 40
    assert not reports["rank0_only"]["treatments"]
    assert "not every rank watches this model" in stderr
