"""Which losses a framework callback's monitor files, and which the callback handed over itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gradmedic.monitor import Monitor


def _value(loss: Any) -> float:
    return float(loss.detach()) if hasattr(loss, "detach") else float(loss)


@dataclass
class Filings:
    filed: list[tuple[int, float]] = field(default_factory=list)  # (step, loss): every loss the monitor filed
    handed: list[float] = field(default_factory=list)  # every loss handed over through observe_loss

    def record(self, monitor: Monitor) -> None:
        file_loss, observe_loss = monitor._file_loss, monitor.observe_loss

        def filed(loss: Any, step: int) -> None:
            self.filed.append((step, _value(loss)))
            file_loss(loss, step)

        def handed(loss: Any) -> None:
            self.handed.append(_value(loss))
            observe_loss(loss)

        monitor._file_loss = filed  # type: ignore[method-assign]
        monitor.observe_loss = handed  # type: ignore[method-assign]
