"""What happens when gradmedic itself fails: the traceback printed once, a warning pointed at the user's
own line (never at torch's internals), and an ``Incident`` for the record.
"""

from __future__ import annotations

import os
import sys
import traceback
import warnings

import torch

from .records import Incident

_GRADMEDIC_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_TORCH_DIR = os.path.dirname(os.path.abspath(torch.__file__)) + os.sep
_STDLIB_DIR = os.path.dirname(os.path.abspath(warnings.__file__)) + os.sep


def _ours(filename: str) -> bool:
    """A frame of gradmedic, torch or the standard library (not of a package installed beside it)."""
    if filename.startswith("<frozen"):
        return True
    full = os.path.abspath(filename)
    if full.startswith((_GRADMEDIC_DIR, _TORCH_DIR)):
        return True
    return full.startswith(_STDLIB_DIR) and not any(d in full for d in ("site-packages", "dist-packages"))


def warn_at_user(message: str, category: type[Warning] = RuntimeWarning) -> None:
    """``warnings.warn`` attributed to the nearest frame of the user's code; to gradmedic's own when there is none."""
    level, frame = 2, sys._getframe(1)
    first_level = level
    while frame is not None and _ours(frame.f_code.co_filename):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    warnings.warn(message, category, stacklevel=level if frame is not None else first_level)


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def print_traceback(exc: BaseException, what: str) -> None:
    """The internal error's traceback on stderr, under a line that says it is gradmedic's, not the user's."""
    try:
        print(f"gradmedic: internal error in {what} (your training is not affected):", file=sys.stderr)
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
        sys.stderr.flush()
    except Exception:  # a closed stderr must not turn one fault into two
        pass


def stopped_incident(step: int, where: str, exc: BaseException) -> Incident:
    """The record that the monitor stopped watching at ``step``."""
    return Incident(step=step, component="monitor", error=f"stopped watching (in {where}): {one_line(exc)}")
