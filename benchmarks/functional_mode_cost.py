"""What measuring functional activations where they are computed costs a sampled step, side by side.

Three copies of each workload (same seed, same batch) train in alternating blocks in one process:
plain; watched with full statistics every step (``every=1``) as shipped; and watched every step with
the probe's TorchFunctionMode never entered (functional activations then fall back to the next layer's
input, as before). Time is CPU time of this process (``time.process_time``), which a machine shared
with other jobs disturbs far less than wall time. The mode's share of a sampled step is
(with mode - without) / plain; at the default sampling (every 10th step) a tenth of it reaches the
average step. Never asserted in tests: timings are noisy.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/functional_mode_cost.py --rounds 6
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

if __package__ in (None, ""):  # run as a script: make the ``benchmarks`` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import gradmedic
from benchmarks.workloads import WORKLOADS, Workload, make


class GRUCellLM(nn.Module):
    """A hand-written GRU cell unrolled over 32 steps (functional gates), as in karpathy/makemore."""

    def __init__(self, n_in: int = 32, hidden: int = 128, n_out: int = 10) -> None:
        super().__init__()
        self.xh_to_z = nn.Linear(n_in + hidden, hidden)
        self.xh_to_r = nn.Linear(n_in + hidden, hidden)
        self.xh_to_hbar = nn.Linear(n_in + hidden, hidden)
        self.head = nn.Linear(hidden, n_out)
        self.hidden = hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [B, T, n_in]
        h = x.new_zeros(x.shape[0], self.hidden)
        for t in range(x.shape[1]):
            xh = torch.cat([x[:, t], h], 1)
            r = F.sigmoid(self.xh_to_r(xh))
            hbar = F.tanh(self.xh_to_hbar(torch.cat([x[:, t], r * h], 1)))
            z = F.sigmoid(self.xh_to_z(xh))
            h = (1 - z) * h + z * hbar
        return self.head(h)


def gru_cell_workload() -> Workload:
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = GRUCellLM()
    x = torch.randn(32, 32, 32, generator=g)
    y = torch.randint(0, 10, (32,), generator=g)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    return Workload("gru_cell", model, opt, x, y, nn.CrossEntropyLoss(), "hand-written GRU cell, hidden 128, seq 32")


def build(name: str) -> Workload:
    return gru_cell_workload() if name == "gru_cell" else make(name)


def block(step: Callable[[], object], seconds: float) -> float:
    """CPU seconds per step over a block of about ``seconds``."""
    n, start = 0, time.process_time()
    while n < 3 or time.process_time() - start < seconds:
        step()
        n += 1
    return (time.process_time() - start) / n


def measure(name: str, rounds: int, seconds: float) -> dict[str, float]:
    plain, with_mode, without_mode = build(name), build(name), build(name)
    watched = gradmedic.watch(with_mode.model, with_mode.optimizer, every=1, console=False)
    unmoded = gradmedic.watch(without_mode.model, without_mode.optimizer, every=1, console=False)
    unmoded._probe._mode.enter = lambda: None  # type: ignore[method-assign]
    variants = {"plain": plain, "mode": with_mode, "no_mode": without_mode}
    times: dict[str, list[float]] = {k: [] for k in variants}
    for w in variants.values():
        block(w.plain_step, seconds / 2)  # warm-up
    for r in range(rounds):
        order = list(variants) if r % 2 == 0 else list(reversed(variants))
        for key in order:
            times[key].append(block(variants[key].plain_step, seconds))
    watched.close()
    unmoded.close()
    t = {k: statistics.median(v) for k, v in times.items()}
    return {
        "plain_ms": 1e3 * t["plain"],
        "every1_mode": t["mode"] / t["plain"],
        "every1_no_mode": t["no_mode"] / t["plain"],
        "mode_share": (t["mode"] - t["no_mode"]) / t["plain"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(WORKLOADS + ("gru_cell",)))
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--block-seconds", type=float, default=0.5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread, CPU time, {args.rounds} rounds of {args.block_seconds} s blocks")
    print()
    print("| model | plain ms/step | every=1 | every=1, mode never entered | mode's share of a sampled step |")
    print("|---|---:|---:|---:|---:|")
    for name in args.models.split(","):
        m = measure(name, args.rounds, args.block_seconds)
        print(
            f"| {name} | {m['plain_ms']:.1f} | {m['every1_mode']:.3f} | {m['every1_no_mode']:.3f} "
            f"| {100 * m['mode_share']:+.1f} % |",
            flush=True,
        )


if __name__ == "__main__":
    main()
