"""Treatment in flight: each problem scenario untreated, treated, and its healthy twin, side by side.

Prints a Markdown table of the final loss (and accuracy on digits) on the full training set, the wall
time of each run, and what the treatment did. Run: ``python benchmarks/treatment.py [--seeds 0 1 2] [--only NAME ...]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import gradmedic
from gradmedic.demo.scenarios import SCENARIOS, RunResult, train


def _timed(name: str, seed: int, **kwargs: object) -> tuple[RunResult, float, gradmedic.Report | None]:
    start = time.perf_counter()
    result, report = train(SCENARIOS[name], seed=seed, **kwargs)  # type: ignore[arg-type]
    return result, time.perf_counter() - start, report


def _cell(results: list[RunResult]) -> str:
    loss = statistics.median(r.final_loss for r in results)
    accs = [r.accuracy for r in results if r.accuracy is not None]
    return f"{loss:.3g}" + (f" ({statistics.median(accs):.1%})" if accs else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", nargs="+", default=None, help="problem scenarios to run (default: all)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print("| problem | untreated | treated | healthy twin | time untreated / treated / twin | treatments (seed 0) |")
    print("|---|---|---|---|---|---|")
    for name, scenario in SCENARIOS.items():
        if scenario.healthy or (args.only and name not in args.only):
            continue
        rows: dict[str, list[RunResult]] = {"plain": [], "treated": [], "twin": []}
        times: dict[str, list[float]] = {"plain": [], "treated": [], "twin": []}
        actions = ""
        for seed in args.seeds:
            for key, run, kwargs in (
                ("plain", name, {}),
                ("treated", name, {"watch": gradmedic.watch, "console": False, "treat": True}),
                ("twin", scenario.twin, {}),
            ):
                result, seconds, report = _timed(run, seed, **kwargs)
                rows[key].append(result)
                times[key].append(seconds)
                if key == "treated" and seed == args.seeds[0] and report is not None:
                    actions = "; ".join(f"{t.remedy} at step {t.step} ({t.outcome})" for t in report.treatments)
        spent = " / ".join(f"{statistics.median(times[k]):.1f}s" for k in ("plain", "treated", "twin"))
        print(
            f"| {name} | {_cell(rows['plain'])} | {_cell(rows['treated'])} | "
            f"{scenario.twin}: {_cell(rows['twin'])} | {spent} | {actions} |"
        )


if __name__ == "__main__":
    main()
