"""What the update-ratio sample costs and how close it comes, for two ways of taking it, side by side.

For each workload's weights (benchmarks/workloads.py): the time of one snapshot copy and one in-place
difference (what a sampled step does, probe/gradients.py) for 4096 single elements at a stride (the old
sample) and for 64 runs of 64 contiguous elements (the shipped one), in alternating blocks in one
process; then, over a few Adam steps at the workload's own learning rate and at a 100x larger one, the
ratio ||dw|| / ||w|| each sample estimates against the whole weight's. Never asserted in tests.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/update_sample.py
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

if __package__ in (None, ""):  # run as a script: make the ``benchmarks`` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from benchmarks import workloads
from gradmedic.probe.gradients import UPDATE_BLOCKS, UPDATE_RUN, _subset

SAMPLE = UPDATE_BLOCKS * UPDATE_RUN


def strided(p: torch.Tensor) -> torch.Tensor:
    flat = p.detach().reshape(-1)
    return flat[:: max(1, flat.numel() // SAMPLE)][:SAMPLE]


def weights(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p for name, p in model.named_parameters() if p.ndim >= 2 and name.rsplit(".", 1)[-1].startswith("weight")]


def copy_and_sub_us(take: Callable[[torch.Tensor], torch.Tensor], ws: list[torch.Tensor], repeats: int) -> float:
    views = [take(w) for w in ws]
    snapshot = [v.clone(memory_format=torch.contiguous_format) for v in views]
    start = time.perf_counter()
    for _ in range(repeats):
        torch._foreach_copy_(snapshot, views)
        torch._foreach_sub_(snapshot, views)
    return (time.perf_counter() - start) / repeats * 1e6


def estimates(name: str, lr_scale: float, steps: int) -> list[tuple[float, float, float]]:
    """(whole, strided, runs) update ratio of every weight over ``steps`` steps."""
    w = workloads.make(name)
    for group in w.optimizer.param_groups:
        group["lr"] *= lr_scale
    rows = []
    for _ in range(steps):
        before = [p.detach().clone() for p in weights(w.model)]
        w.plain_step()
        for p, b in zip(weights(w.model), before):
            d = p.detach() - b
            whole = float(d.norm() / b.norm())
            rows.append(
                (
                    whole,
                    float(strided(d).norm() / strided(b).norm()),
                    float(_subset(d).norm() / _subset(b).norm()),
                )
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(workloads.WORKLOADS))
    parser.add_argument("--blocks", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(
        "| workload | strided copy+sub µs | runs copy+sub µs | ratio | strided max rel. error | runs max rel. error |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name in args.models.split(","):
        ws = weights(workloads.make(name).model)
        times: dict[str, list[float]] = {"strided": [], "runs": []}
        for _ in range(args.blocks):
            times["strided"].append(copy_and_sub_us(strided, ws, args.repeats))
            times["runs"].append(copy_and_sub_us(_subset, ws, args.repeats))
        a, b = statistics.median(times["strided"]), statistics.median(times["runs"])
        rows = estimates(name, 1.0, args.steps) + estimates(name, 100.0, args.steps)
        err_s = max(abs(s - w) / w for w, s, _ in rows if w > 0)
        err_r = max(abs(r - w) / w for w, _, r in rows if w > 0)
        print(f"| {name} | {a:.0f} | {b:.0f} | {b / a:.2f} | {err_s:.3f} | {err_r:.3f} |")


if __name__ == "__main__":
    main()
