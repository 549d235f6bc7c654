"""Step-time overhead of gradmedic, side by side with a plain loop, alternating in one process.

Two identical models train on the same batches: one plain, one watched. Blocks of steps alternate
between them, so drift in the machine's speed hits both alike. Prints the median over rounds of
(watched time / plain time) per configuration. Never asserted in tests: timings are noisy.

    python benchmarks/overhead.py                 # default settings and full statistics every step
    python benchmarks/overhead.py --rounds 30     # longer, steadier
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

import gradmedic


def mlp(depth: int = 6, width: int = 512, n_in: int = 512, n_out: int = 10) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Linear(n_in, width), nn.ReLU()]
    for _ in range(depth - 2):
        layers += [nn.Linear(width, width), nn.ReLU()]
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


MODELS: dict[str, Callable[[], nn.Module]] = {"mlp": mlp}


def make_step(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
    def step() -> None:
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    return step


def time_block(step: Callable[[], None], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        step()
    return (time.perf_counter() - start) / n


def measure(name: str, every: int | None, rounds: int, block: int, batch: int) -> tuple[float, float, float]:
    """Returns (median ratio, plain seconds per step, watched seconds per step)."""
    torch.manual_seed(0)
    build = MODELS[name]
    plain, watched = build(), build()
    watched.load_state_dict(plain.state_dict())
    x = torch.randn(batch, 512)
    y = torch.randint(0, 10, (batch,))
    opt_p = torch.optim.Adam(plain.parameters(), 1e-4)
    opt_w = torch.optim.Adam(watched.parameters(), 1e-4)
    monitor = gradmedic.watch(watched, opt_w, every=every, console=False)
    run_p, run_w = make_step(plain, opt_p, x, y), make_step(watched, opt_w, x, y)
    for _ in range(2):  # warm up both, and get past the monitor's dense first steps
        time_block(run_p, 30)
        time_block(run_w, 30)
    ratios, tp, tw = [], [], []
    for r in range(rounds):
        order = [(run_p, tp), (run_w, tw)] if r % 2 == 0 else [(run_w, tw), (run_p, tp)]
        for run, times in order:
            times.append(time_block(run, block))
        ratios.append(tw[-1] / tp[-1])
    monitor.close()
    return statistics.median(ratios), statistics.median(tp), statistics.median(tw)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(MODELS), default="mlp")
    parser.add_argument("--rounds", type=int, default=16)
    parser.add_argument("--block", type=int, default=40, help="steps per block (a multiple of every)")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"model={args.model} batch={args.batch} threads={args.threads} rounds={args.rounds} block={args.block}")
    print(f"{'configuration':34s} {'plain ms/step':>14s} {'watched ms/step':>16s} {'ratio':>7s}")
    for label, every in [("gradmedic default (every=10)", None), ("gradmedic full stats (every=1)", 1)]:
        ratio, tp, tw = measure(args.model, every, args.rounds, args.block, args.batch)
        print(f"{label:34s} {tp * 1e3:14.2f} {tw * 1e3:16.2f} {ratio:7.3f}")


if __name__ == "__main__":
    main()
