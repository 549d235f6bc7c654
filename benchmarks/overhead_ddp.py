"""Step-time overhead of gradmedic on a DDP run: 2 ranks under torchrun, gloo on CPU, watched vs unwatched.

One torchrun launch trains three identical DDP models side by side in the same two processes: two plain
(their ratio is the A/A noise floor) and one watched with ``gradmedic.watch`` (default sampling, so the
sampled steps pay the ranks' one exchange of records). Blocks of steps rotate between the models, each
block starting at a barrier, so drift in the machine's speed hits all three alike; the figures are the
medians over blocks of rank 0's time per step. Never asserted in tests: timings are noisy.

    .venv/bin/python benchmarks/overhead_ddp.py                 # about a minute
    .venv/bin/python benchmarks/overhead_ddp.py --rounds 4      # smoke run
    .venv/bin/python benchmarks/overhead.py --ddp ...           # the same row after the main tables
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NAMES = ("plain", "plain_b", "watched")


def worker(rounds: int, block: int, warmup: int, width: int) -> None:
    """Runs on every rank (torchrun); rank 0 prints one JSON line of per-step medians."""
    import torch
    import torch.distributed as dist
    import torch.nn.functional as F
    from torch import nn

    import gradmedic

    dist.init_process_group("gloo")
    rank = dist.get_rank()
    data = torch.Generator().manual_seed(rank)
    ddps, opts = {}, {}
    for name in NAMES:
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(64, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 10))
        ddps[name] = nn.parallel.DistributedDataParallel(model)
        opts[name] = torch.optim.Adam(ddps[name].parameters(), lr=1e-3)
    monitor = gradmedic.watch(ddps["watched"], opts["watched"], console=False)
    x = torch.randn(64, 64, generator=data)
    y = torch.randint(0, 10, (64,), generator=data)

    def steps(name: str, n: int) -> None:
        for _ in range(n):
            opts[name].zero_grad()
            loss = F.cross_entropy(ddps[name](x), y)
            loss.backward()
            opts[name].step()

    for name in NAMES:
        steps(name, warmup)  # past the dense sampling of the first steps
    per_step: dict[str, list[float]] = {name: [] for name in NAMES}
    for r in range(rounds):
        for name in NAMES[r % 3 :] + NAMES[: r % 3]:  # rotate the order: no model always runs first
            dist.barrier()
            start = time.perf_counter()
            steps(name, block)
            per_step[name].append((time.perf_counter() - start) / block)
    report = monitor.close()
    if rank == 0:
        medians = {name: statistics.median(v) for name, v in per_step.items()}
        print(json.dumps({"median_s": medians, "blocks": rounds, "block_steps": block, "watched_steps": report.steps}))
    dist.destroy_process_group()


def measure(rounds: int, block: int, warmup: int, width: int, timeout: float = 600.0) -> dict[str, Any]:
    """Launch torchrun with 2 ranks on this file; returns rank 0's figures and the ratios."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={port}"]
    command += [str(Path(__file__).resolve()), "--worker", "--rounds", str(rounds), "--block", str(block)]
    command += ["--warmup", str(warmup), "--width", str(width)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("{"):
            result: dict[str, Any] = json.loads(line)
            m = result["median_s"]
            result["ratio"] = m["watched"] / m["plain"]
            result["aa_ratio"] = m["plain_b"] / m["plain"]
            return result
    raise RuntimeError(f"torchrun failed (exit {done.returncode}): {done.stderr[-2000:]}")


def table(result: dict[str, Any], width: int) -> str:
    m = result["median_s"]
    return "\n".join(
        [
            "| DDP, 2 ranks (gloo, CPU, 1 thread each) | plain ms/step | watched ms/step | ratio | A/A ratio |",
            "|---|---|---|---|---|",
            f"| MLP 64-{width}-{width}-10, Adam, batch 64 per rank | {1e3 * m['plain']:.2f} | {1e3 * m['watched']:.2f} "
            f"| {result['ratio']:.2f}x | {result['aa_ratio']:.2f}x |",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=12, help="blocks per model")
    parser.add_argument("--block", type=int, default=20, help="steps per block")
    parser.add_argument("--warmup", type=int, default=40, help="steps per model before timing")
    parser.add_argument("--width", type=int, default=256, help="hidden width of the MLP")
    args = parser.parse_args()
    if args.worker:
        worker(args.rounds, args.block, args.warmup, args.width)
        return
    print(table(measure(args.rounds, args.block, args.warmup, args.width), args.width))


if __name__ == "__main__":
    main()
