"""gradmedic itself: ``gradmedic.watch`` at default settings, and with full statistics every step.

The loss is handed over each step (``observe_loss``), as the README's loop does. Time spent inside
gradmedic's hooks is counted by wrapping the monitor's fail-safe guard, through which every hook runs,
and the step's end (``_counted_after_step``, which the optimizer's post-hook calls unguarded: it finishes
a sampled step, its update norms and its one host transfer).
"""

from __future__ import annotations

import time
from typing import Any, Callable

from ..workloads import Workload
from .base import Tool, loss_of


class Gradmedic(Tool):
    name = "gradmedic"
    label = "gradmedic, default settings"
    per_layer = "grad/weight norms, update ratio, activation zeros, dead units, saturation"
    period = 10
    settings = "watch(model, opt): full statistics on steps 0-19, then every 10th"
    every: int | None = None

    def __init__(self) -> None:
        super().__init__()
        self.monitor: Any = None
        self._inside = [0.0]
        self._restore: Any = None

    def attach(self, w: Workload) -> None:
        import gradmedic
        from gradmedic import monitor as monitor_module

        self._timed_guard(monitor_module)
        self.monitor = gradmedic.watch(w.model, w.optimizer, every=self.every, console=False)

    def _timed_guard(self, monitor_module: Any) -> None:
        """Count the time inside every guarded hook (absent guard: no count, the benchmark still runs)."""
        original = getattr(monitor_module.Monitor, "_guard", None)
        if original is None:
            self._inside = []
            return
        self._restore = (monitor_module.Monitor, original, monitor_module.Monitor._counted_after_step)
        inside = self._inside
        after = monitor_module.Monitor._counted_after_step

        def timed_after(monitor: Any) -> None:
            start = time.perf_counter()
            try:
                after(monitor)
            finally:
                inside[0] += time.perf_counter() - start

        def timed_guard(monitor: Any, fn: Callable[..., Any]) -> Callable[..., Any]:
            guarded = original(monitor, fn)

            def timed(*args: Any, **kwargs: Any) -> Any:
                start = time.perf_counter()
                try:
                    return guarded(*args, **kwargs)
                finally:
                    inside[0] += time.perf_counter() - start

            return timed

        monitor_module.Monitor._guard = timed_guard
        monitor_module.Monitor._counted_after_step = timed_after

    def step(self, w: Workload, step: int) -> None:
        w.optimizer.zero_grad(set_to_none=True)
        loss = loss_of(w)
        loss.backward()
        w.optimizer.step()
        self.monitor.observe_loss(loss.detach())

    def close(self) -> None:
        if self.monitor is not None:
            self.monitor.close()
        if self._restore is not None:
            cls, original, after = self._restore
            cls._guard = original
            cls._counted_after_step = after
            self._restore = None

    def inside_seconds(self) -> float | None:
        return self._inside[0] if self._inside else None


class GradmedicEveryStep(Gradmedic):
    name = "gradmedic-every1"
    label = "gradmedic, full statistics every step"
    settings = "watch(model, opt, every=1)"
    every = 1
