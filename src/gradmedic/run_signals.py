"""How ``gradmedic run`` meets signals: the record is written, then the process ends as python's would.

- SIGTERM and SIGHUP (how schedulers and closed terminals stop a job), left at their default by the
  script's parent, become a ``Stopped`` exception that unwinds the script, so the report gets written.
  A script that installs its own handler keeps it; a signal its parent ignores (``nohup``) stays ignored.
- SIGINT stays python's KeyboardInterrupt.
- While the report is written, these signals are deferred: a Ctrl-C says it is still writing and only a
  second one during the writing abandons it (the report JSON is replaced atomically, so it is whole or
  absent, never cut); SIGTERM and SIGHUP wait for the writing to finish.
- Afterwards the process dies by the signal, after the interpreter's exit handlers, as python does
  after an uncaught KeyboardInterrupt (exit status -N to a parent process, 128+N in a shell).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
from types import FrameType
from typing import Any, Iterator

STOPPING: tuple[int, ...] = (signal.SIGTERM, signal.SIGHUP) if hasattr(signal, "SIGHUP") else (signal.SIGTERM,)


class Stopped(BaseException):
    """Raised in the script by SIGTERM or SIGHUP (a BaseException: ``except Exception`` cannot swallow it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


def _raise_stopped(signum: int, frame: FrameType | None) -> None:
    raise Stopped(signum)


@contextlib.contextmanager
def stop_signals_raise() -> Iterator[None]:
    """While the script runs: SIGTERM and SIGHUP at their default raise ``Stopped`` instead of killing."""
    saved: dict[int, Any] = {}
    for signum in STOPPING:
        if signal.getsignal(signum) == signal.SIG_DFL:
            saved[signum] = signal.signal(signum, _raise_stopped)
    try:
        yield
    finally:
        for signum, previous in saved.items():
            if signal.getsignal(signum) is _raise_stopped:  # the script may have installed its own
                signal.signal(signum, previous)


class Deferred:
    """Signals that arrived while the report was being written, to act on afterwards."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.interrupts = 0
        self._saved: dict[int, Any] = {}

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT:
            self.interrupts += 1
            if self.interrupts > 1:
                raise KeyboardInterrupt
            _say("gradmedic: still writing the report; press Ctrl-C again to abandon it")
        self.signum = self.signum or signum

    def restore(self) -> None:
        """Obey the signals again, as before ``defer_signals``."""
        saved, self._saved = self._saved, {}
        for signum, previous in saved.items():
            signal.signal(signum, previous)


def defer_signals() -> Deferred:
    """From now on SIGINT, SIGTERM and SIGHUP are noted, not obeyed (see ``Deferred``), until ``restore()``.

    SIGINT is taken first: once this is called, a second Ctrl-C that follows the first at once no longer
    raises where the script's end is being handled.
    """
    deferred = Deferred()
    for signum in (signal.SIGINT, *STOPPING):
        current = signal.getsignal(signum)
        if current != signal.SIG_IGN:
            with contextlib.suppress(ValueError, OSError):  # not the main thread
                signal.signal(signum, deferred.handle)
                deferred._saved[signum] = current
    return deferred


def die_by_signal_at_exit() -> Any:
    """Register, first (so it runs last), the exit handler that kills the process by a chosen signal.

    Returns the function that chooses it; until it is called the handler does nothing.
    """
    chosen: list[int] = []

    def die() -> None:
        if not chosen:
            return
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        signal.signal(chosen[0], signal.SIG_DFL)
        os.kill(os.getpid(), chosen[0])

    atexit.register(die)
    return chosen.append


def _say(text: str) -> None:
    with contextlib.suppress(Exception):
        print(text, file=sys.stderr, flush=True)
