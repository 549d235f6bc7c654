"""gradmedic for Keras 3 on the TensorFlow backend: a ``model.fit`` callback and the checkup.

The names are imported on first use (PEP 562): ``gradmedic.keras.zero_code`` is imported by the
``gradmedic run`` runner without pulling in TensorFlow. Nothing here imports torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .callback import GradmedicCallback
    from .checkup_pass import checkup

_EXPORTS = {"GradmedicCallback": ".callback", "checkup": ".checkup_pass"}

__all__ = ["GradmedicCallback", "checkup"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gradmedic.keras' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
