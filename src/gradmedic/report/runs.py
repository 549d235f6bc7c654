"""The logs under a path: a ``.jsonl`` file, or a log folder (and its per-model subfolders) with its runs.

A log folder holds one run per file (see ``sinks/jsonl.py``): ``gradmedic.N.jsonl`` is run N, moved
aside when a newer run started there, and ``gradmedic.jsonl`` is the newest, numbered one above the
highest N. The page shows the newest run unless ``--run N`` picks another.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from ..sinks.jsonl import FILENAME, older_runs


class LogNotFoundError(FileNotFoundError):
    """The path holds no gradmedic JSONL log (or not the run asked for)."""


def runs_in(folder: Path) -> dict[int, Path]:
    """A folder's runs by number, oldest first."""
    runs = older_runs(folder)
    current = folder / FILENAME
    if current.is_file():
        runs[max(runs, default=0) + 1] = current
    return runs


@dataclass(frozen=True)
class Selection:
    """What the page is built from, every log file found (none may be overwritten), and what to tell."""

    logs: list[tuple[str, Path]]  # (label, path) per watched model
    inputs: list[Path]
    note: str = ""  # one line when the folder holds several runs


def _when(path: Path) -> str:
    try:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(path.stat().st_mtime))
    except (OSError, OverflowError, ValueError):
        return "?"


def _listing(root: Path, runs: dict[int, Path], shown: int) -> str:
    listed = ", ".join(f"{n} ({p.name}, {_when(p)})" for n, p in runs.items())
    newest = " (the newest)" if shown == max(runs) else ""
    return f"{root} holds {len(runs)} runs: {listed}; showing run {shown}{newest}; pick another with --run N"


def select_logs(path: str | Path, run: int | None = None) -> Selection:
    """The logs to show for ``path``: the newest run of each model's folder, or run ``run``."""
    root = Path(path)
    if root.is_file():
        if run is not None:
            raise LogNotFoundError(
                f"--run picks a run in a log folder, and {root} is a file: drop --run, or pass its folder"
            )
        return Selection([(root.parent.name or str(root.parent), root)], [root])
    folders: list[tuple[str, Path]] = []
    if root.is_dir():
        folders.append((root.resolve().name, root))
        folders += [(sub.name, sub) for sub in sorted(root.iterdir()) if sub.is_dir()]
    runs = {label: found for label, folder in folders if (found := runs_in(folder))}
    if not runs:
        where = "does not exist" if not root.exists() else f"holds no {FILENAME}"
        if root.exists() and not root.is_dir():
            where = "is neither a log file nor a folder"
        raise LogNotFoundError(
            f"{root} {where}. Write a log first: `gradmedic run --logdir {root} train.py` or "
            f"`gradmedic.watch(model, optimizer, logdir={str(root)!r})`, then `gradmedic report {root}`."
        )
    inputs = [p for found in runs.values() for p in found.values()]
    if run is not None:
        logs = [(label, found[run]) for label, found in runs.items() if run in found]
        if not logs:
            numbers = sorted({n for found in runs.values() for n in found})
            raise LogNotFoundError(f"{root} has no run {run}; it holds run(s) {', '.join(map(str, numbers))}")
    else:
        logs = [(label, found[max(found)]) for label, found in runs.items()]
    several = max(runs.values(), key=len)
    note = ""
    if len(several) > 1:
        shown = run if run is not None and run in several else max(several)
        note = _listing(root, several, shown)
    return Selection(logs, inputs, note)


def find_logs(path: str | Path) -> list[tuple[str, Path]]:
    """The newest log of each watched model under ``path`` (a ``.jsonl`` file or a log folder).

    ``gradmedic run`` writes its first model's log to DIR and the others' to DIR/ClassName/; each
    one comes back labelled (the first by the folder's name).
    """
    return select_logs(path).logs
