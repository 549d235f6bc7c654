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
    from .kinds import Advice, FailureKind, Family, register_kind
    from .monitor import Monitor, watch
    from .preflight import checkup
    from .probe.module_types import register_activation, register_normalization
    from .records import Diagnosis, Finding, Incident, Kind, LayerInfo, Remedy, Report, StepStats
    from .remedies.cure import Applied, Cure
    from .sinks.base import Sink

# public name -> the module that defines it
_EXPORTS = {
    "Advice": ".kinds",
    "Applied": ".remedies.cure",
    "Config": ".config",
    "Cure": ".remedies.cure",
    "Diagnosis": ".records",
    "FailureKind": ".kinds",
    "Family": ".kinds",
    "Finding": ".records",
    "Incident": ".records",
    "Kind": ".records",
    "LayerInfo": ".records",
    "Monitor": ".monitor",
    "Remedy": ".records",
    "Report": ".records",
    "Sink": ".sinks.base",
    "StepStats": ".records",
    "checkup": ".preflight",
    "register_activation": ".probe.module_types",
    "register_kind": ".kinds",
    "register_normalization": ".probe.module_types",
    "watch": ".monitor",
}

__all__ = [
    "Advice",
    "Applied",
    "Config",
    "Cure",
    "Diagnosis",
    "FailureKind",
    "Family",
    "Finding",
    "Incident",
    "Kind",
    "LayerInfo",
    "Monitor",
    "Remedy",
    "Report",
    "Sink",
    "StepStats",
    "checkup",
    "register_activation",
    "register_kind",
    "register_normalization",
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
