"""The page: a section per watched model with its heatmaps, curves and diagnosis cards, in one HTML file.

Nothing is fetched: styles are inline, plots are inline SVG with inline PNG cells, and there is no script.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..records import DEAD, SATURATED, Diagnosis, Treatment
from . import downsample
from .cards import card, title, treatment_html
from .colors import SATURATION, ZEROS, fraction_scale, log_scale
from .downsample import MAX_COLUMNS, MAX_POINTS, MAX_ROWS
from .load import RunLog
from .plots import bars, heatmap, line_chart
from .style import CSS
from .svg import Marker, esc, fmt_step


def page(body: str, *, title_text: str) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title_text)}</title><style>{CSS}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def render(logs: Sequence[RunLog], *, source: str = "", notes: Sequence[str] = ()) -> str:
    """The whole report for one or several watched models; ``notes`` (several runs, a newer log) on top."""
    several = len(logs) > 1
    head = "<h1>gradmedic report</h1>"
    if source:
        head += f'<p class="meta">from <code>{esc(source)}</code></p>'
    head += "".join(f'<p class="note">{esc(n)}</p>' for n in notes)
    if several:
        head += "<nav>" + "".join(f'<a href="#m{i}">{esc(log.label)}</a>' for i, log in enumerate(logs)) + "</nav>"
    sections = "".join(model_section(log, f"m{i}", several) for i, log in enumerate(logs))
    return page(head + sections + _footer(logs), title_text=f"gradmedic report: {_verdict_text(logs)}")


def _verdict_text(logs: Sequence[RunLog]) -> str:
    serious = [d for log in logs for d in log.diagnoses if d.severity != "info"]
    if serious:
        return ", ".join(dict.fromkeys(title(d.kind) for d in serious))
    return "record incomplete" if any(log.incidents for log in logs) else "healthy"


def model_section(log: RunLog, prefix: str, several: bool) -> str:
    s = log.series
    names = tuple(info.name for info in log.layers)
    last = max(s.last_step, log.steps - 1, 0)
    marks = _markers(log.diagnoses, log.treatments, prefix)
    parts = [f'<section class="model" id="{prefix}">']
    if several:
        parts.append(f"<h2>{esc(log.label)}</h2>")
    parts.append(_summary(log, prefix))
    parts.append(
        "<nav>"
        + "".join(
            f'<a href="#{prefix}-{anchor}">{label}</a>'
            for anchor, label in (("flow-sec", "gradient flow"), ("zeros-sec", "zeros and dead units"))
            + (("saturation-sec", "saturation"), ("curves-sec", "norm and loss"), ("cards", "diagnoses"))
        )
        + "</nav>"
    )

    def layer_map(values: np.ndarray, name: str, heading: str, legend: str, **options: str) -> str:
        """A heatmap of one statistic, the layers that reported it as rows (log scale for gradient norms)."""
        rows, kept = _rows(values, names)
        log = name == "flow"
        grid = downsample.grid(rows, s.steps, kept, last, "log" if log else "mean")
        scale = log_scale(grid.values) if log else fraction_scale(SATURATION if name == "saturation" else ZEROS)
        chart = f"{prefix}-{name}"
        return heatmap(
            grid,
            scale,
            chart_id=chart,
            css=f"heatmap {name}",
            title=heading,
            legend_label=legend,
            marks=marks,
            **options,
        )

    parts.append(
        _figure(
            f"{prefix}-flow-sec",
            "Gradient flow",
            layer_map(
                s.stats["grad_norm"], "flow", "Weight-gradient norm per layer and step (log scale)", "gradient norm"
            ),
            "Weight-gradient L2 norm of each layer (input at the top, output at the bottom) over the steps, "
            "on a log colour scale (an exact zero is drawn at its bottom). A band that fades to dark blue towards "
            "the top is a vanishing gradient; bright yellow or magenta is an explosion.",
        )
    )

    with np.errstate(invalid="ignore"):
        dead_values = 1.0 - s.stats["active_fraction"]
    zero_plot = layer_map(
        s.stats["zero_fraction"], "zeros", "Fraction of zero activations per layer and step", "zero fraction"
    )
    dead_plot = layer_map(dead_values, "dead", "Fraction of dead units per layer and step", "dead units")
    parts.append(
        _figure(
            f"{prefix}-zeros-sec",
            "Zeros and dead units",
            zero_plot + dead_plot,
            "Top: the share of each layer's activated outputs that are zero (ReLU sparsity of 50-70 % is healthy). "
            "Bottom: the share of its units that were zero for every example of the step's batch "
            "(1 - active fraction). Dark red that spreads down the layers is a dead-layer cascade.",
        )
    )

    parts.append(
        _figure(
            f"{prefix}-saturation-sec",
            "Saturation",
            layer_map(
                s.stats["saturated_fraction"],
                "saturation",
                "Fraction of saturated sigmoid and tanh outputs per layer and step",
                "saturated",
                empty="no sigmoid- or tanh-like outputs in this model: nothing to saturate",
            ),
            "The share of each sigmoid- or tanh-like layer's outputs sitting where the derivative is below 1 % "
            "of its maximum. Only such layers have rows.",
        )
    )

    start = float(s.steps[0]) if s.steps.size else 0.0
    stop = float(last + 1)
    norm_plot = line_chart(
        downsample.bins(s.steps, s.global_grad_norm, "log"),
        chart_id=f"{prefix}-gradnorm",
        css="line gradnorm",
        title="Global gradient norm over steps",
        y_label="global gradient norm",
        log=True,
        start=start,
        stop=stop,
        marks=marks,
    )
    loss = s.loss
    finite = loss[np.isfinite(loss)]
    loss_log = bool(finite.size and finite.min() > 0 and finite.max() / finite.min() > 100)
    loss_plot = line_chart(
        downsample.bins(s.loss_steps, loss, "log" if loss_log else "mean"),
        chart_id=f"{prefix}-loss",
        css="line loss",
        title="Loss over steps",
        y_label="loss" + (" (log)" if loss_log else ""),
        log=loss_log,
        start=min(start, float(s.loss_steps[0])) if s.loss_steps.size else start,
        stop=stop,
        marks=marks,
    )
    parts.append(
        _figure(
            f"{prefix}-curves-sec",
            "Gradient norm and loss",
            norm_plot + loss_plot,
            "Numbered dashed lines mark where each diagnosis began (they link to its card); "
            "green T-lines mark treatments; magenta triangles mark NaN or Inf. "
            "Where a point stands for several steps, the band shows their range.",
        )
    )

    parts.append(_cards(log, prefix, names))
    parts.append("</section>")
    return "".join(parts)


def _rows(values: np.ndarray, names: tuple[str, ...]) -> tuple[np.ndarray, tuple[str, ...]]:
    """The layers that reported a statistic at least once, and their rows."""
    keep = ~np.all(np.isnan(values), axis=1) if values.size else np.zeros(len(names), dtype=bool)
    return values[keep], tuple(n for n, k in zip(names, keep) if k)


def _figure(anchor: str, heading: str, body: str, caption: str) -> str:
    return f'<h2 id="{anchor}">{esc(heading)}</h2><figure>{body}<figcaption>{esc(caption)}</figcaption></figure>'


def _markers(diagnoses: Sequence[Diagnosis], treatments: Sequence[Treatment], prefix: str) -> list[Marker]:
    out = [
        Marker(
            step=float(d.first_step),
            label=str(i),
            title=f"{i}. {d.severity.upper()} {d.kind} from step {d.first_step}",
            css=d.severity,
            href=f"#{prefix}-d{i}",
        )
        for i, d in enumerate(diagnoses, 1)
    ]
    out += [
        Marker(step=float(t.step), label=f"T{i}", title=f"T{i}. step {t.step}: {t.action}", css="treatment")
        for i, t in enumerate(treatments, 1)
    ]
    return out


def _summary(log: RunLog, prefix: str) -> str:
    serious = [d for d in log.diagnoses if d.severity != "info"]
    if serious:
        items = "".join(
            f'<li><a href="#{prefix}-d{i}">{esc(title(d.kind))}</a> ({d.severity}) from step {d.first_step}</li>'
            for i, d in enumerate(log.diagnoses, 1)
            if d.severity != "info"
        )
        verdict = f'<div class="verdict sick">{len(serious)} problem{"s" if len(serious) > 1 else ""} found<ul>{items}</ul></div>'
    elif log.incidents:
        verdict = (
            '<div class="verdict partial">Not known to be healthy: nothing above info was diagnosed in what was '
            "watched, but part of the run was not watched or not recorded (see the incidents).</div>"
        )
    else:
        verdict = '<div class="verdict healthy">Healthy: nothing above info was diagnosed.</div>'
    facts = [
        f"{log.steps} steps watched",
        f"{log.series.steps.size} sampled",
        f"{len(log.layers)} layers",
        f"{len(log.treatments)} treatments",
    ]
    notes = []
    if not log.finished:
        notes.append("The log has no closing report line: the run crashed, was killed or is still going.")
    if log.runs > 1:
        notes.append(f"The log holds {log.runs} runs appended to one another; this page shows the last one.")
    if log.skipped_lines:
        notes.append(f"{log.skipped_lines} unreadable line(s) were skipped (a line cut short by a crash).")
    if log.ignored_fields:
        notes.append(
            f"The closing report line had unreadable field(s) {', '.join(log.ignored_fields)}; "
            "they were taken from the lines before it instead."
        )
    meta = f'<p class="meta">{esc(" · ".join(facts))} · log <code>{esc(str(log.path))}</code></p>'
    return _incidents(log) + verdict + meta + "".join(f'<p class="meta">{esc(n)}</p>' for n in notes)


MAX_INCIDENTS = 20  # more are counted, not listed


def _incidents(log: RunLog) -> str:
    """The block on top of a run with incidents: what gradmedic missed, and from which step."""
    if not log.incidents:
        return ""
    shown = "".join(
        f"<li>step {i.step if i.step >= 0 else '(before the first)'}: <b>{esc(i.component)}</b> {esc(i.error)}</li>"
        for i in log.incidents[:MAX_INCIDENTS]
    )
    more = len(log.incidents) - MAX_INCIDENTS
    if more > 0:
        shown += f"<li>… and {more} more</li>"
    count = len(log.incidents)
    return (
        f'<div class="incidents"><b>{count} incident{"s" if count > 1 else ""}:</b> gradmedic did not watch or '
        f"record all of this run; what follows covers only what it saw.<ul>{shown}</ul></div>"
    )


def _bar_figure(log: RunLog, d: Diagnosis, names: tuple[str, ...], chart_id: str) -> str:
    """The diagnosis' statistic for every layer at the sampled step where it was raised."""
    s = log.series
    if not s.steps.size:
        return ""
    fired = log.fired_at(d)
    i = int(np.searchsorted(s.steps, fired, side="right")) - 1
    i = min(max(i, 0), s.steps.size - 1)
    step = int(s.steps[i])
    if d.kind == DEAD:
        values, label, log_axis, mode = 1.0 - s.stats["active_fraction"][:, i], "dead units", False, "mean"
    elif d.kind == SATURATED:
        values, label, log_axis, mode = s.stats["saturated_fraction"][:, i], "saturated", False, "mean"
    else:
        values, label, log_axis, mode = s.stats["grad_norm"][:, i], "gradient norm", True, "log"
    keep = ~np.isnan(values)
    kept = tuple(n for n, k in zip(names, keep) if k)
    rows, members, grouped = downsample.group_values(values[keep], kept, "log" if mode == "log" else "mean")
    highlight = {row for row, group in zip(rows, members) if set(group) & set(d.layers)}
    chart = bars(
        rows,
        grouped,
        highlight,
        chart_id=chart_id,
        title=f"{label} per layer at step {step}",
        y_label=label + (" (log)" if log_axis else ""),
        log=log_axis,
        severity=d.severity,
    )
    caption = (
        f"{label.capitalize()} of every layer at step {fmt_step(step)}, the sampled step where this was raised "
        "(diagnosed layers in colour)."
    )
    return f"{chart}<figcaption>{esc(caption)}</figcaption>"


def _cards(log: RunLog, prefix: str, names: tuple[str, ...]) -> str:
    out = [f'<h2 id="{prefix}-cards">Diagnoses</h2>']
    if not log.diagnoses:
        out.append("<p>Nothing was diagnosed.</p>")
    matched: set[int] = set()
    for i, d in enumerate(log.diagnoses, 1):
        mine = [t for t in log.treatments if t.kind == d.kind]
        matched.update(id(t) for t in mine)
        out.append(
            card(
                d,
                card_id=f"{prefix}-d{i}",
                number=i,
                figure=_bar_figure(log, d, names, f"{prefix}-d{i}-bars"),
                treatments=mine,
            )
        )
    others = [t for t in log.treatments if id(t) not in matched]
    if others:
        out.append("<h2>Other treatments</h2>" + "".join(treatment_html(t) for t in others))
    return "".join(out)


def _footer(logs: Sequence[RunLog]) -> str:
    sizes = ", ".join(f"{log.series.steps.size} sampled steps × {len(log.layers)} layers" for log in logs)
    return (
        "<footer><p>Size limits: heatmaps show at most "
        f"{MAX_COLUMNS} step columns × {MAX_ROWS} layer rows and line charts at most {MAX_POINTS} points. "
        "Longer runs are binned on a uniform step axis (norms by geometric mean, fractions by mean, the "
        "min-max range as a band; a bin holding a NaN or Inf shows as NaN/Inf); deeper models merge adjacent "
        f"layers into one row. This page: {esc(sizes)}.</p>"
        "<p>Built by gradmedic from the JSONL log alone; it works offline and fetches nothing.</p></footer>"
    )
