"""A card per diagnosis: what it means in plain words, the evidence, the remedies, and any treatment."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from ..kinds.registry import get_kind, title_of
from ..records import Diagnosis, Treatment
from .svg import esc, fmt

MAX_ITEMS = 12  # evidence lists and mappings longer than this are cut, with a count of the rest
MAX_DEPTH = 6  # evidence nested deeper than this shows as "…"


def title(kind: str) -> str:
    """The kind's title from the registry (its name in words for a kind this process does not know)."""
    return title_of(kind)


def about(kind: str) -> str:
    """What the problem is, for a reader who has not met it before ("" for a kind this process does not know)."""
    found = get_kind(kind)
    return found.about if found is not None else ""


def value_text(value: Any, depth: int = 0) -> str:
    """Evidence values in short plain text: numbers to 3 digits, long collections cut."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        if abs(value) < 10**30:
            return str(value)
        return ("-" if value < 0 else "") + f"~1e+{int(value.bit_length() * 0.30103)}"  # too long to print
    if isinstance(value, float):
        return fmt(value)
    if isinstance(value, str):
        return value
    if depth > MAX_DEPTH:
        return "…"
    if isinstance(value, Mapping):
        items = [f"{k}: {value_text(v, depth + 1)}" for k, v in list(value.items())[:MAX_ITEMS]]
        more = len(value) - MAX_ITEMS
        body = ", ".join(items) + (f", … and {more} more" if more > 0 else "")
        return f"{{{body}}}" if depth else body
    if isinstance(value, (list, tuple)):
        items = [value_text(v, depth + 1) for v in list(value)[:MAX_ITEMS]]
        more = len(value) - MAX_ITEMS
        body = ", ".join(items) + (f", … and {more} more" if more > 0 else "")
        return f"[{body}]" if depth else (body or "none")
    if value is None:
        return "-"
    return str(value)


def _evidence(evidence: Mapping[str, Any]) -> str:
    if not evidence:
        return ""
    rows = "".join(
        f"<tr><th>{esc(key.replace('_', ' '))}</th><td>{esc(value_text(value))}</td></tr>"
        for key, value in evidence.items()
    )
    return f'<h4>Evidence</h4><table class="evidence">{rows}</table>'


def _remedies(d: Diagnosis) -> str:
    if not d.remedies:
        return ""
    ranked = sorted(d.remedies, key=lambda r: r.rank)
    parts = ["<h4>Remedy</h4>"]
    for i, r in enumerate(ranked):
        applied = ' <span class="applied">applied</span>' if r.applied else ""
        snippet = f'<pre class="snippet"><code>{esc(r.snippet)}</code></pre>' if r.snippet else ""
        head = f"<b>{r.rank}. {esc(r.name.replace('_', ' '))}</b>{applied}: {esc(r.summary)}"
        if i == 0:
            parts.append(f'<div class="remedy best"><p>{head}</p>{snippet}</div>')
        else:
            parts.append(f'<details class="remedy"><summary>{head}</summary>{snippet}</details>')
    return "".join(parts)


def treatment_html(t: Treatment) -> str:
    keys = list(dict.fromkeys([*t.before, *t.after]))
    table = ""
    if keys:
        rows = "".join(
            f"<tr><th>{esc(k)}</th><td>{esc(value_text(t.before.get(k)))}</td>"
            f"<td>{esc(value_text(t.after.get(k)))}</td></tr>"
            for k in keys
        )
        table = f'<table class="before-after"><tr><th></th><th>before</th><th>after</th></tr>{rows}</table>'
    reverse = f'<p class="reverse">To undo: <code>{esc(t.reverse)}</code></p>' if t.reverse else ""
    outcome = f'<p class="outcome">Outcome: <b>{esc(t.outcome)}</b></p>' if t.outcome else ""
    return (
        f'<div class="treatment"><p><b>Step {t.step}: {esc(t.action)}</b></p>'
        f"<p>Why: {esc(t.reason)}</p>{outcome}{table}{reverse}</div>"
    )


def _treatments(treatments: Sequence[Treatment]) -> str:
    if not treatments:
        return (
            '<h4>Treatment</h4><p class="untreated">None applied during the run. '
            "<code>gradmedic run --treat</code> applies the remedy in flight.</p>"
        )
    return "<h4>Treatment</h4>" + "".join(treatment_html(t) for t in treatments)


def _where(d: Diagnosis) -> str:
    shown = ", ".join(f"'{n}'" for n in d.layers[:6]) + (f" and {len(d.layers) - 6} more" if len(d.layers) > 6 else "")
    layers = f"layer{'s' if len(d.layers) > 1 else ''} {shown}" if d.layers else "the whole run"
    until = f" to {d.last_step}" if d.last_step is not None and d.last_step != d.first_step else ""
    return f"{layers}; steps {d.first_step}{until}"


def card(d: Diagnosis, *, card_id: str, number: int, figure: str, treatments: Sequence[Treatment]) -> str:
    """The card of one diagnosis; ``figure`` is its per-layer bar chart (SVG), ``treatments`` those for its kind."""
    severity = d.severity if d.severity in ("info", "warning", "error") else "info"
    what = about(d.kind)
    return (
        f'<article class="card {severity}" id="{esc(card_id)}" data-kind="{esc(d.kind)}">'
        f'<header><span class="badge {severity}">{number}. {severity.upper()}</span>'
        f"<h3>{esc(title(d.kind))}</h3>"
        f'<p class="where">{esc(_where(d))}</p></header>'
        + (f'<p class="about">{esc(what)}</p>' if what else "")
        + f'<p class="message">{esc(d.message)}</p>'
        + (f'<p class="diagnosis-outcome">Outcome: <b>{esc(d.outcome)}</b></p>' if d.outcome else "")
        + (f'<figure class="at-step">{figure}</figure>' if figure else "")
        + _evidence(d.evidence)
        + _remedies(d)
        + _treatments(treatments)
        + "</article>"
    )
