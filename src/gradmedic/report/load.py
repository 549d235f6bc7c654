"""Read a JSONL log back into typed records: the layer table, the sampled steps as arrays, the diagnoses.

The reader is total: a log may come from a crashed run, a full disk, another program or another
version, and every line is read whole or skipped whole (counted). A truncated last line is skipped; a
missing or unreadable ``report`` line is tolerated (the standing diagnoses are then the latest line of
each kind); a ``report`` field of the wrong type is ignored and named. Per-layer numbers are kept as
float arrays ``[layer, step]`` in which NaN means "not measured" and +inf "non-finite".
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from ..records import REPORT_VERSION, SEVERITY_RANK, Diagnosis, Incident, LayerInfo, Treatment
from . import fields
from .fields import BadField, diagnosis, incident, layer_info, treatment
from .runs import LogNotFoundError, find_logs

__all__ = ["DiagnosisEvent", "LogNotFoundError", "NotALogError", "RunLog", "Series", "find_logs", "load_log"]


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


class NotALogError(ValueError):
    """The file holds no line a gradmedic log would have."""


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
    incidents: tuple[Incident, ...] = ()  # what kept gradmedic from watching or recording all of the run
    version: str = REPORT_VERSION  # the log format version it was written with
    ignored_fields: tuple[str, ...] = ()  # fields of the closing report line that could not be read

    @property
    def newer_version(self) -> str:
        """A sentence when the log was written by a newer gradmedic than this reader; else empty."""
        return version_note(self.version)

    def fired_at(self, diagnosis: Diagnosis) -> int:
        """The step at which a diagnosis of this kind was first raised (its onset when unknown)."""
        steps = [e.step for e in self.events if e.diagnosis.kind == diagnosis.kind]
        return min(steps) if steps else diagnosis.first_step


def version_note(version: str) -> str:
    try:
        newer = int(version) > int(REPORT_VERSION)
    except ValueError:
        newer = True
    if not newer:
        return ""
    return (
        f"This log has format version {version[:20]!r}, newer than the {REPORT_VERSION!r} this gradmedic reads: "
        "parts of it may be missing from the page; upgrade gradmedic (pip install -U gradmedic) to see them all."
    )


def number(value: Any) -> float:
    """A float from the log: non-finite floats are written as the strings "nan", "inf", "-inf"."""
    return fields.number(value)


def load_log(path: str | Path, label: str = "") -> RunLog:
    """Read one JSONL log. Lines that cannot be read (a crash mid-write, another program's) are counted and
    skipped. Raises ``NotALogError`` when not a single line is a gradmedic record."""
    path = Path(path)
    reader = _Reader()
    skipped, runs, known = 0, 1, 0
    with path.open("rb") as f:
        for line in f:
            if line.isspace():  # stops at the first character: cheap on 50 kB lines
                continue
            try:
                record = _loads(line)
                if not isinstance(record, dict) or record.get("type") not in _Reader.TYPES:
                    raise BadField("not a gradmedic record")
                if reader.starts_new_run(record):  # an old sink appended: a reused logdir held several runs
                    fresh = _Reader(replay=reader.layers_since_last_step)
                    fresh.read(record)  # a bad line raises here, and the run so far is kept
                    reader, runs = fresh, runs + 1
                else:
                    reader.read(record)
                known += 1
            except Exception:  # whatever a line holds, it is read whole or skipped whole
                skipped += 1
    if not known:
        raise NotALogError(
            f"{path} holds no gradmedic record ({skipped} line(s) could not be read): "
            "is it a gradmedic.jsonl written by gradmedic.watch or gradmedic run --logdir?"
        )
    return reader.finish(path, label or path.parent.name, skipped, runs)


@dataclass(frozen=True)
class _Closing:
    """The closing ``report`` line, field by field; a field that could not be read is None."""

    steps: int | None
    diagnoses: list[Diagnosis] | None
    treatments: list[Treatment] | None
    incidents: list[Incident]
    layers: list[LayerInfo]
    version: str | None
    ignored: tuple[str, ...]


def _closing(record: Mapping[str, Any]) -> _Closing:
    ignored: list[str] = []

    def read(key: str, convert: Callable[[Any], Any]) -> Any:
        if key not in record:
            return None
        try:
            return convert(record[key])
        except Exception:
            ignored.append(key)
            return None

    return _Closing(
        steps=read("steps", fields.step),
        diagnoses=read("diagnoses", lambda v: [diagnosis(d) for d in fields.items(v)]),
        treatments=read("treatments", lambda v: [treatment(t) for t in fields.items(v)]),
        incidents=read("incidents", lambda v: [incident(i) for i in fields.items(v)]) or [],
        layers=read("layers", lambda v: [layer_info(i) for i in fields.items(v)]) or [],
        version=read("version", fields.text),
        ignored=tuple(ignored),
    )


class _Reader:
    """Accumulates records line by line, keeping per-layer numbers in compact arrays."""

    TYPES = frozenset({"run", "layers", "step", "diagnosis", "treatment", "incident", "losses", "report"})

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
        self.incidents: list[Incident] = []
        self.version = REPORT_VERSION
        self.report: _Closing | None = None
        self.seen = False  # any record read
        self._handlers: dict[str, Callable[[Mapping[str, Any]], None]] = {
            "run": self._run,
            "layers": self._layers,
            "step": self._step,
            "diagnosis": self._diagnosis,
            "treatment": self._treatment,
            "incident": self._incident,
            "losses": self._losses,
            "report": self._report,
        }
        self.layers_since_last_step: list[Mapping[str, Any]] = []
        for record in replay or []:
            self.read(record)

    def starts_new_run(self, record: Mapping[str, Any]) -> bool:
        """A ``run`` line after other records; a layer table or a step after the closing report line, or
        a step number going back."""
        kind = record.get("type")
        if kind == "run":
            return self.seen
        if kind not in ("layers", "step"):
            return False
        if self.report is not None:
            return True
        return kind == "step" and bool(self.steps) and fields.step(record.get("step")) <= self.steps[-1]

    def read(self, record: Mapping[str, Any]) -> None:
        handler = self._handlers.get(record.get("type", ""))
        if handler is not None:
            handler(record)
            self.seen = True

    def _row(self, name: str) -> int:
        row = self.rows.get(name)
        if row is None:
            row = self.rows[name] = len(self.rows)
        return row

    def _run(self, record: Mapping[str, Any]) -> None:
        self.version = fields.text(record.get("version", REPORT_VERSION))

    def _layers(self, record: Mapping[str, Any]) -> None:
        infos = [layer_info(item) for item in fields.items(record.get("layers"))]
        self.layers_since_last_step.append(record)
        for info in infos:
            self.infos[info.name] = info
            self._row(info.name)

    def _step(self, record: Mapping[str, Any]) -> None:
        step = fields.step(record.get("step"))  # everything is read before anything is kept
        norm = _finite_or_inf(record.get("global_grad_norm"))
        nonfinite = fields.flag(record.get("nonfinite"))
        losses = {fields.step(k): number(v) for k, v in fields.mapping(record.get("losses")).items()}
        if not losses and record.get("loss") is not None:
            losses[step] = number(record["loss"])
        layers = fields.mapping(record.get("layers"))
        rows = self.rows
        if not rows.keys() >= layers.keys():  # new layers: their rows are kept only if the line reads
            rows = dict(rows)
            for name in layers:
                rows.setdefault(name, len(rows))
        n = len(STATS)
        cells: list[Any] = [None] * (len(rows) * n)  # [row, stat] flattened; None = not measured
        for name, values in layers.items():  # the hot loop: 200 layers x 10 000 steps in a long run
            i = rows[name] * n
            cells[i : i + n] = map(values.get, STATS)
        if not set(map(type, cells)) <= _PLAIN:  # "nan", "inf", "-inf": mark non-finite as +inf
            cells = [c if c.__class__ in _PLAIN else _finite_or_inf(c) for c in cells]
        column = np.array(cells, dtype=np.float64).reshape(len(rows), n)
        self.rows = rows
        self.columns.append(column)
        self.steps.append(step)
        self.global_norms.append(norm)
        self.nonfinite.append(nonfinite)
        self.losses.update(losses)
        self.layers_since_last_step = []

    def _diagnosis(self, record: Mapping[str, Any]) -> None:
        self.events.append(DiagnosisEvent(fields.step(record.get("step")), diagnosis(record)))

    def _losses(self, record: Mapping[str, Any]) -> None:
        self.losses.update({fields.step(k): number(v) for k, v in fields.mapping(record.get("losses")).items()})

    def _treatment(self, record: Mapping[str, Any]) -> None:
        self.treatments.append(treatment(record))

    def _incident(self, record: Mapping[str, Any]) -> None:
        self.incidents.append(incident(record))

    def _report(self, record: Mapping[str, Any]) -> None:
        closing = _closing(record)
        self.report = closing
        if closing.version is not None:
            self.version = closing.version
        for info in closing.layers:
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
        latest = {e.diagnosis.kind: e.diagnosis for e in self.events}
        standing = sorted(latest.values(), key=lambda d: (-SEVERITY_RANK.get(d.severity, 0), d.first_step))
        treatments = _latest(self.treatments)
        steps_run = series.last_step + 1 if series.steps.size or series.loss_steps.size else 0
        incidents = list(self.incidents)
        closing = self.report
        if closing is not None:
            standing = closing.diagnoses if closing.diagnoses is not None else standing
            treatments = closing.treatments or treatments
            steps_run = closing.steps if closing.steps is not None else steps_run
            incidents += [i for i in closing.incidents if i not in incidents]
        return RunLog(
            path=path,
            label=label,
            layers=tuple(self.infos[n] for n in ordered),
            series=series,
            diagnoses=tuple(standing),
            events=tuple(self.events),
            treatments=tuple(treatments),
            steps=steps_run,
            finished=closing is not None,
            skipped_lines=skipped,
            runs=runs,
            incidents=tuple(incidents),
            version=self.version,
            ignored_fields=closing.ignored if closing is not None else (),
        )


_PLAIN = {type(None), float, int}


def _finite_or_inf(value: Any) -> float:
    """A per-layer number: missing stays NaN, any non-finite value becomes +inf (the "non-finite" mark)."""
    if value is None:
        return math.nan
    x = fields.number(value)
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


def _latest(streamed: list[Treatment]) -> list[Treatment]:
    """A treatment is logged when applied and again when judged: keep the last line of each."""
    latest: dict[tuple[int, str, str, str], Treatment] = {}
    for t in streamed:
        latest[(t.step, t.kind, t.remedy, t.action)] = t
    return list(latest.values())
