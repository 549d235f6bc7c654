"""What reading the loss at backward() costs per step, in microseconds, measured side by side.

Two measurements on a tiny model (so that the fixed per-step cost is not hidden by the work):

* the pieces alone: a training step (forward, ``backward()``) plain, and with a ``LossReader`` listening
  (the shared ``torch.autograd.backward`` wrapper, one ``register_hook`` on the output, the gradient
  hook firing, the loss handed to a no-op);
* the whole monitor on unsampled steps: ``gradmedic.watch(model, optimizer)`` whose loss is read at
  ``backward()``, against the same monitor with the loss handed over by ``observe_loss`` (which skips the
  reading) and against no monitor.

Blocks of steps alternate between the variants, and each figure is the median over blocks. Time is the
thread's CPU time (``time.thread_time``), so that a machine shared with other work inflates it less than
wall time would (``--wall`` for wall time).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/loss_reader_cost.py
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
from gradmedic.probe.loss_reader import LossReader

Step = Callable[[], None]


CLOCK = [time.thread_time]


def _timed(step: Step, n: int) -> float:
    clock = CLOCK[0]
    start = clock()
    for _ in range(n):
        step()
    return (clock() - start) / n * 1e6


def _medians(steps: dict[str, Step], blocks: int, n: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(blocks):
        for name, step in steps.items():
            times[name].append(_timed(step, n))
    return {name: statistics.median(t) for name, t in times.items()}


def pieces(blocks: int, n: int) -> dict[str, float]:
    torch.manual_seed(0)
    model, x = nn.Linear(8, 1), torch.randn(16, 8)

    def plain() -> None:
        model(x).square().mean().backward()

    handed: list[torch.Tensor] = []
    reader = LossReader(handed.append)

    def read() -> None:
        out = model(x)
        reader.watch([out])
        out.square().mean().backward()
        handed.clear()

    try:
        return _medians({"plain": plain, "with LossReader": read}, blocks, n)
    finally:
        reader.close()


def monitor(blocks: int, n: int) -> dict[str, float]:
    torch.manual_seed(0)
    x, y = torch.randn(32, 16), torch.randint(0, 2, (32,))

    def loop(watch: bool, hand_over: bool) -> Step:
        model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 2))
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        config = gradmedic.Config(warmup_steps=0, every=10**9)  # step 0 sampled, no other
        mon = gradmedic.watch(model, opt, console=False, config=config) if watch else None

        def step() -> None:
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            if mon is not None and hand_over:
                mon.observe_loss(loss)

        step()  # the sampled step 0
        return step

    steps = {
        "no monitor": loop(False, False),
        "watch, observe_loss each step": loop(True, True),
        "watch, loss read at backward()": loop(True, False),
    }
    return _medians(steps, blocks, n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=15)
    parser.add_argument("--steps", type=int, default=300, help="steps per block")
    parser.add_argument("--wall", action="store_true", help="wall time instead of the thread's CPU time")
    args = parser.parse_args()
    if args.wall:
        CLOCK[0] = time.perf_counter
    torch.set_num_threads(1)
    for title, result in (("pieces", pieces(args.blocks, args.steps)), ("monitor", monitor(args.blocks, args.steps))):
        base = next(iter(result.values()))
        print(f"{title}:")
        for name, us in result.items():
            print(f"  {name:34s} {us:8.1f} us/step  ({us - base:+.1f} us, {us / base:.3f}x)")


if __name__ == "__main__":
    main()
