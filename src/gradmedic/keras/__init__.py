"""gradmedic for Keras 3 on the TensorFlow backend: a ``model.fit`` callback and the checkup.

Imports tensorflow and keras, never torch.
"""

from __future__ import annotations

from .callback import GradmedicCallback
from .checkup_pass import checkup

__all__ = ["GradmedicCallback", "checkup"]
