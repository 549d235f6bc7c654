"""gradmedic: catch and cure vanishing gradients, exploding gradients and dead layers while you train.

The names below are imported on first use (PEP 562), so ``import gradmedic`` stays cheap and the
framework-free half (records, detectors, sinks, the HTML report, ``gradmedic report``) works where
torch is not installed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__ as __version__

if TYPE_CHECKING:
    from .config import Config
    from .monitor import Monitor, watch
    from .preflight import checkup
    from .records import Diagnosis, Incident, Remedy, Report, StepStats
    from .sinks.base import Sink

# public name -> the module that defines it
_EXPORTS = {
    "Config": ".config",
    "Diagnosis": ".records",
    "Incident": ".records",
    "Monitor": ".monitor",
    "Remedy": ".records",
    "Report": ".records",
    "Sink": ".sinks.base",
    "StepStats": ".records",
    "checkup": ".preflight",
    "watch": ".monitor",
}

__all__ = [
    "Config",
    "Diagnosis",
    "Incident",
    "Monitor",
    "Remedy",
    "Report",
    "Sink",
    "StepStats",
    "checkup",
    "watch",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gradmedic' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
