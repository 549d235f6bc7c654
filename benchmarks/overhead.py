"""Step-time and memory overhead of gradmedic and of the peers, on four models, in one run.

Each (tool x model) cell runs in a subprocess of the tool's own virtual environment
(``benchmarks/overhead_cell.py``): one model instance trains in blocks that alternate between plain
and watched, so drift in the machine's speed hits both alike. Prints Markdown tables: the step-time
ratio (watched over plain) with an A/A row as the noise floor, the same ratio in CPU time, the peak-memory overhead, and the
details of every cell. Never asserted in tests: timings are noisy.

    bash benchmarks/setup_peers.sh                  # once: the peers' environments
    .venv/bin/python benchmarks/overhead.py         # all tools, all models (a few minutes)
    .venv/bin/python benchmarks/overhead.py --quick # smoke run
    .venv/bin/python benchmarks/overhead.py --tools plain,gradmedic --models mlp --rounds 30
    .venv/bin/python benchmarks/overhead.py --repeats 3 # each cell in 3 fresh processes, medians
    .venv/bin/python benchmarks/overhead.py --tools plain,gradmedic,plain-compiled,gradmedic-compiled
                                                        # torch.compile rows next to the eager ones

Where TensorFlow is installed, a Keras row follows (``benchmarks/overhead_keras.py`` in a subprocess:
``model.fit`` plain against watched by ``gradmedic.keras.GradmedicCallback``); ``--no-keras`` leaves it out.
    .venv/bin/python benchmarks/overhead.py --ddp       # and a DDP row (2 ranks, torchrun): overhead_ddp.py
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the ``benchmarks`` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.overhead_keras import table as keras_table
from benchmarks.tools import TOOLS, ToolSpec
from benchmarks.workloads import WORKLOADS

ROOT = Path(__file__).resolve().parent.parent
PEERS = ROOT / "benchmarks" / ".venvs"


def python_for(spec: ToolSpec) -> tuple[Path | None, str]:
    """The interpreter of the tool's environment, or None and the reason it is missing."""
    if not spec.venv:
        return Path(sys.executable), ""
    python = PEERS / spec.venv / "bin" / "python"
    error = PEERS / f"{spec.venv}.error"
    if error.exists():
        return None, "install failed: " + " / ".join(error.read_text().split("\n")[-3:]).strip(" /")
    if not (PEERS / spec.venv / ".installed").exists():
        return None, "not set up: run bash benchmarks/setup_peers.sh"
    return python, ""


def run_cell(spec: ToolSpec, model: str, args: argparse.Namespace) -> dict[str, Any]:
    python, reason = python_for(spec)
    if python is None:
        return {"tool": spec.name, "model": model, "ok": False, "stage": "install", "error": reason}
    command = [str(python), "-m", "benchmarks.overhead_cell", "--tool", spec.name, "--model", model]
    command += ["--threads", str(args.threads), "--rounds", str(args.rounds)]
    command += ["--block-seconds", str(args.block_seconds), "--budget", str(args.budget)]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "PYTHONPATH": str(ROOT), "WANDB_SILENT": "true"}
    timeout = args.budget + args.cell_timeout
    try:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {
            "tool": spec.name,
            "model": model,
            "ok": False,
            "stage": "run",
            "error": f"timed out after {timeout:.0f} s",
        }
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("{"):
            result: dict[str, Any] = json.loads(line)
            return result
    tail = [line for line in done.stderr.splitlines() if line.strip()][-1:] or [f"exit status {done.returncode}"]
    return {"tool": spec.name, "model": model, "ok": False, "stage": "run", "error": tail[0][:300]}


def combine(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One cell measured in several fresh processes: the median of each figure, and every ratio.

    A process's heap layout sets how often the step page-faults, which moves a cell's ratio by a few
    percent from one process to the next; the median over processes is steadier than any one run.
    """
    ok = [r for r in runs if r["ok"]]
    if not ok:
        return runs[0]
    if len(ok) == 1:
        return ok[0]
    keys = ("ratio", "cpu_ratio", "median_ratio", "in_hooks", "plain_ms", "watched_ms", "peak_rss_mb", "plain_rss_mb")
    merged = dict(ok[0])
    for key in keys:
        values = [r[key] for r in ok if r.get(key) is not None]
        merged[key] = statistics.median(values) if values else None
    merged["ratios"] = [r["ratio"] for r in ok]
    merged["cpu_ratios"] = [r["cpu_ratio"] for r in ok if r.get("cpu_ratio") is not None]
    return merged


def run_keras(args: argparse.Namespace) -> dict[str, Any]:
    """The Keras row: ``benchmarks/overhead_keras.py`` in a subprocess of this environment."""
    missing = [p for p in ("tensorflow", "keras") if importlib.util.find_spec(p) is None]
    if missing:
        return {"ok": False, "error": f"{' and '.join(missing)} not installed (pip install 'gradmedic[keras]')"}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "keras.json"
        command = [sys.executable, "-m", "benchmarks.overhead_keras", "--rounds", str(args.keras_rounds)]
        command += ["--threads", str(args.threads), "--json", str(out)]
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "PYTHONPATH": str(ROOT)}
        env["KERAS_BACKEND"] = "tensorflow"
        timeout = args.cell_timeout * 4
        try:
            done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"ok": False, "error": f"timed out after {timeout:.0f} s"}
        if done.returncode != 0 or not out.exists():
            tail = [line for line in done.stderr.splitlines() if line.strip()][-1:] or [f"exit {done.returncode}"]
            return {"ok": False, "error": tail[0][:300]}
        result: dict[str, Any] = json.loads(out.read_text())
    return {"ok": True, **result}


def keras_section(result: dict[str, Any]) -> str:
    head = "### Keras: `model.fit` plain and watched (`gradmedic.keras.GradmedicCallback`, defaults)"
    if not result["ok"]:
        return f"{head}\n\nnot measured: {result['error']}"
    where = f"{result['model']}; {result['rounds']} rounds of {result['steps']} steps, {result['threads']} thread(s)"
    return f"{head}\n\n{where}; ratios are medians over rounds (interquartile range)\n\n{keras_table(result['rows'])}"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, load average at start {load}"


def tables(results: list[dict[str, Any]], tools: list[str], models: list[str]) -> str:
    by = {(r["tool"], r["model"]): r for r in results}
    notes: dict[str, int] = {}

    def failure(r: dict[str, Any]) -> str:
        text = f"{r['stage']}: {r['error']}"
        notes.setdefault(text, len(notes) + 1)
        return f"fails [{notes[text]}]"

    head = "| tool | " + " | ".join(models) + " | per-layer statistics |"
    rule = "|---|" + "---:|" * len(models) + "---|"
    time_rows = [head, rule]
    cpu_rows = [head, rule]
    memory_rows = ["| tool | " + " | ".join(models) + " |", "|---|" + "---:|" * len(models)]
    for name in tools:
        cls = TOOLS[name].cls()
        cells, cpus, mems = [], [], []
        for model in models:
            r = by.get((name, model))
            if r is None:
                cells.append("-")
                cpus.append("-")
                mems.append("-")
            elif not r["ok"]:
                cells.append(failure(r))
                cpus.append(cells[-1])
                mems.append("-")
            else:
                cells.append(f"{r['ratio']:.3f}")
                cpus.append(f"{r['cpu_ratio']:.3f}" if r.get("cpu_ratio") is not None else "-")
                extra = r["peak_rss_mb"] - r["plain_rss_mb"]
                mems.append(f"+{extra:.0f} MB ({r['peak_rss_mb'] / r['plain_rss_mb']:.2f}x)")
        time_rows.append(f"| {cls.label} | " + " | ".join(cells) + f" | {cls.per_layer or 'no'} |")
        cpu_rows.append(f"| {cls.label} | " + " | ".join(cpus) + f" | {cls.per_layer or 'no'} |")
        memory_rows.append(f"| {cls.label} | " + " | ".join(mems) + " |")

    detail = [
        "| tool | model | plain ms/step | watched ms/step | ratio | median of rounds | in hooks | block x rounds "
        "| ratio per process | CPU-time ratio per process |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in results:
        if r["ok"]:
            inside = f"{r['in_hooks']:.3f}" if r.get("in_hooks") is not None else "-"
            spread = ", ".join(f"{v:.3f}" for v in r.get("ratios", [r["ratio"]]))
            cpu_spread = ", ".join(f"{v:.3f}" for v in r.get("cpu_ratios", [r.get("cpu_ratio")]) if v is not None)
            detail.append(
                f"| {r['tool']} | {r['model']} | {r['plain_ms']:.2f} | {r['watched_ms']:.2f} | {r['ratio']:.3f} "
                f"| {r['median_ratio']:.3f} | {inside} | {r['block']} x {r['rounds']} | {spread} | {cpu_spread or '-'} |"
            )
    compiled = [
        f"- {r['tool']} on {r['model']}: compiled in {r['compile_s']:.0f} s; graphs added while watched "
        f"{r['graphs_added']}, graph breaks added {r['graph_breaks_added']}"
        for r in results
        if r["ok"] and "graphs_added" in r and TOOLS[r["tool"]].cls().compiles
    ]
    if compiled:
        detail += ["", "torch.compile cells (dynamo's counters, after the plain warm-up and after the rounds):"]
        detail += compiled
    settings = [f"- {TOOLS[n].cls().label}: {TOOLS[n].cls().settings}" for n in tools]
    footnotes = [f"[{i}] {text}" for text, i in notes.items()]
    workloads = sorted({f"- {r['model']}: {r['workload']}" for r in results if "workload" in r})
    return "\n".join(
        ["### Step-time ratio (watched / plain)", "", *time_rows, "", *footnotes, ""]
        + ["### CPU-time ratio (watched / plain, this process's CPU time: steadier on a shared machine)", ""]
        + [*cpu_rows, ""]
        + ["### Peak memory (RSS) over the plain run", "", *memory_rows, ""]
        + ["### Cells", "", *detail, "", "Workloads:", *workloads, "", "Settings:", *settings]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(WORKLOADS), help="comma-separated, from " + ",".join(WORKLOADS))
    parser.add_argument("--tools", default=",".join(TOOLS), help="comma-separated, from " + ",".join(TOOLS))
    parser.add_argument("--threads", type=int, default=2, help="torch threads (and OMP_NUM_THREADS) per cell")
    parser.add_argument("--rounds", type=int, default=8, help="plain/watched block pairs per cell")
    parser.add_argument("--block-seconds", type=float, default=0.4, help="about how long one block runs")
    parser.add_argument("--budget", type=float, default=30.0, help="seconds of timed rounds per cell, at most")
    parser.add_argument("--cell-timeout", type=float, default=240.0, help="seconds per cell beyond the budget")
    parser.add_argument("--repeats", type=int, default=1, help="fresh processes per cell; figures are their medians")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 short rounds per cell")
    parser.add_argument("--setup-peers", action="store_true", help="run benchmarks/setup_peers.sh first")
    parser.add_argument("--json", type=Path, help="also write every cell's result here (after each cell)")
    parser.add_argument("--tables-from", type=Path, help="print the tables of a saved --json file; run nothing")
    parser.add_argument("--keras-rounds", type=int, default=16, help="rounds of the Keras row")
    parser.add_argument("--no-keras", action="store_true", help="leave out the Keras row")
    parser.add_argument("--ddp", action="store_true", help="also the DDP row: 2 ranks under torchrun (overhead_ddp.py)")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.block_seconds, args.budget, args.keras_rounds = 2, 0.1, 5.0, 2
    models = [m for m in args.models.split(",") if m]
    tools = [t for t in args.tools.split(",") if t]
    unknown = sorted(set(models) - set(WORKLOADS)) + sorted(set(tools) - set(TOOLS))
    if unknown:
        parser.error(f"unknown model or tool: {', '.join(unknown)}")
    if args.tables_from:
        saved = json.loads(args.tables_from.read_text())
        print(tables(saved["results"], tools, models))
        return
    if args.setup_peers:
        subprocess.run(["bash", str(ROOT / "benchmarks" / "setup_peers.sh")], check=False)

    started = time.time()
    print(f"Machine: {machine()}; {args.threads} torch threads", file=sys.stderr)
    results = []
    for model in models:
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in tools}
        for _ in range(max(1, args.repeats)):  # the tools take turns, so drift hits them alike
            for name in tools:
                if runs[name] and not runs[name][-1]["ok"]:
                    continue  # a tool that failed once fails again
                t0 = time.time()
                r = run_cell(TOOLS[name], model, args)
                status = f"{r['ratio']:.3f}" if r["ok"] else f"FAILED ({r['stage']}: {r['error']})"
                print(f"  {model:12s} {name:22s} {status}  [{time.time() - t0:.0f} s]", file=sys.stderr)
                runs[name].append(r)
        for name in tools:
            results.append(combine(runs[name]))
        if args.json:
            args.json.write_text(json.dumps({"machine": machine(), "results": results}, indent=1))
    torch_version = next((r["torch"] for r in results if r.get("ok")), "?")
    print(f"Measured {datetime.date.today()} on: {machine()}; torch {torch_version}, {args.threads} threads.")
    print(
        f"Rounds {args.rounds}, blocks of about {args.block_seconds} s, {max(1, args.repeats)} process(es) per cell; "
        f"{time.time() - started:.0f} s in all.\n"
    )
    print(tables(results, tools, models))
    if "gradmedic" in tools and not args.no_keras:
        t0 = time.time()
        keras = run_keras(args)
        print(
            f"  keras row  {'ok' if keras['ok'] else 'FAILED: ' + keras['error']}  [{time.time() - t0:.0f} s]",
            file=sys.stderr,
        )
        print("\n" + keras_section(keras))
    if args.ddp:
        from benchmarks.overhead_ddp import measure, table

        rounds = 4 if args.quick else 12
        print("\n" + table(measure(rounds, block=20, warmup=40, width=256), width=256))


if __name__ == "__main__":
    main()
