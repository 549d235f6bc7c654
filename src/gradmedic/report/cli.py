"""``gradmedic report LOGDIR [--html OUT] [--run N]``: build the page and say where it is.

Whatever LOGDIR holds, the answer is a page or one line on stderr with exit code 2, never a traceback.
"""

from __future__ import annotations

import sys
import time

from .build import OutputError, build
from .load import NotALogError
from .runs import LogNotFoundError


def _say(text: str) -> None:
    print(f"gradmedic report: {' '.join(text.split())}", file=sys.stderr)


def report_main(logdir: str, out: str | None, run: int | None = None) -> int:
    start = time.perf_counter()
    try:
        built = build(logdir, out, run)
    except (LogNotFoundError, NotALogError, OutputError) as exc:
        _say(str(exc))
        return 2
    except OSError as exc:
        _say(f"cannot read {exc.filename or logdir} ({exc.strerror or type(exc).__name__})")
        return 2
    except Exception as exc:  # the reader is meant to be total; if it is not, still one line
        _say(
            f"could not build a page from {logdir} ({type(exc).__name__}: {exc}); this is a gradmedic bug, please report it"
        )
        return 2
    for note in built.notes:
        _say(note)
    size = built.path.stat().st_size / 1e6
    _say(f"wrote {built.path} ({size:.2f} MB, {time.perf_counter() - start:.1f}s)")
    return 0
