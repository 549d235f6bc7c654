"""Step-time overhead of gradmedic, side by side with a plain loop, alternating in one process.

One model trains in blocks of steps that alternate between plain and watched, so drift in the
machine's speed hits both alike. Prints the median over rounds of (watched time / plain time) per
configuration, next to an A/A row (the noise floor), and "in hooks": 1 + the time spent inside
gradmedic's hooks over the time of the rest of the step, a figure that machine noise barely moves.
Never asserted in tests: timings are noisy.

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
from gradmedic.config import Config


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


def measure(name: str, every: int, rounds: int, block: int, batch: int) -> tuple[float, float, float]:
    """Returns (median ratio, plain seconds per step, watched seconds per step).

    One model and one optimizer: the monitor is attached for the watched blocks and closed after
    them (attaching and closing are not timed). Two model instances differ by several percent on
    their own (memory placement), which would swamp the figure we measure.
    """
    torch.manual_seed(0)
    model = MODELS[name]()
    x = torch.randn(batch, 512)
    y = torch.randint(0, 10, (batch,))
    opt = torch.optim.Adam(model.parameters(), 1e-4)
    run = make_step(model, opt, x, y)
    # steady state: the monitor's dense first steps (Config.warmup_steps) happen once per training run
    config = Config(every=max(every, 1), warmup_steps=0)

    def watched() -> float:
        if every == 0:  # A/A calibration: both sides plain, to show the noise floor
            return time_block(run, block)
        monitor = gradmedic.watch(model, opt, config=config, console=False)
        try:
            return time_block(run, block)
        finally:
            monitor.close()

    def plain() -> float:
        return time_block(run, block)

    for _ in range(2):
        plain()
        watched()
    ratios, tp, tw = [], [], []
    for r in range(rounds):
        if r % 2 == 0:
            tp.append(plain())
            tw.append(watched())
        else:
            tw.append(watched())
            tp.append(plain())
        ratios.append(tw[-1] / tp[-1])
    return statistics.median(ratios), statistics.median(tp), statistics.median(tw)


def time_inside(name: str, every: int, steps: int, batch: int) -> float:
    """Seconds spent inside gradmedic's hooks per second of training: robust to machine noise on the CPU,
    where every op in a hook runs synchronously. (Misses cache effects on the user's own work.)"""
    from gradmedic import monitor as monitor_module

    inside = [0.0]
    original = monitor_module.Monitor._guard

    def timed_guard(self: monitor_module.Monitor, fn: Callable[..., object]) -> Callable[..., None]:
        guarded = original(self, fn)

        def timed(*args: object, **kwargs: object) -> None:
            start = time.perf_counter()
            guarded(*args, **kwargs)
            inside[0] += time.perf_counter() - start

        return timed

    monitor_module.Monitor._guard = timed_guard  # type: ignore[method-assign]
    try:
        torch.manual_seed(0)
        model = MODELS[name]()
        opt = torch.optim.Adam(model.parameters(), 1e-4)
        run = make_step(model, opt, torch.randn(batch, 512), torch.randint(0, 10, (batch,)))
        time_block(run, 10)
        monitor = gradmedic.watch(model, opt, config=Config(every=every, warmup_steps=0), console=False)
        total = time_block(run, steps) * steps
        monitor.close()
    finally:
        monitor_module.Monitor._guard = original  # type: ignore[method-assign]
    return inside[0] / (total - inside[0])


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
    print(f"{'configuration':34s} {'plain ms/step':>14s} {'watched ms/step':>16s} {'ratio':>7s} {'in hooks':>9s}")
    configurations = [
        ("plain vs plain (noise floor)", 0),
        (f"gradmedic default (every={Config().every})", Config().every),
        ("gradmedic full stats (every=1)", 1),
    ]
    for label, every in configurations:
        ratio, tp, tw = measure(args.model, every, args.rounds, args.block, args.batch)
        inside = f"{1 + time_inside(args.model, every, 200, args.batch):9.3f}" if every else f"{'-':>9s}"
        print(f"{label:34s} {tp * 1e3:14.2f} {tw * 1e3:16.2f} {ratio:7.3f} {inside}")


if __name__ == "__main__":
    main()
