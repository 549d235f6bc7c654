"""The sinks a watched run gets unless told otherwise: the console, and with a log folder the JSONL log and
TensorBoard. Shared by every adapter (the torch Monitor, the Keras callback); imports no framework."""

from __future__ import annotations

from pathlib import Path

from .base import Sink


def default_sinks(logdir: str | Path | None, console: bool) -> list[Sink]:
    sinks: list[Sink] = []
    if console:
        from .console import ConsoleSink

        sinks.append(ConsoleSink())
    if logdir is not None:
        from .jsonl import JsonlSink
        from .tensorboard import TensorBoardSink

        sinks += [JsonlSink(logdir), TensorBoardSink(logdir)]
    return sinks
