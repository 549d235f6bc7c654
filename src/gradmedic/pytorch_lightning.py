"""``GradmedicCallback`` for the ``pytorch_lightning`` package (``import pytorch_lightning as pl``).

The same callback as ``gradmedic.lightning``; Lightning's two packages have separate ``Callback``
classes, and a trainer accepts only its own.
"""

from __future__ import annotations

from .integrations.lightning_hooks import LightningHooks

try:
    from pytorch_lightning.callbacks import Callback
    from pytorch_lightning.loggers import TensorBoardLogger
except ImportError as exc:
    raise ImportError("gradmedic.pytorch_lightning needs pytorch_lightning: pip install pytorch-lightning") from exc

__all__ = ["GradmedicCallback"]


class GradmedicCallback(LightningHooks, Callback):
    """Watches the LightningModule and its optimizers during ``trainer.fit``; the Report lands in ``report``."""

    tensorboard_logger = TensorBoardLogger
