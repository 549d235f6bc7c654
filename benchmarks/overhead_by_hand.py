"""Step-time overhead of watching a loop that updates its weights by hand (no optimizer), side by side.

One MLP trains with ``p -= lr * p.grad`` under ``torch.no_grad()``, in blocks that alternate between
plain and watched (``gradmedic.watch(model)``: one step per backward pass), so drift in the machine's
speed hits both alike. Prints the ratio of the median step times, watched over plain, at the default
sampling (every 10th step after 20 dense ones) and with sampling pushed out of reach (the every-step
cost alone). Never asserted in tests: timings are noisy.

    .venv/bin/python benchmarks/overhead_by_hand.py [--rounds 10] [--steps 50]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

import gradmedic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10, help="plain/watched block pairs")
    parser.add_argument("--steps", type=int, default=50, help="steps per block")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
    x, y = torch.randn(128, 256), torch.randint(0, 10, (128,))

    def block(monitor: gradmedic.Monitor | None) -> float:
        start = time.perf_counter()
        for _ in range(args.steps):
            model.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            if monitor is not None:
                monitor.observe_loss(loss)
            with torch.no_grad():
                for p in model.parameters():
                    p -= 0.01 * p.grad
        return (time.perf_counter() - start) / args.steps

    for label, config in [
        ("default sampling", gradmedic.Config()),
        ("every-step cost only", gradmedic.Config(warmup_steps=0, every=10**9)),
    ]:
        plain, watched = [], []
        block(None)  # warm-up
        for _ in range(args.rounds):
            plain.append(block(None))
            monitor = gradmedic.watch(model, console=False, config=config)
            block(monitor)  # the dense first steps are not what a long run pays
            watched.append(block(monitor))
            monitor.close()
        ratio = statistics.median(watched) / statistics.median(plain)
        print(f"{label:22s} plain {statistics.median(plain) * 1e3:.2f} ms/step, watched x{ratio:.3f}")


if __name__ == "__main__":
    main()
