"""Where gradmedic's time goes, per workload, at default settings and with full statistics every step.

Wraps gradmedic's hooks and its main internal steps with wall-clock timers (a stack, so each
component's time is its own, without what it calls), trains a workload under ``gradmedic.watch``
past the dense first steps, and prints the microseconds per training step of each component, next
to the plain step time. On the CPU every op runs synchronously, so a component's time is its cost.
The timers themselves add about a microsecond per call. Names of internals may change with src:
a component that no longer exists is skipped.

Then, per workload at default settings, the wall-clock step time at each phase of the sampling
period (phase 0 is the sampled step), each over the median plain step, in alternating blocks: this
shows the costs that the hook timers cannot see (the detectors run at the next step's start, cache
and allocator effects on the user's own work).

    .venv/bin/python benchmarks/profile_gradmedic.py --threads 1
"""

from __future__ import annotations

import argparse
import functools
import importlib
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

if __package__ in (None, ""):  # run as a script: make the ``benchmarks`` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

import gradmedic
from benchmarks import workloads

# (module, class, method) -> component label
METHODS: dict[tuple[str, str, str], str] = {
    ("gradmedic.probe.gradients", "GradientProbe", "before_step"): "before step: grad + weight norms, weight snapshot",
    ("gradmedic.probe.gradients", "GradientProbe", "after_step"): "after step: update norms",
    ("gradmedic.monitor", "Monitor", "_finalize"): "after step: pack, one host transfer, unpack",
    ("gradmedic.detectors.engine", "Engine", "update"): "detectors (Engine.update)",
    ("gradmedic.sinks.base", "SinkSet", "write_step"): "sinks",
    ("gradmedic.probe.activations", "Site", "add"): "per-layer forward hooks: activation reductions",
    ("gradmedic.probe.sentinel", "Sentinel", "record_output"): "every step: output sentinel (a sum, without a loss)",
    ("gradmedic.probe.sentinel", "Sentinel", "record_loss"): "every step: loss sentinel (keeps the 0-d loss)",
    ("gradmedic.monitor", "Monitor", "observe_loss"): "every step: observe_loss (rest)",
}
# hooks run through Monitor._guard, by the wrapped function's name
HOOKS: dict[str, str] = {
    "_root_pre": "every step: root pre-hook (rest)",
    "_root_post": "every step: root post-hook (rest)",
    "_before_step": "every step: optimizer pre-hook (rest)",
    "_after_step": "every step: optimizer post-hook (rest: step count, arm/disarm)",
    "hook": "per-layer forward hooks: dispatch, producer tracking (rest)",
}


class Timers:
    """Exclusive wall time per label: a parent's time excludes its timed children."""

    def __init__(self) -> None:
        self.total: dict[str, float] = {}
        self._stack: list[float] = []  # children's time, per open frame

    def wrap(self, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            self._stack.append(0.0)
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                children = self._stack.pop()
                self.total[label] = self.total.get(label, 0.0) + elapsed - children
                if self._stack:
                    self._stack[-1] += elapsed

        return timed


def instrument(timers: Timers) -> Callable[[], None]:
    """Patch the timers in; returns the function that takes them out again."""
    undo: list[tuple[Any, str, Any]] = []
    for (module_name, cls_name, method), label in METHODS.items():
        cls = getattr(importlib.import_module(module_name), cls_name, None)
        original = getattr(cls, method, None) if cls is not None else None
        if original is not None:
            undo.append((cls, method, original))
            setattr(cls, method, timers.wrap(label, original))
    monitor_cls = importlib.import_module("gradmedic.monitor").Monitor
    guard = getattr(monitor_cls, "_guard", None)
    if guard is not None:

        def timed_guard(monitor: Any, fn: Callable[..., Any]) -> Callable[..., Any]:
            label = HOOKS.get(getattr(fn, "__name__", ""), "other hooks")
            return guard(monitor, timers.wrap(label, fn))

        undo.append((monitor_cls, "_guard", guard))
        monitor_cls._guard = timed_guard

    def restore() -> None:
        for cls, method, original in reversed(undo):
            setattr(cls, method, original)

    return restore


def profile(model: str, every: int | None, steps: int) -> tuple[float, dict[str, float]]:
    """Returns (plain ms/step, component -> µs per step)."""
    w = workloads.make(model)
    for _ in range(5):
        w.plain_step()
    start = time.perf_counter()
    for _ in range(20):
        w.plain_step()
    plain = (time.perf_counter() - start) / 20
    timers = Timers()
    restore = instrument(timers)
    try:
        monitor = gradmedic.watch(w.model, w.optimizer, every=every, console=False)

        def step() -> None:
            w.optimizer.zero_grad(set_to_none=True)
            loss = w.loss_fn(w.model(w.x), w.y)
            loss.backward()
            w.optimizer.step()
            monitor.observe_loss(loss.detach())

        for _ in range(30):  # past the dense first 20 steps
            step()
        timers.total.clear()
        for _ in range(steps):
            step()
        monitor.close()
    finally:
        restore()
    return plain * 1e3, {k: 1e6 * v / steps for k, v in timers.total.items()}


def phases(model: str, rounds: int) -> tuple[float, list[float]]:
    """Median plain step (ms), and per phase of the sampling period the median watched step over it."""
    from benchmarks.tools import TOOLS

    w = workloads.make(model)
    for _ in range(20):
        w.plain_step()
    tool = TOOLS["gradmedic"].cls()()
    tool.start(w)
    period = tool.period
    counter = [0]

    def watched_step() -> float:
        start = time.perf_counter()
        tool.step(w, counter[0])
        counter[0] += 1
        return time.perf_counter() - start

    def plain_step() -> float:
        start = time.perf_counter()
        w.plain_step()
        return time.perf_counter() - start

    for _ in range(30):  # past the dense first 20 steps; the next step is a sampled one
        watched_step()
    plain: list[float] = []
    watched: list[list[float]] = [[] for _ in range(period)]
    for _ in range(rounds):
        tool.pause()
        plain += [plain_step() for _ in range(period)]
        tool.resume()
        for phase in range(period):
            watched[phase].append(watched_step())
    tool.close()
    base = statistics.median(plain)
    return base * 1e3, [statistics.median(v) / base for v in watched]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(workloads.WORKLOADS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=100, help="timed steps per configuration")
    parser.add_argument("--rounds", type=int, default=20, help="rounds of the per-phase measurement")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for model in args.models.split(","):
        for every in (None, 1):
            plain, parts = profile(model, every, args.steps)
            label = "default (every=10)" if every is None else "every=1"
            total = sum(parts.values())
            print(f"\n#### {model}, {label}: plain step {plain:.1f} ms; gradmedic {total:.0f} µs per step\n")
            print("| component | µs per step | % of plain step |")
            print("|---|---:|---:|")
            for name, us in sorted(parts.items(), key=lambda kv: -kv[1]):
                print(f"| {name} | {us:.0f} | {100 * us / (1e3 * plain):.2f} |")
            print(f"| **all of gradmedic** | **{total:.0f}** | **{100 * total / (1e3 * plain):.2f}** |")
    print("\n#### Wall-clock step time by phase of the sampling period, default settings, over the plain step\n")
    rows = []
    for model in args.models.split(","):
        base, ratios = phases(model, args.rounds)
        cells = " | ".join(f"{r:.3f}" for r in ratios)
        rows.append(f"| {model} | {base:.1f} | {cells} | {statistics.mean(ratios):.3f} |")
        width = len(ratios)
    print("| workload | plain ms | " + " | ".join(f"phase {i}" for i in range(width)) + " | mean |")
    print("|---|---:|" + "---:|" * (width + 1))
    print("\n".join(rows))


if __name__ == "__main__":
    main()
