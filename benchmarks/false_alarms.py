"""False-alarm rate of a healthy, unseeded public script under ``gradmedic run``, over many torch seeds.

pytorch/examples ``regression/main.py`` (kept unmodified under tests/real/pytorch_examples) draws its data
with ``torch.randn`` and sets no seed, so each plain run differs. Here each run seeds torch first, then runs
the script through ``gradmedic run`` in this process, and counts the runs with a diagnosis at warning or
above (the script is healthy: its loss falls below its own 1e-3 stop).

    OMP_NUM_THREADS=1 python benchmarks/false_alarms.py              # 40 seeds
    OMP_NUM_THREADS=1 python benchmarks/false_alarms.py --runs 100 --keep /tmp/alarms   # JSONL of each alarm
    OMP_NUM_THREADS=1 python benchmarks/false_alarms.py --watch --runs 200   # the same loop under watch(model)

``--watch`` runs the script's loop, with its draws in its order, in this file under ``gradmedic.watch(fc)``
and no ``observe_loss``: the loss is read at ``backward()``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import gradmedic
from gradmedic.run import RunOptions, run

SCRIPT = Path(__file__).resolve().parent.parent / "tests/real/pytorch_examples/regression/main.py"
ALARM = {"warning", "error"}


def one_run(seed: int, workdir: Path) -> list[dict[str, object]]:
    """The diagnoses at warning or above of one seeded run (its JSONL log stays in ``workdir``)."""
    torch.manual_seed(seed)
    options = RunOptions(json_path=str(workdir / "report.json"), logdir=str(workdir / "log"), quiet=True)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = run(str(SCRIPT), [], options)
    if code != 0:
        raise RuntimeError(f"seed {seed}: the script ended with exit code {code}")
    report = json.loads((workdir / "report.json").read_text())
    return [d for d in report["diagnoses"] if d["severity"] in ALARM]


def watch_run(seed: int, logdir: Path | None = None) -> gradmedic.Report:
    """The training of regression/main.py, written out here under ``gradmedic.watch`` with no ``observe_loss``:
    a Linear(4, 1) fits a random degree-4 polynomial (coefficients and constant drawn as N(0, 25)) from
    batches of 32 points, by hand SGD at lr 0.1 on the smooth L1 loss, until a batch's loss is below 1e-3.
    The random draws come in the script's order, so a seed gives the script's run."""
    torch.manual_seed(seed)
    coefficients, constant = torch.randn(4, 1) * 5, torch.randn(1) * 5
    model = nn.Linear(4, 1)
    with gradmedic.watch(model, console=False, logdir=logdir) as monitor:
        for _ in range(100_000):
            points = torch.randn(32, 1)
            features = torch.cat([points**k for k in range(1, 5)], dim=1)  # [32, 4]
            targets = features @ coefficients + constant.item()
            model.zero_grad()
            loss = F.smooth_l1_loss(model(features), targets)
            loss.backward()
            with torch.no_grad():
                for p in model.parameters():
                    p -= 0.1 * p.grad
            if loss.item() < 1e-3:
                break
    return monitor.report()


def watch_alarms(seed: int, workdir: Path) -> list[dict[str, object]]:
    report = watch_run(seed, workdir / "log")
    return [d.to_dict() for d in report.diagnoses if d.severity in ALARM]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40, help="how many runs (default 40)")
    parser.add_argument("--first-seed", type=int, default=0, help="the torch seed of the first run (default 0)")
    parser.add_argument("--keep", type=Path, help="copy the log folder of each run that alarms under this folder")
    parser.add_argument("--keep-all", action="store_true", help="with --keep: copy every run's log folder")
    parser.add_argument("--watch", action="store_true", help="the loop under gradmedic.watch(model), no observe_loss")
    args = parser.parse_args()
    kinds: Counter[str] = Counter()
    alarmed = 0
    for seed in range(args.first_seed, args.first_seed + args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            alarms = watch_alarms(seed, Path(tmp)) if args.watch else one_run(seed, Path(tmp))
            if alarms:
                alarmed += 1
                kinds.update(str(d["kind"]) for d in alarms)
                print(f"seed {seed}: " + "; ".join(f"{d['severity']} {d['kind']} {d['evidence']}" for d in alarms))
            if args.keep and (alarms or args.keep_all):
                shutil.copytree(Path(tmp), args.keep / f"seed{seed}", dirs_exist_ok=True)
    print(f"false alarms: {alarmed}/{args.runs} runs ({100 * alarmed / args.runs:.0f} %); by kind: {dict(kinds)}")


if __name__ == "__main__":
    main()
