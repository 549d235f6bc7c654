"""One cell of the overhead table: one tool on one workload, run inside the tool's own environment.

    python -m benchmarks.overhead_cell --tool gradmedic --model mlp --threads 1

The workload first trains plain for a while (warm-up; its step time sets the block length, and the
process's peak RSS then is the plain peak). Then the tool is imported and attached, trains a warm-up
of watched steps (past gradmedic's dense first 20), and plain and watched blocks alternate (ABBA
order) on the same model instance. Prints one JSON line: the step-time ratio as total watched time
over total plain time (which also counts a tool's rare expensive steps, such as wandb's every 100th),
the same ratio in this process's CPU time (steadier on a shared machine), the median of the per-round
ratios, the time inside the tool's hooks where it can tell, and the peak
RSS before and after the tool was attached.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import resource
import statistics
import sys
import time
import traceback
from typing import Any, Callable

import torch

from . import workloads
from .tools import TOOLS
from .tools.base import PeerUnsupported

WATCHED_WARMUP = 30  # steps: gradmedic samples densely on its first 20
WARMUP_SECONDS = 20.0  # ... or fewer steps when a tool is that slow (at least 2)


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn: Callable[[], None], n: int) -> float:
    """Total seconds for ``n`` calls of ``fn``."""
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return time.perf_counter() - start


def timed_cpu(fn: Callable[[], None], n: int) -> tuple[float, float]:
    """(wall seconds, this process's CPU seconds) for ``n`` calls of ``fn``. On a machine shared with
    other jobs the CPU time is the steadier measure: time spent preempted counts in wall time only."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def block_length(step_seconds: float, block_seconds: float, period: int) -> int:
    """Steps per block: about ``block_seconds`` long, a positive multiple of the tool's sampling period
    (so that every block sees the same sampling phase)."""
    return max(period, period * round(block_seconds / step_seconds / period))


def compiled_graphs() -> tuple[int, int] | None:
    """(graphs compiled, graph breaks) so far in this process, when torch.compile has been used."""
    if "torch._dynamo" not in sys.modules:
        return None
    from torch._dynamo.utils import counters

    return counters["stats"]["unique_graphs"], sum(counters["graph_break"].values())


def root_cause(exc: BaseException) -> BaseException:
    """The innermost exception of a chain: a peer's first failure, not the follow-up errors.

    An adapter that explains a failure raises its explanation from the original error: that one wins.
    """
    if isinstance(exc, PeerUnsupported):
        return exc
    while (inner := exc.__cause__ or exc.__context__) is not None:
        exc = inner
    return exc


def describe(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"


def run_cell(
    tool_name: str, model: str, rounds: int, block_seconds: float, budget: float, batch: int | None
) -> dict[str, Any]:
    stage = "build"
    out: dict[str, Any] = {"tool": tool_name, "model": model}
    built = time.perf_counter()
    try:
        w = workloads.make(model, batch)
        compiles = TOOLS[tool_name].cls().compiles
        if compiles:
            w = workloads.compiled(w)
        out["workload"] = w.description

        def plain_step() -> None:
            w.plain_step()

        timed(plain_step, 3)  # a compiled model compiles here
        if compiles:
            out["compile_s"] = round(time.perf_counter() - built, 1)
        probe = max(3, math.ceil(0.5 / (timed(plain_step, 3) / 3)))  # about half a second of plain steps
        plain_seconds = timed(plain_step, probe) / probe
        plain_peak = peak_rss_mb()
        graphs_before = compiled_graphs() if compiles else None

        stage = "attach"
        tool = TOOLS[tool_name].cls()()
        tool.start(w)
        counter = [0]

        def watched_step() -> None:
            tool.step(w, counter[0])
            counter[0] += 1

        stage = "watched steps"
        start = time.perf_counter()
        while counter[0] < WATCHED_WARMUP and (counter[0] < 2 or time.perf_counter() - start < WARMUP_SECONDS):
            watched_step()
        watched_seconds = (time.perf_counter() - start) / counter[0]
        # a slow tool gets shorter blocks and fewer rounds, so the cell stays within its time budget
        block = block_length(max(plain_seconds, watched_seconds), block_seconds, tool.period)
        rounds = max(1, min(rounds, int(budget / (block * (plain_seconds + watched_seconds)))))
        tool.pause()
        timed(plain_step, block)  # one untimed plain block: the first pause settles caches alike
        tool.resume()
        inside_before = tool.inside_seconds()

        def watched_block() -> tuple[float, float]:
            return timed_cpu(watched_step, block)

        def plain_block() -> tuple[float, float]:
            tool.pause()
            try:
                return timed_cpu(plain_step, block)
            finally:
                tool.resume()

        tp: list[float] = []
        tw: list[float] = []
        cp: list[float] = []
        cw: list[float] = []
        for r in range(rounds):
            for which in ("plain", "watched") if r % 2 == 0 else ("watched", "plain"):
                wall, cpu = plain_block() if which == "plain" else watched_block()
                (tp if which == "plain" else tw).append(wall)
                (cp if which == "plain" else cw).append(cpu)
        inside_after = tool.inside_seconds()
        if graphs_before is not None:  # what watching added to the compiled code: none of either is the goal
            graphs_after = compiled_graphs()
            assert graphs_after is not None
            out["graphs_added"] = graphs_after[0] - graphs_before[0]
            out["graph_breaks_added"] = graphs_after[1] - graphs_before[1]
        watched_peak = peak_rss_mb()
        stage = "close"
        tool.close()
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        cause = root_cause(exc)
        error = describe(exc) if cause is exc else f"{describe(cause)} (then {describe(exc)})"
        out.update(ok=False, stage=stage, error=error[:400])
        return out

    in_hooks = None
    if inside_before is not None and inside_after is not None:
        inside = inside_after - inside_before
        in_hooks = 1 + inside / (sum(tw) - inside)
    out.update(
        ok=True,
        block=block,
        rounds=rounds,
        plain_ms=1e3 * sum(tp) / (block * rounds),
        watched_ms=1e3 * sum(tw) / (block * rounds),
        ratio=sum(tw) / sum(tp),
        cpu_ratio=sum(cw) / sum(cp),
        median_ratio=statistics.median(a / b for a, b in zip(tw, tp)),
        in_hooks=in_hooks,
        plain_rss_mb=plain_peak,
        peak_rss_mb=watched_peak,
        torch=torch.__version__,
        threads=torch.get_num_threads(),
        python=platform.python_version(),
    )
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tool", choices=sorted(TOOLS), required=True)
    parser.add_argument("--model", choices=workloads.WORKLOADS, required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--block-seconds", type=float, default=0.5)
    parser.add_argument("--budget", type=float, default=30.0, help="seconds of timed rounds at most")
    parser.add_argument("--batch", type=int, default=None, help="override the workload's batch size")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    result = run_cell(args.tool, args.model, args.rounds, args.block_seconds, args.budget, args.batch)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
