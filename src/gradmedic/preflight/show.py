"""The checkup on the console: a per-layer table through depth, then each diagnosis with its first fix."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.table import Table

from ..records import CheckupLayer, CheckupReport

STYLE = {"info": "cyan", "warning": "yellow", "error": "bold red"}


def _num(value: float | None, fmt: str = ".3g") -> str:
    return "" if value is None else format(value, fmt)


def _dead(layer: CheckupLayer) -> str:
    return "" if layer.dead_units is None else f"{layer.dead_units}/{layer.units}"


def layer_table(report: CheckupReport, title: str = "") -> Table:
    table = Table(title=title or None, title_justify="left")
    for column in ("layer", "type", "units", "act", "dead", "sat.", "act std", "grad/ex", "gain", "jac σ"):
        table.add_column(column, justify="left" if column in ("layer", "type", "act") else "right")
    for layer in report.checkup:
        table.add_row(
            layer.name + (" (out)" if layer.is_output else ""),
            layer.type,
            str(layer.units),
            layer.activation,
            _dead(layer),
            _num(layer.saturated_fraction, ".0%"),
            _num(layer.act_std),
            _num(layer.grad_norm, ".2e"),
            _num(layer.gain, ".2f"),
            _num(layer.jacobian_sv, ".2f"),
        )
    return table


def default_console() -> Console:
    """Standard output; 140 columns when it is not a terminal (rich would use 80 and squeeze the table)."""
    return Console(highlight=False, width=None if sys.stdout.isatty() else 140)


def print_report(report: CheckupReport, console: Console | None = None, title: str = "gradmedic checkup") -> None:
    """Print the layer table, every diagnosis with its top remedy's snippet, and the verdict."""
    console = console or default_console()
    heading = f"{title}: {len(report.checkup)} layers, a batch of {report.batch_size}, loss: {report.loss}"
    console.print(layer_table(report, heading))
    for d in report.diagnoses:
        console.print(f"[{STYLE[d.severity]}]{d.severity.upper()} {d.kind}[/]: ", end="", markup=True)
        console.print(d.message, markup=False)
        if d.remedies:
            top = d.remedies[0]
            console.print(f"  fix: {top.summary}", markup=False)
            console.print("    " + top.snippet.replace("\n", "\n    "), markup=False, style="dim", soft_wrap=True)
            others = ", ".join(r.name for r in d.remedies[1:])
            if others:
                console.print(f"  also: {others}", markup=False)
    if report.healthy:
        console.print("[bold green]healthy[/]: nothing above info before the first step.", markup=True)
    else:
        found = ", ".join(sorted(report.kinds(at_least="warning")))
        console.print(f"[bold red]not healthy[/]: {found}.", markup=True)
