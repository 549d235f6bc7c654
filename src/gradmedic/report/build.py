"""Build the report file: find the logs under a path, read them, render one page, write it.

The page never replaces a log: an output path that is one of the logs found, or that ends in
``.jsonl``, is refused, and so is a folder. The page is written to a temporary file beside the target
and moved into place, so a failed write leaves no half page.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .html import render
from .load import load_log
from .runs import select_logs

DEFAULT_NAME = "report.html"


class OutputError(ValueError):
    """The page cannot be written where it was asked to go."""


@dataclass(frozen=True)
class Built:
    path: Path  # the page
    notes: tuple[str, ...]  # what the user should know: several runs, a newer log version


def default_output(path: str | Path) -> Path:
    """``LOGDIR/report.html``; for a ``.jsonl`` path, next to it."""
    root = Path(path)
    return (root.parent if root.is_file() else root) / DEFAULT_NAME


def _same(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b) or a.resolve() == b.resolve()
    except (OSError, RuntimeError):
        return False


def _check_output(target: Path, inputs: list[Path]) -> None:
    if target.is_dir():
        raise OutputError(f"--html {target} is a folder: give a file path, e.g. {target / DEFAULT_NAME}")
    if any(_same(target, log) for log in inputs):
        raise OutputError(f"--html {target} is the log being read; the page would overwrite it: choose another path")
    if target.suffix == ".jsonl":
        raise OutputError(f"--html {target} looks like a log (.jsonl), not a page: choose a .html path")


def _write(target: Path, page: str) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            temporary.write_text(page, encoding="utf-8")
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise OutputError(f"cannot write {target} ({reason}): choose another path with --html") from exc


def build(path: str | Path, out: str | Path | None = None, run: int | None = None) -> Built:
    """Render the logs under ``path`` (a log folder, a folder of them, or a ``.jsonl`` file) to ``out``."""
    selection = select_logs(path, run)
    target = Path(out) if out is not None else default_output(path)
    _check_output(target, [*selection.inputs, Path(path)])
    logs = [load_log(log_path, label) for label, log_path in selection.logs]
    notes = [selection.note] if selection.note else []
    notes += list(dict.fromkeys(log.newer_version for log in logs if log.newer_version))
    _write(target, render(logs, source=str(path), notes=notes))
    return Built(target, tuple(notes))


def build_report(path: str | Path, out: str | Path | None = None, run: int | None = None) -> Path:
    """``build``, returning only where the page is."""
    return build(path, out, run).path
