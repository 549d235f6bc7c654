"""The console view: one live line when a diagnosis first fires or worsens, and a summary table at close.

Writes to stderr, so the user's own stdout stays untouched.
"""

from __future__ import annotations

import sys
from typing import Mapping

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..records import Diagnosis, Incident, LayerInfo, Report, StepStats, Treatment
from .base import Sink

STYLE = {"info": "cyan", "warning": "yellow", "error": "bold red"}


class ConsoleSink(Sink):
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

    def write_incident(self, incident: Incident) -> None:
        self.console.print(
            f"[bold]gradmedic[/] step {incident.step} [bold magenta]INCIDENT {escape(incident.component)}[/]: "
            + escape(incident.error),
            markup=True,
        )

    def close(self, report: Report) -> None:
        if report.incidents:
            self.console.print(
                f"[bold]gradmedic[/]: {len(report.incidents)} incident(s): part of the run was not watched or "
                "not recorded; see the report's incidents",
                markup=True,
            )
        if not report.diagnoses:
            if report.incidents:
                self.console.print(
                    f"[bold]gradmedic[/]: {report.steps} steps, no problems found in what was watched.", markup=True
                )
                return
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
