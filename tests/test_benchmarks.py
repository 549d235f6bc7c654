"""Smoke tests of the benchmark scripts at minimal sizes: they run and their tables format.

Nothing here asserts a timing or a detection score (benchmarks are never asserted), and nothing
needs the peers' virtual environments.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import pytest
import torch

from benchmarks import overhead, overhead_cell, scoring, workloads
from benchmarks.capture import run_case
from benchmarks.suite import CASES
from benchmarks.tools import TOOLS
from benchmarks.tools.base import HookStash


def test_hook_stash_takes_out_and_puts_back_only_the_tools_hooks() -> None:
    w = workloads.make("mlp", batch=4)
    mine = w.model.register_forward_hook(lambda *a: None)  # the user's own hook stays
    stash = HookStash(w)
    calls: list[str] = []
    w.model[0].register_forward_hook(lambda *a: calls.append("fwd"))
    w.model[0].weight.register_hook(lambda g: calls.append("grad"))
    w.optimizer.register_step_post_hook(lambda *a: calls.append("opt"))
    assert stash.pause() == 3
    w.plain_step()
    assert calls == [] and len(w.model._forward_hooks) == 1
    stash.resume()
    w.plain_step()
    assert sorted(calls) == ["fwd", "grad", "opt"]
    mine.remove()


def test_overhead_cell_runs_gradmedic_and_plain() -> None:
    threads = torch.get_num_threads()
    try:
        for tool in ("plain", "gradmedic"):
            result = overhead_cell.run_cell(tool, "mlp", rounds=1, block_seconds=0.001, budget=1.0, batch=8)
            assert result["ok"], result
            assert result["ratio"] > 0 and result["cpu_ratio"] > 0 and result["peak_rss_mb"] >= result["plain_rss_mb"]
    finally:
        torch.set_num_threads(threads)


def test_overhead_table_reports_a_missing_peer() -> None:
    missing = overhead.run_cell(replace(TOOLS["wandb"], venv="no-such-venv"), "mlp", argparse.Namespace())
    assert not missing["ok"] and "setup_peers.sh" in missing["error"]
    table = overhead.tables([missing], ["wandb"], ["mlp"])
    assert "fails [1]" in table and "setup_peers.sh" in table


def test_repeated_cells_report_medians_and_every_ratio() -> None:
    def run(ratio: float, in_hooks: float) -> dict[str, object]:
        figures = dict(ratio=ratio, cpu_ratio=ratio - 0.005, median_ratio=ratio, in_hooks=in_hooks)
        figures.update(plain_ms=10.0, watched_ms=10 * ratio)
        return dict(tool="gradmedic", model="mlp", ok=True, peak_rss_mb=110.0, plain_rss_mb=100.0, **figures)

    failed = {"tool": "gradmedic", "model": "mlp", "ok": False, "stage": "run", "error": "boom"}
    merged = overhead.combine([run(1.04, 1.02), failed, run(1.01, 1.01), run(1.02, 1.03)])
    assert merged["ok"] and merged["ratio"] == 1.02 and merged["in_hooks"] == 1.02
    assert merged["ratios"] == [1.04, 1.01, 1.02]
    assert overhead.combine([failed]) == failed
    merged["block"], merged["rounds"], merged["workload"] = 10, 16, "mlp"
    assert merged["cpu_ratio"] == pytest.approx(1.015)
    table = overhead.tables([merged], ["gradmedic"], ["mlp"])
    assert "1.040, 1.010, 1.020" in table and "1.035, 1.005, 1.015" in table
    assert "| gradmedic, default settings | 1.015 |" in table.split("### CPU-time ratio")[1]


def test_detection_scores_a_small_suite() -> None:
    cases = [replace(CASES[name], steps=40) for name in ("dead_born_bias_layer2_w128", "healthy_relu_d2_w128_adam")]
    results = scoring.outcomes([run_case(c) for c in cases])
    assert {o.system for o in results} == set(scoring.SYSTEMS)
    for table in (scoring.class_table(results), scoring.healthy_table(results), scoring.runs_table(results)):
        assert table.startswith("|")


def test_compiled_cells_say_what_watching_added_to_the_compiled_code() -> None:
    figures = dict(ratio=1.03, median_ratio=1.02, in_hooks=1.01, plain_ms=10.0, watched_ms=10.3, block=10, rounds=8)
    cell = dict(tool="gradmedic-compiled", model="mlp", ok=True, peak_rss_mb=110.0, plain_rss_mb=100.0, **figures)
    cell.update(workload="mlp, torch.compile", compile_s=42.0, graphs_added=0, graph_breaks_added=0)
    table = overhead.tables([cell], ["gradmedic-compiled"], ["mlp"])
    assert "| gradmedic, default settings, torch.compile | 1.030 |" in table
    assert "gradmedic-compiled on mlp: compiled in 42 s; graphs added while watched 0, graph breaks added 0" in table


@pytest.mark.slow
def test_report_snapshot_is_the_same_twice() -> None:
    from benchmarks.report_snapshot import snapshot

    first = snapshot(["born_dead_relu"])
    assert set(first) == {"born_dead_relu/plain", "born_dead_relu/treat", "born_dead_relu/checkup"}
    assert first["born_dead_relu/treat"]["report"]["treatments"]
    assert snapshot(["born_dead_relu"]) == first  # seeded: a difference between two commits is the change's
