"""What counting activations on a sample saves, and how close its fractions come, side by side.

gradmedic counts the zeros and the saturated elements of a large activation on a fixed sample of
COUNT_RUNS runs of COUNT_RUN contiguous elements (probe/activations.py); the unit maxima stay exact.
For every activation gradmedic measures on a sampled step of each workload (benchmarks/workloads.py,
plus a saturating tanh MLP and a ReLU MLP with many dead units), this prints: the time of the counts
over every element against the counts over the sample (alternating blocks, one process, hot caches),
and the largest difference between the sampled and the exact zero and saturated fractions over a few
training steps. Never asserted in tests.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/activation_sample.py
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

if __package__ in (None, ""):  # run as a script: make the ``benchmarks`` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch
from torch import nn

import gradmedic
from benchmarks import workloads
from gradmedic.probe import activations

MARGIN = gradmedic.Config().saturation_margin
Captured = tuple[torch.Tensor, str | None]  # (activation, the kind gradmedic counted it as)
REPEATS = 5  # calls per timed block


def saturating_mlp() -> workloads.Workload:
    """Six tanh layers of width 512 with weights three times too large: most units saturate."""
    w = workloads.make("mlp")
    for m in w.model.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=3.0 / m.in_features**0.5)
    w.model = nn.Sequential(*[nn.Tanh() if isinstance(m, nn.ReLU) else m for m in w.model])
    w.optimizer = torch.optim.Adam(w.model.parameters(), lr=1e-3)
    return w


def dying_mlp() -> workloads.Workload:
    """The MLP with biases pushed negative: a large share of its ReLU units never fire."""
    w = workloads.make("mlp")
    with torch.no_grad():
        for m in w.model.modules():
            if isinstance(m, nn.Linear):
                m.bias.fill_(-0.5)
    return w


def captured_steps(w: workloads.Workload, steps: int) -> list[list[Captured]]:
    """The activations gradmedic reduces on each of the first ``steps`` steps (all sampled), as copies."""
    seen: list[Captured] = []
    original = activations.reduce_activation

    def capture(x: torch.Tensor, unit_dim: int, kind: str | None, *args: object) -> object:
        seen.append((x.detach().clone(), kind))
        return original(x, unit_dim, kind, *args)  # type: ignore[arg-type]

    activations.reduce_activation = capture  # type: ignore[assignment]
    out = []
    try:
        with gradmedic.watch(w.model, w.optimizer, console=False) as monitor:
            for _ in range(steps):
                loss = w.plain_step()
                monitor.observe_loss(loss)
                out.append(list(seen))
                seen.clear()
    finally:
        activations.reduce_activation = original
    return out


def fractions(x: torch.Tensor) -> tuple[float, float, float]:
    """(zero, sigmoid-saturated, tanh-saturated) fractions of the elements of ``x``."""
    x = x.float()
    return (
        float((x == 0).float().mean()),
        float(((x - 0.5).abs() > 0.5 - MARGIN).float().mean()),
        float((x.abs() > 1 - 2 * MARGIN).float().mean()),
    )


def block_us(fn: Callable[[list[Captured], torch.Tensor], None], xs: list[Captured], scratch: torch.Tensor) -> float:
    start = time.perf_counter()
    for _ in range(REPEATS):
        fn(xs, scratch)
    return (time.perf_counter() - start) / REPEATS * 1e6


def counts_whole(xs: list[Captured], scratch: torch.Tensor) -> None:
    """The counts over every element, into a work space as large as the largest activation."""
    zero = torch.zeros(())
    for x, kind in xs:
        flat = x.reshape(-1)
        activations._counts(flat, kind, MARGIN, scratch[0, : flat.numel()], zero)  # type: ignore[arg-type]


def counts_sample(xs: list[Captured], scratch: torch.Tensor) -> None:
    """The counts as gradmedic takes them: on the sample's strided view, into a scratch row."""
    zero = torch.zeros(())
    for x, kind in xs:
        sample = activations.count_sample(x)
        out = scratch[0, : sample.numel()].view(sample.shape)
        activations._counts(sample, kind, MARGIN, out, zero)  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=5, help="sampled steps whose fractions are compared")
    parser.add_argument("--rounds", type=int, default=10, help="alternating timing blocks per workload")
    args = parser.parse_args()
    torch.manual_seed(0)
    cases: dict[str, Callable[[], workloads.Workload]] = {
        name: (lambda n=name: workloads.make(n)) for name in workloads.WORKLOADS
    }
    cases["tanh MLP, saturating"] = saturating_mlp
    cases["ReLU MLP, dying"] = dying_mlp
    print(f"sample: {activations.COUNT_RUNS} runs of {activations.COUNT_RUN} elements ({activations.COUNT_SAMPLE})\n")
    print(
        "| workload | activations | sampled | counts, every element (µs) | counts, sample (µs) | max abs. error, zero fraction | max abs. error, saturated fraction |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, make in cases.items():
        steps = captured_steps(make(), args.steps)
        xs = steps[-1]
        scratch = torch.empty(1, max(max(x.numel() for x, _ in xs), activations.COUNT_SAMPLE))
        whole, sample = 0.0, 0.0
        for r in range(args.rounds):
            for which in ("whole", "sample") if r % 2 == 0 else ("sample", "whole"):
                if which == "whole":
                    whole += block_us(counts_whole, xs, scratch)
                else:
                    sample += block_us(counts_sample, xs, scratch)
        zero_err = sat_err = 0.0
        for step in steps:
            for x, kind in step:
                exact, estimate = fractions(x), fractions(activations.count_sample(x))
                zero_err = max(zero_err, abs(exact[0] - estimate[0]))
                sat = 1 if kind == "sigmoid" else 2
                if kind in (None, "sigmoid", "tanh"):
                    sat_err = max(sat_err, abs(exact[sat] - estimate[sat]))
        n_sampled = sum(x.numel() > activations.COUNT_SAMPLE for x, _ in xs)
        print(
            f"| {name} | {len(xs)} | {n_sampled} | {whole / args.rounds:.0f} | {sample / args.rounds:.0f} "
            f"| {zero_err:.4f} | {sat_err:.4f} |"
        )


if __name__ == "__main__":
    main()
