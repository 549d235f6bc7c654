"""Read a JSONL log back into typed records: the layer table, the sampled steps as arrays, the diagnoses.

The log may come from a run that crashed: a truncated last line is skipped and a missing ``report``
line is tolerated (the standing diagnoses are then the latest line of each kind). Per-layer numbers
are kept as float arrays ``[layer, step]`` in which NaN means "not measured" and +inf "non-finite".
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from ..records import SEVERITY_RANK, Diagnosis, LayerInfo, Remedy, Treatment
from ..sinks.jsonl import FILENAME


def _json_parser() -> Callable[[bytes], Any]:
    """orjson when installed (a log of 10 000 steps x 200 layers is ~500 MB of JSON; orjson reads it
    ~5x faster), else the standard library, which gives the same records."""
    try:
        import orjson
    except ImportError:  # pragma: no cover
        return json.loads
    return orjson.loads


_loads = _json_parser()

# The per-layer stats the report draws. ``active_fraction`` gives dead units as 1 - active.
STATS = ("grad_norm", "zero_fraction", "active_fraction", "saturated_fraction")


class LogNotFoundError(FileNotFoundError):
    """The path holds no gradmedic JSONL log."""


@dataclass(frozen=True)
class Series:
    """The sampled steps of a run, as arrays aligned on ``steps``."""

    steps: np.ndarray  # int64[S], increasing
    global_grad_norm: np.ndarray  # float64[S]; +inf where non-finite
    nonfinite: np.ndarray  # bool[S]: NaN or Inf in the loss, a gradient or a weight
    stats: Mapping[str, np.ndarray]  # stat -> float64[L, S]; NaN = not measured, +inf = non-finite
    loss_steps: np.ndarray  # int64[N]: every step whose loss was observed
    loss: np.ndarray  # float64[N]; NaN or +-inf kept as such

    @property
    def last_step(self) -> int:
        ends = [int(a[-1]) for a in (self.steps, self.loss_steps) if a.size]
        return max(ends, default=0)


@dataclass(frozen=True)
class DiagnosisEvent:
    """One ``diagnosis`` line: a diagnosis as it stood when it first fired or changed."""

    step: int
    diagnosis: Diagnosis


@dataclass(frozen=True)
class RunLog:
    """Everything the page shows about one watched model."""

    path: Path
    label: str
    layers: tuple[LayerInfo, ...]  # the rows of ``Series.stats``, in depth order
    series: Series
    diagnoses: tuple[Diagnosis, ...]  # standing at the end (or at the crash), most severe first
    events: tuple[DiagnosisEvent, ...]
    treatments: tuple[Treatment, ...]
    steps: int  # optimizer steps watched
    finished: bool  # the log ends with its ``report`` line
    skipped_lines: int  # lines that could not be read (a truncated last line)
    runs: int = 1  # runs appended to the same log; only the last one is kept

    def fired_at(self, diagnosis: Diagnosis) -> int:
        """The step at which a diagnosis of this kind was first raised (its onset when unknown)."""
        steps = [e.step for e in self.events if e.diagnosis.kind == diagnosis.kind]
        return min(steps) if steps else diagnosis.first_step


def find_logs(path: str | Path) -> list[tuple[str, Path]]:
    """The logs under ``path``: a ``.jsonl`` file, or a folder's log and those of its subfolders.

    ``gradmedic run`` writes its first model's log to DIR and the others' to DIR/ClassName/; each
    one comes back labelled (the first by the folder's name).
    """
    root = Path(path)
    if root.is_file():
        return [(root.parent.name or str(root.parent), root)]
    found: list[tuple[str, Path]] = []
    if root.is_dir():
        if (root / FILENAME).is_file():
            found.append((root.resolve().name, root / FILENAME))
        found += [(sub.name, sub / FILENAME) for sub in sorted(root.iterdir()) if (sub / FILENAME).is_file()]
    if not found:
        where = "does not exist" if not root.exists() else f"holds no {FILENAME}"
        raise LogNotFoundError(
            f"{root} {where}. Write a log first: `gradmedic run --logdir {root} train.py` or "
            f"`gradmedic.watch(model, optimizer, logdir={str(root)!r})`, then `gradmedic report {root}`."
        )
    return found


def number(value: Any) -> float:
    """A float from the log: non-finite floats are written as the strings "nan", "inf", "-inf"."""
    if value is None:
        return math.nan
    return float(value)


def load_log(path: str | Path, label: str = "") -> RunLog:
    """Read one JSONL log. Lines that cannot be parsed (a crash mid-write) are counted and skipped."""
    path = Path(path)
    reader = _Reader()
    skipped, runs = 0, 1
    with path.open("rb") as f:
        for line in f:
            if line.isspace():  # stops at the first character: cheap on 50 kB lines
                continue
            try:
                record = _loads(line)
                if reader.starts_new_run(record):  # the sink appends: a reused logdir holds several runs
                    fresh = _Reader(replay=reader.layers_since_last_step)
                    fresh.read(record)  # a bad line raises here, and the run so far is kept
                    reader, runs = fresh, runs + 1
                else:
                    reader.read(record)
            except (ValueError, TypeError, KeyError, AttributeError):
                skipped += 1
    return reader.finish(path, label or path.parent.name, skipped, runs)


class _Reader:
    """Accumulates records line by line, keeping per-layer numbers in compact arrays."""

    def __init__(self, replay: list[Mapping[str, Any]] | None = None) -> None:
        self.infos: dict[str, LayerInfo] = {}
        self.rows: dict[str, int] = {}  # layer name -> row in the per-step buffers
        self.steps: list[int] = []
        self.global_norms: list[float] = []
        self.nonfinite: list[bool] = []
        self.columns: list[np.ndarray] = []  # per step: float64[layers so far, stat]
        self.losses: dict[int, float] = {}
        self.events: list[DiagnosisEvent] = []
        self.treatments: list[Treatment] = []
        self.report: Mapping[str, Any] | None = None
        self._handlers: dict[str, Callable[[Mapping[str, Any]], None]] = {
            "layers": self._layers,
            "step": self._step,
            "diagnosis": self._diagnosis,
            "treatment": self._treatment,
            "losses": self._losses,
            "report": self._report,
        }
        self.layers_since_last_step: list[Mapping[str, Any]] = []
        for record in replay or []:
            self.read(record)

    def starts_new_run(self, record: Mapping[str, Any]) -> bool:
        """A layer table or a step after the closing report line, or a step number going back."""
        kind = record.get("type")
        if kind not in ("layers", "step"):
            return False
        if self.report is not None:
            return True
        return kind == "step" and bool(self.steps) and int(record["step"]) <= self.steps[-1]

    def read(self, record: Mapping[str, Any]) -> None:
        handler = self._handlers.get(record.get("type", ""))
        if handler is not None:
            handler(record)

    def _row(self, name: str) -> int:
        row = self.rows.get(name)
        if row is None:
            row = self.rows[name] = len(self.rows)
        return row

    def _layers(self, record: Mapping[str, Any]) -> None:
        self.layers_since_last_step.append(record)
        for item in record["layers"]:
            info = layer_info(item)
            self.infos[info.name] = info
            self._row(info.name)

    def _step(self, record: Mapping[str, Any]) -> None:
        step = int(record["step"])  # everything is read before anything is kept: a bad line leaves no trace
        norm = _finite_or_inf(record.get("global_grad_norm"))
        nonfinite = bool(record.get("nonfinite", False))
        losses = {int(k): number(v) for k, v in (record.get("losses") or {}).items()}
        if not losses and record.get("loss") is not None:
            losses[step] = number(record["loss"])
        layers: Mapping[str, Mapping[str, Any]] = record.get("layers") or {}
        rows = self.rows
        if not rows.keys() >= layers.keys():
            for name in layers:
                self._row(name)
        n = len(STATS)
        cells: list[Any] = [None] * (len(rows) * n)  # [row, stat] flattened; None = not measured
        for name, values in layers.items():  # the hot loop: 200 layers x 10 000 steps in a long run
            i = rows[name] * n
            cells[i : i + n] = map(values.get, STATS)
        if str in set(map(type, cells)):  # "nan", "inf", "-inf": mark non-finite as +inf
            cells = [_finite_or_inf(c) if c.__class__ is str else c for c in cells]
        column = np.array(cells, dtype=np.float64).reshape(len(rows), n)
        self.columns.append(column)
        self.steps.append(step)
        self.global_norms.append(norm)
        self.nonfinite.append(nonfinite)
        self.losses.update(losses)
        self.layers_since_last_step = []

    def _diagnosis(self, record: Mapping[str, Any]) -> None:
        self.events.append(DiagnosisEvent(int(record["step"]), diagnosis(record)))

    def _losses(self, record: Mapping[str, Any]) -> None:
        self.losses.update({int(k): number(v) for k, v in (record.get("losses") or {}).items()})

    def _treatment(self, record: Mapping[str, Any]) -> None:
        self.treatments.append(treatment(record))

    def _report(self, record: Mapping[str, Any]) -> None:
        self.report = record
        for item in record.get("layers") or []:
            info = layer_info(item)
            self.infos[info.name] = info
            self._row(info.name)

    def finish(self, path: Path, label: str, skipped: int, runs: int) -> RunLog:
        names = list(self.rows)
        for name in names:  # layers seen only in step lines still get a row
            self.infos.setdefault(name, LayerInfo(name=name, type="?", order=len(self.infos) + 10**6))
        ordered = sorted(names, key=lambda n: (self.infos[n].order, self.rows[n]))
        index = np.asarray([self.rows[n] for n in ordered], dtype=np.int64)
        steps = np.asarray(self.steps, dtype=np.int64)
        order = np.argsort(steps, kind="stable")
        cube = _cube(self.columns, len(names))[index][:, order]  # [layer, step, stat]
        stats = {stat: np.ascontiguousarray(cube[:, :, k]) for k, stat in enumerate(STATS)}
        loss_steps = np.asarray(sorted(self.losses), dtype=np.int64)
        series = Series(
            steps=steps[order],
            global_grad_norm=np.asarray(self.global_norms, dtype=np.float64)[order],
            nonfinite=np.asarray(self.nonfinite, dtype=bool)[order],
            stats=stats,
            loss_steps=loss_steps,
            loss=np.asarray([self.losses[int(s)] for s in loss_steps], dtype=np.float64),
        )
        if self.report is not None:
            standing = [diagnosis(d) for d in self.report.get("diagnoses") or []]
            final = [treatment(t) for t in self.report.get("treatments") or []]
            treatments = final or _latest(self.treatments)
            steps_run = int(self.report.get("steps", series.last_step + 1))
        else:
            latest = {e.diagnosis.kind: e.diagnosis for e in self.events}
            standing = sorted(latest.values(), key=lambda d: (-SEVERITY_RANK.get(d.severity, 0), d.first_step))
            treatments = _latest(self.treatments)
            steps_run = series.last_step + 1 if series.steps.size or series.loss_steps.size else 0
        return RunLog(
            path=path,
            label=label,
            layers=tuple(self.infos[n] for n in ordered),
            series=series,
            diagnoses=tuple(standing),
            events=tuple(self.events),
            treatments=tuple(treatments),
            steps=steps_run,
            finished=self.report is not None,
            skipped_lines=skipped,
            runs=runs,
        )


def _finite_or_inf(value: Any) -> float:
    """A per-layer number: missing stays NaN, any non-finite value becomes +inf (the "non-finite" mark)."""
    if value is None:
        return math.nan
    x = float(value)
    return x if math.isfinite(x) else math.inf


def _cube(columns: list[np.ndarray], width: int) -> np.ndarray:
    """Stack per-step ``[layer, stat]`` blocks into ``[layer, step, stat]``; layers that appeared later are
    NaN (not measured) in the steps before."""
    out = np.full((width, len(columns), len(STATS)), np.nan)
    if columns and all(c.shape[0] == width for c in columns):
        return np.stack(columns, axis=1) if width else out
    for j, column in enumerate(columns):
        out[: column.shape[0], j] = column
    return out


def layer_info(item: Mapping[str, Any]) -> LayerInfo:
    return LayerInfo(
        name=str(item["name"]),
        type=str(item.get("type", "")),
        order=int(item.get("order", 0)),
        num_params=int(item.get("num_params", 0)),
        has_weights=bool(item.get("has_weights", True)),
        activation=str(item.get("activation", "")),
        activation_module=str(item.get("activation_module", "")),
        units=int(item.get("units", 0)),
        is_output=bool(item.get("is_output", False)),
    )


def diagnosis(item: Mapping[str, Any]) -> Diagnosis:
    severity = item.get("severity", "info")
    last = item.get("last_step")
    return Diagnosis(
        kind=str(item["kind"]),
        severity=severity if severity in SEVERITY_RANK else "info",
        layers=tuple(str(n) for n in item.get("layers") or ()),
        first_step=int(item.get("first_step", 0)),
        message=str(item.get("message", "")),
        evidence=dict(item.get("evidence") or {}),
        remedies=tuple(
            Remedy(
                name=str(r.get("name", "")),
                summary=str(r.get("summary", "")),
                snippet=str(r.get("snippet", "")),
                rank=int(r.get("rank", 0)),
                applied=bool(r.get("applied", False)),
            )
            for r in item.get("remedies") or ()
        ),
        last_step=int(last) if last is not None else None,
        outcome=str(item.get("outcome", "")),
    )


def treatment(item: Mapping[str, Any]) -> Treatment:
    return Treatment(
        step=int(item.get("step", 0)),
        kind=str(item.get("kind", "")),
        action=str(item.get("action", "")),
        reason=str(item.get("reason", "")),
        before=dict(item.get("before") or {}),
        after=dict(item.get("after") or {}),
        reverse=str(item.get("reverse", "")),
        remedy=str(item.get("remedy", "")),
        outcome=str(item.get("outcome", "")),
    )


def _latest(streamed: list[Treatment]) -> list[Treatment]:
    """A treatment is logged when applied and again when judged: keep the last line of each."""
    latest: dict[tuple[int, str, str, str], Treatment] = {}
    for t in streamed:
        latest[(t.step, t.kind, t.remedy, t.action)] = t
    return list(latest.values())
