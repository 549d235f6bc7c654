"""The JSONL log: the canonical record of a run, one JSON object per line, each line whole or not at all.

Record types: ``run`` (first line: the log format version and when the run started), ``layers`` (the
layer table, written again whenever it changes: new layers, or depths and units learned from a later
forward pass), ``step``, ``diagnosis``, ``treatment``, ``incident``,
``losses`` (the losses after the last sampled step, at close), and ``report`` (the final report, last line).

One folder, one run: a log folder whose ``gradmedic.jsonl`` already holds a run (finished, crashed or
still being written by another monitor) gets that file moved aside to ``gradmedic.N.jsonl`` (N one
above the highest number there), and this run starts a fresh ``gradmedic.jsonl``. Run N of a folder is
thus ``gradmedic.N.jsonl``, and the newest run is ``gradmedic.jsonl``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any, Mapping

from ..records import REPORT_VERSION, Diagnosis, Incident, LayerInfo, Report, StepStats, Treatment, _jsonable
from .base import Sink, layer_scalars
from .whole_file import WholeFile

FILENAME = "gradmedic.jsonl"
NUMBERED = re.compile(r"gradmedic\.(\d+)\.jsonl")


def numbered_name(number: int) -> str:
    return f"gradmedic.{number}.jsonl"


def older_runs(folder: Path) -> dict[int, Path]:
    """The runs moved aside in a folder, by number: ``gradmedic.N.jsonl``."""
    if not folder.is_dir():
        return {}
    found = {}
    for entry in folder.iterdir():
        match = NUMBERED.fullmatch(entry.name)
        if match and entry.is_file():
            found[int(match.group(1))] = entry
    return dict(sorted(found.items()))


def _move_aside(path: Path) -> Path | None:
    """Give the log at ``path`` the next free run number; None when it was gone already."""
    number = max(older_runs(path.parent), default=0) + 1
    while True:
        target = path.with_name(numbered_name(number))
        try:
            os.link(path, target)  # unlike rename, never replaces a file that is already there
        except FileExistsError:
            number += 1
            continue
        except FileNotFoundError:
            return None
        except OSError:  # a file system without hard links
            if target.exists():
                number += 1
                continue
            os.replace(path, target)
            return target
        try:
            if os.stat(path).st_ino == os.stat(target).st_ino:
                os.unlink(path)
        except FileNotFoundError:
            pass
        return target


def open_fresh_log(folder: Path) -> tuple[WholeFile, Path | None]:
    """A new, empty ``folder/gradmedic.jsonl`` for this run, and where an older log was moved (if any)."""
    path = folder / FILENAME
    moved: Path | None = None
    for _ in range(100):
        try:
            return WholeFile(path, exclusive=True), moved
        except FileExistsError:
            moved = _move_aside(path) or moved
    raise OSError(f"could not start a fresh {path}: another process keeps creating it")


class JsonlSink(Sink):
    def __init__(self, logdir: str | Path) -> None:
        folder = Path(logdir)
        folder.mkdir(parents=True, exist_ok=True)
        self._file, moved = open_fresh_log(folder)
        self.path = self._file.path
        self._layer_table: tuple[LayerInfo, ...] = ()
        self._closed = False
        if moved is not None:
            print(
                f"gradmedic: {folder} already held a run's log; it was moved to {moved.name} and this run "
                f"writes a fresh {FILENAME} (see them with `gradmedic report {folder} --run N`)",
                file=sys.stderr,
            )
        with contextlib.suppress(OSError):  # a full disk: the first step's write fails again, and is an incident
            self._write({"type": "run", "version": REPORT_VERSION, "started": time.time(), "pid": os.getpid()})

    def _write(self, record: Mapping[str, Any]) -> None:
        self._file.write((json.dumps(_jsonable(record), allow_nan=False) + "\n").encode("utf-8"))

    def write_step(self, stats: StepStats, layers: Mapping[str, LayerInfo]) -> None:
        table = tuple(layers.values())
        if table != self._layer_table:  # the same LayerInfo objects until the table changes: compared by identity
            self._write({"type": "layers", "layers": [info.to_dict() for info in table]})
            self._layer_table = table
        self._write(
            {
                "type": "step",
                "step": stats.step,
                "global_grad_norm": stats.global_grad_norm,
                "loss": stats.loss,
                "losses": {str(k): v for k, v in sorted(stats.losses.items())},
                "nonfinite": stats.any_nonfinite,
                "layers": {name: layer_scalars(s) for name, s in stats.layers.items()},
            }
        )

    def write_diagnosis(self, diagnosis: Diagnosis, step: int) -> None:
        self._write({"type": "diagnosis", "step": step, **diagnosis.to_dict()})

    def write_losses(self, losses: Mapping[int, float]) -> None:
        self._write({"type": "losses", "losses": {str(k): v for k, v in sorted(losses.items())}})

    def write_treatment(self, treatment: Treatment) -> None:
        self._write({"type": "treatment", **treatment.to_dict()})

    def write_incident(self, incident: Incident) -> None:
        self._write({"type": "incident", **incident.to_dict()})

    def close(self, report: Report) -> None:
        """Write the closing ``report`` line, even after earlier write errors: the whole report if it fits,
        else a short one (steps and incidents; the reader then takes the diagnoses from the stream)."""
        if self._closed:
            return
        self._closed = True
        full = {"type": "report", **report.to_dict()}
        short = {"type": "report", "version": report.version, "steps": report.steps, "partial": True}
        short["incidents"] = full["incidents"]
        try:
            try:
                self._write(full)
            except OSError:
                self._write(short)  # raises in turn when even that does not fit
        finally:
            self._file.close()
