"""How a Report and a Diagnosis show in a notebook: one line as text, and a compact HTML view.

The HTML is a verdict line, a table of the diagnoses with severity colours, and each diagnosis' card
from the HTML report (cards.py) folded under it, with a stylesheet scoped to ``.gradmedic-nb`` so
the notebook's own page is left alone. Every text from the run is escaped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from .cards import card, title
from .svg import esc

if TYPE_CHECKING:
    from ..records import Diagnosis, Report

SEVERITIES = ("error", "warning", "info")

CSS = """
.gradmedic-nb { font: 13px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; color: #1d232b; }
.gradmedic-nb table { border-collapse: collapse; margin: 4px 0; }
.gradmedic-nb th, .gradmedic-nb td { text-align: left; vertical-align: top; padding: 2px 10px 2px 0;
  border-bottom: 1px solid #eef1f4; }
.gradmedic-nb .badge { font-size: 0.8em; font-weight: 700; color: #fff; border-radius: 4px; padding: 1px 6px; }
.gradmedic-nb .badge.error { background: #c62828; } .gradmedic-nb .badge.warning { background: #d9730d; }
.gradmedic-nb .badge.info { background: #1f6fb2; }
.gradmedic-nb .verdict { font-weight: 600; }
.gradmedic-nb .verdict.healthy { color: #17612d; } .gradmedic-nb .verdict.sick { color: #8e1b1b; }
.gradmedic-nb .card { border: 1px solid #d5dbe1; border-left: 5px solid #1f6fb2; border-radius: 6px;
  padding: 6px 10px; margin: 6px 0; }
.gradmedic-nb .card.error { border-left-color: #c62828; } .gradmedic-nb .card.warning { border-left-color: #d9730d; }
.gradmedic-nb .card h3 { display: inline; font-size: 1.05em; margin-left: 6px; }
.gradmedic-nb .card h4 { font-size: 0.95em; margin: 0.6em 0 0.2em; }
.gradmedic-nb .where, .gradmedic-nb .about, .gradmedic-nb .untreated { color: #5b6570; }
.gradmedic-nb pre { background: #f6f8fa; border: 1px solid #d5dbe1; border-radius: 4px; padding: 6px 8px;
  overflow-x: auto; }
.gradmedic-nb .applied { background: #1e8a3e; color: #fff; border-radius: 4px; padding: 0 4px; font-size: 0.8em; }
.gradmedic-nb .treatment { border-left: 3px solid #1e8a3e; padding-left: 8px; margin: 4px 0; }
.gradmedic-nb summary { cursor: pointer; }
"""


def _by_severity(diagnoses: Sequence[Diagnosis]) -> list[str]:
    parts = []
    for severity in SEVERITIES:
        kinds = list(dict.fromkeys(d.kind for d in diagnoses if d.severity == severity))
        if kinds:
            parts.append(f"{severity}: {' '.join(kinds)}")
    return parts


def report_line(report: Report) -> str:
    """``Report(steps=40, layers=5, error: non_finite, warning: loss_divergence)``; ``healthy`` when nothing above info."""
    parts = [f"steps={report.steps}", f"layers={len(report.layers)}"]
    parts += _by_severity(report.diagnoses) if report.diagnoses else ["no diagnoses"]
    if report.healthy and report.diagnoses:
        parts.append("healthy")
    if report.treatments:
        parts.append(f"treatments={len(report.treatments)}")
    if report.incidents:
        parts.append(f"incidents={len(report.incidents)}")
    return f"{type(report).__name__}({', '.join(parts)})"


def _layers(layers: Sequence[str], shown: int = 3) -> str:
    more = f" and {len(layers) - shown} more" if len(layers) > shown else ""
    return ", ".join(layers[:shown]) + more if layers else "the whole run"


def diagnosis_line(d: Diagnosis) -> str:
    """``Diagnosis(error vanishing_gradients in 0, 2 and 3 more, from step 12)``."""
    return f"Diagnosis({d.severity} {d.kind} in {_layers(list(d.layers))}, from step {d.first_step})"


def _verdict(report: Report) -> str:
    problems = [d for d in report.diagnoses if d.severity != "info"]
    sick = bool(problems) or not report.watched_fully
    if problems:
        text = "Problems found: " + "; ".join(_by_severity(problems))
    elif not report.watched_fully:
        text = "No problem found in the steps watched; part of the run was not watched (see the incidents)"
    elif report.incidents:
        text = "Nothing above info; part of the record was not written (see the incidents)"
    else:
        text = "Healthy: nothing above info"
    css = "sick" if sick else "healthy"
    return (
        f"<p><b>gradmedic</b> · {report.steps} steps · {len(report.layers)} layers · "
        f'<span class="verdict {css}">{esc(text)}</span></p>'
    )


def _table(report: Report) -> str:
    if not report.diagnoses:
        return ""
    rows = "".join(
        f'<tr><td><span class="badge {esc(d.severity)}">{esc(d.severity.upper())}</span></td>'
        f"<td>{esc(title(d.kind))}</td><td>{esc(_layers(list(d.layers)))}</td><td>{d.first_step}</td>"
        f"<td>{esc(d.message)}</td></tr>"
        for d in report.diagnoses
    )
    head = "<tr><th>severity</th><th>problem</th><th>layers</th><th>from step</th><th>what</th></tr>"
    return f"<table>{head}{rows}</table>"


def _card(d: Diagnosis, number: int, report: Report | None) -> str:
    treatments = [t for t in report.treatments if t.kind == d.kind] if report is not None else []
    return card(d, card_id=f"gradmedic-{number}-{d.kind}", number=number, figure="", treatments=treatments)


def report_html(report: Report) -> str:
    cards = "".join(
        f"<details><summary>{i}. {esc(title(d.kind))}: evidence and remedies</summary>{_card(d, i, report)}</details>"
        for i, d in enumerate(report.diagnoses, 1)
    )
    incidents = "".join(f"<li>step {i.step}, {esc(i.component)}: {esc(i.error)}</li>" for i in report.incidents)
    incidents = f"<p>Incidents:</p><ul>{incidents}</ul>" if incidents else ""
    return f'<div class="gradmedic-nb"><style>{CSS}</style>{_verdict(report)}{_table(report)}{cards}{incidents}</div>'


def diagnosis_html(d: Diagnosis) -> str:
    return f'<div class="gradmedic-nb"><style>{CSS}</style>{_card(d, 1, None)}</div>'
