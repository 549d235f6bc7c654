"""gradmedic for Keras 3 on the TensorFlow backend: a ``model.fit`` callback and the checkup.

Imports tensorflow and keras, never torch.
"""

from __future__ import annotations

from .callback import GradmedicCallback

__all__ = ["GradmedicCallback", "checkup"]


def __getattr__(name: str) -> object:
    if name == "checkup":
        from .checkup import checkup

        return checkup
    raise AttributeError(f"module 'gradmedic.keras' has no attribute {name!r}")
