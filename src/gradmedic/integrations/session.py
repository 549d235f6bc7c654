"""One watched run as a framework callback sees it: started when training starts, closed when it ends
or fails, its ``Report`` kept for the caller.

The callbacks translate their framework's events into these calls. Bad arguments raise when the
callback is made, before training; a model that cannot be watched at the start of training gets a
warning and an incident in the report, and the training goes on.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from ..callback_options import WatchOptions
from ..monitor import Monitor, watch
from ..records import Incident, Report


class CallbackSession:
    """The monitor of the current run (if any) and the report of the last one."""

    def __init__(self, options: WatchOptions) -> None:
        self.options = options
        self.monitor: Monitor | None = None
        self._report: Report | None = None

    def start(self, model: nn.Module, optimizers: Sequence[Any], logdir: str | Path | None, main: bool) -> None:
        """Watch ``model``; only the main process writes files and prints."""
        self.close()
        try:
            self.monitor = watch(
                model,
                list(optimizers),
                logdir=logdir if main else None,
                config=self.options.config,
                console=self.options.console and main,
                treat=self.options.treat,
                detectors=self.options.detectors,
                sinks=self.options.sinks if main else (),
            )
            self._report = None
        except Exception as exc:  # the training goes on, unwatched, and the report says so
            warnings.warn(f"gradmedic is not watching this run: {exc}", RuntimeWarning, stacklevel=3)
            self._report = Report(steps=0, layers=[], diagnoses=[], incidents=[Incident(-1, "callback", str(exc))])

    def observe_loss(self, loss: Any) -> None:
        if self.monitor is None:
            return
        if isinstance(loss, torch.Tensor) and loss.numel() == 1 or isinstance(loss, float):
            self.monitor.observe_loss(loss)

    def close(self) -> Report | None:
        monitor, self.monitor = self.monitor, None
        if monitor is not None:
            self._report = monitor.close()
        return self._report

    @property
    def report(self) -> Report | None:
        """The report so far while training runs, the final one after it, None before it started."""
        return self.monitor.report() if self.monitor is not None else self._report
