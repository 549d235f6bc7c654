"""Run the independent oracle (probe.py, no gradmedic) on every case of the suite, under python.

    python -m tests.real.oracles.run_all [CASE ...]

Writes tests/real/oracles/results/<case>.json, the figures each label in suite.py is confirmed by.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from ..suite import CASES
from ..workspace import env, prepare

RESULTS = Path(__file__).parent / "results"
PROBE = Path(__file__).parent / "probe.py"


def main(names: list[str]) -> None:
    RESULTS.mkdir(exist_ok=True)
    for case in CASES:
        if names and case.name not in names:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            folder = prepare(case, Path(tmp) / "work")
            out = RESULTS / f"{case.name}.json"
            subprocess.run(
                [sys.executable, str(PROBE), str(out), *case.command],
                cwd=folder,
                env=env(case, folder),
                capture_output=True,
                timeout=900,
            )
            print(case.name, out.read_text()[:400] if out.exists() else "no result", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
