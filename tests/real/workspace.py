"""Prepare a case's working folder and run its command, under python or under gradmedic run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .suite import Case

HERE = Path(__file__).parent
TIMEOUT = 600


def prepare(case: Case, dest: Path) -> Path:
    """A fresh copy of the case's folder, with its data in place and its setup commands run."""
    shutil.copytree(HERE / case.workdir, dest)
    for target, spec in case.data.items():
        name, *span = spec.split(":")
        text = (HERE / name).read_text()
        if span:
            text = "".join(text.splitlines(keepends=True)[int(span[0]) : int(span[1])])
        (dest / target).parent.mkdir(parents=True, exist_ok=True)
        (dest / target).write_text(text)
    for script in case.setup:
        subprocess.run([sys.executable, script], cwd=dest, env=env(case, dest), check=True, capture_output=True)
    return dest


def env(case: Case, folder: Path) -> dict[str, str]:
    paths = [str(folder / p) for p in case.pythonpath]
    extra = {"PYTHONPATH": os.pathsep.join(paths)} if paths else {}
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0", **extra}


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    files: set[str]  # relative paths written under the working folder


def run(case: Case, folder: Path, gradmedic_args: list[str] | None = None) -> Outcome:
    """Run the case in ``folder``: ``python CMD`` or, with ``gradmedic_args``, ``gradmedic run ARGS CMD``."""
    before = _files(folder)
    prefix = [sys.executable] if gradmedic_args is None else [sys.executable, "-m", "gradmedic", "run", *gradmedic_args]
    result = subprocess.run(
        [*prefix, *case.command],
        cwd=folder,
        env=env(case, folder),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    return Outcome(result.returncode, result.stdout, result.stderr, _files(folder) - before)


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
