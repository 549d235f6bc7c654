"""The console view: one live line when a diagnosis first fires or worsens, and a summary table at close.

Writes to stderr, so the user's own stdout stays untouched.
"""

from __future__ import annotations

import sys
from typing import Mapping

from rich.console import Console
from rich.table import Table

from ..records import Diagnosis, LayerInfo, Report, StepStats, Treatment

STYLE = {"info": "cyan", "warning": "yellow", "error": "bold red"}


class ConsoleSink:
    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(file=sys.stderr, highlight=False)

    def write_step(self, stats: StepStats, layers: Mapping[str, LayerInfo]) -> None:
        pass

    def write_diagnosis(self, diagnosis: Diagnosis, step: int) -> None:
        style = STYLE[diagnosis.severity]
        self.console.print(
            f"[bold]gradmedic[/] step {step} [{style}]{diagnosis.severity.upper()} {diagnosis.kind}[/]: {diagnosis.message}",
            markup=True,
        )
        if diagnosis.remedies:
            self.console.print(f"  fix: {diagnosis.remedies[0].summary}", markup=False)

    def write_treatment(self, treatment: Treatment) -> None:
        self.console.print(
            f"[bold]gradmedic[/] step {treatment.step} [bold green]TREATED {treatment.kind}[/]: {treatment.action}",
            markup=True,
        )
        self.console.print(f"  why: {treatment.reason}", markup=False)

    def close(self, report: Report) -> None:
        if not report.diagnoses:
            self.console.print(f"[bold]gradmedic[/]: {report.steps} steps watched, no problems found.", markup=True)
            return
        table = Table(title=f"gradmedic: {report.steps} steps watched", title_justify="left")
        treated = any(d.outcome for d in report.diagnoses)
        for column in ("severity", "kind", "layers", "since step", "first remedy") + (("outcome",) if treated else ()):
            table.add_column(column)
        for d in report.diagnoses:
            table.add_row(
                f"[{STYLE[d.severity]}]{d.severity}[/]",
                d.kind,
                ", ".join(d.layers[:3]) + (" ..." if len(d.layers) > 3 else ""),
                str(d.first_step),
                d.remedies[0].summary if d.remedies else "",
                *((d.outcome,) if treated else ()),
            )
        self.console.print(table)
