"""``gradmedic demo``: the lecture's three failures caught, explained and treated, next to their healthy twins,
and one Keras case (``model.fit`` under the Keras callback) where TensorFlow is installed."""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..monitor import watch
from ..records import Report
from ..report import IndexEntry, build_report, index_page
from .keras_case import KERAS_SCENARIOS, missing, train_keras
from .scenarios import SCENARIOS, RunResult, train


@dataclass(frozen=True)
class Pair:
    failure: str
    problem: str
    healthy: str
    treat: bool = True  # also run the failure with treatment in flight
    keras: bool = False  # Keras scenarios (demo/keras_case.py): skipped where TensorFlow is missing


PAIRS = {
    "vanishing": Pair("vanishing gradients", "deep_sigmoid", "deep_sigmoid_batchnorm"),
    "exploding": Pair("exploding gradients", "rnn_long_sequence", "rnn_clipped"),
    "dead": Pair("dead ReLU layers", "relu_high_lr", "relu_lower_lr"),
    # Keras treats explosions, NaN and divergence in flight, not vanishing gradients: advice only
    "keras": Pair("vanishing gradients, Keras", "keras_deep_sigmoid", "keras_deep_relu", treat=False, keras=True),
}


def expected(name: str) -> frozenset[str]:
    """The kinds a scenario must be diagnosed with (any one of them); empty for a healthy run."""
    return KERAS_SCENARIOS[name].expect if name in KERAS_SCENARIOS else SCENARIOS[name].expect


@dataclass(frozen=True)
class Outcome:
    name: str
    pair: Pair
    result: RunResult
    report: Report
    seconds: float
    treated: bool = False

    @property
    def is_problem(self) -> bool:
        return self.name == self.pair.problem

    @property
    def folder(self) -> str:
        return f"{self.name}_treated" if self.treated else self.name

    @property
    def role(self) -> str:
        return "treated in flight" if self.treated else "failure" if self.is_problem else "healthy twin"

    @property
    def label(self) -> str:
        return f"{self.name} + --treat" if self.treated else self.name

    @property
    def verdict_ok(self) -> bool:
        found = self.report.kinds(at_least="warning")
        if self.treated:
            return bool(self.report.treatments)
        return bool(found & expected(self.name)) if self.is_problem else not found


def _run_one(name: str, pair: Pair, out: Path, console: Console, treat: bool = False) -> Outcome:
    logdir = out / (f"{name}_treated" if treat else name)
    if logdir.is_dir():
        shutil.rmtree(logdir)  # the demo's own folder: a rerun replaces it rather than keeping old runs aside
    start = time.perf_counter()
    label = f"{name} + --treat" if treat else name
    columns = (TextColumn(f"  {label:32s}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        if name in KERAS_SCENARIOS:
            task = progress.add_task(name, total=KERAS_SCENARIOS[name].steps)
            result, report = train_keras(
                KERAS_SCENARIOS[name], logdir, progress=lambda step: progress.update(task, completed=step)
            )
        else:
            task = progress.add_task(name, total=SCENARIOS[name].steps)
            result, report = train(
                SCENARIOS[name],
                watch=watch,
                progress=lambda step: progress.update(task, completed=step),
                logdir=logdir,
                console=False,
                treat=treat,
            )
    seconds = time.perf_counter() - start
    (logdir / "report.json").write_text(json.dumps(report.to_dict(), indent=2, allow_nan=False))
    build_report(logdir)  # logdir/report.html
    outcome = Outcome(name, pair, result, report, seconds, treated=treat)
    _print_verdict(outcome, console)
    return outcome


def _print_verdict(o: Outcome, console: Console) -> None:
    console.print(f"  [bold]{o.label}[/] ({o.role}, {o.seconds:.1f}s, {_metric(o)})", markup=True)
    if o.treated:
        for t in o.report.treatments:
            console.print(f"    [bold green]step {t.step} TREATED {t.kind}[/]: {t.action}", markup=True)
            console.print(f"      why: {t.reason}; outcome: {t.outcome}", markup=False)
        return
    serious = [d for d in o.report.diagnoses if d.severity != "info"]
    if not serious:
        console.print("    [green]no problems found[/]", markup=True)
    for d in serious:
        style = "bold red" if d.severity == "error" else "yellow"
        console.print(f"    [{style}]{d.severity.upper()} {d.kind}[/] since step {d.first_step}", markup=True)
        console.print(f"    {d.message}", markup=False)
        if d.remedies:
            console.print(f"    fix: {d.remedies[0].summary}", markup=False)


def _metric(o: Outcome) -> str:
    if o.result.accuracy is not None:
        return f"accuracy {o.result.accuracy:.1%}"
    return f"loss {o.result.final_loss:.3g}"


def _table(outcomes: list[Outcome]) -> Table:
    table = Table(title="gradmedic demo", title_justify="left")
    table.add_column("failure")
    table.add_column("scenario", no_wrap=True)
    for column in ("diagnosis / treatment", "since step", "final", "ok"):
        table.add_column(column)
    for o in outcomes:
        serious = [d for d in o.report.diagnoses if d.severity != "info"]
        found = ", ".join(d.kind for d in serious) or "healthy"
        if o.treated:
            found = "; ".join(f"{t.remedy} (step {t.step})" for t in o.report.treatments) or "no treatment"
        table.add_row(
            o.pair.failure if o.is_problem and not o.treated else "",
            o.label,
            found,
            ", ".join(str(d.first_step) for d in serious) or "-",
            _metric(o),
            "[green]yes[/]" if o.verdict_ok else "[red]NO[/]",
        )
    return table


def write_index(outcomes: list[Outcome], root: Path) -> Path:
    """``root/index.html``: a link to each scenario's page, with its verdict."""
    entries = [
        IndexEntry(
            name=o.label,
            href=f"{o.folder}/report.html",
            verdict=(
                "; ".join(f"{t.remedy} at step {t.step}" for t in o.report.treatments) or "no treatment"
                if o.treated
                else ", ".join(d.kind for d in o.report.diagnoses if d.severity != "info") or "healthy"
            ),
            ok=o.verdict_ok,
            note=f"{o.pair.failure}: {o.role}",
        )
        for o in outcomes
    ]
    path = root / "index.html"
    path.write_text(index_page(entries, heading="gradmedic demo"), encoding="utf-8")
    return path


def main(out: str = "gradmedic-demo", only: list[str] | None = None) -> int:
    console = Console(highlight=False)
    chosen = only or list(PAIRS)
    unknown = [name for name in chosen if name not in PAIRS]
    if unknown:
        print(f"gradmedic demo: unknown pair {unknown}; choose from {sorted(PAIRS)}", file=sys.stderr)
        return 2
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    outcomes: list[Outcome] = []
    for key in chosen:
        pair = PAIRS[key]
        console.rule(f"[bold]{pair.failure}[/]")
        reason = missing() if pair.keras else None
        if reason is not None:
            console.print(f"  skipped: {reason}", markup=False)
            continue
        outcomes.append(_run_one(pair.problem, pair, root, console))
        if pair.treat:
            outcomes.append(_run_one(pair.problem, pair, root, console, treat=True))
        outcomes.append(_run_one(pair.healthy, pair, root, console))
    console.print(_table(outcomes))
    index = write_index(outcomes, root)
    console.print(f"Logs and reports are in [bold]{root.resolve()}[/]")
    console.print(f"Open the HTML reports:  {index.resolve()}")
    console.print(f"See them in TensorBoard:  tensorboard --logdir {root}")
    return 0 if all(o.verdict_ok for o in outcomes) else 1
