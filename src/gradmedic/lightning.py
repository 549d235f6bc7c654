"""``GradmedicCallback`` for Lightning (``lightning.pytorch``; the ``pytorch_lightning`` package when
only that is installed): ``Trainer(callbacks=[GradmedicCallback()])``, then ``callback.report``.

Without ``logdir`` it writes TensorBoard scalars and the JSONL log into the trainer's TensorBoard
logger's folder, when it has one, and no files otherwise.
"""

from __future__ import annotations

from .integrations.lightning_hooks import LightningHooks

try:
    from lightning.pytorch.callbacks import Callback
    from lightning.pytorch.loggers import TensorBoardLogger
except ImportError:
    try:
        from pytorch_lightning.callbacks import Callback  # type: ignore[no-redef,assignment,unused-ignore]
        from pytorch_lightning.loggers import TensorBoardLogger  # type: ignore[no-redef,assignment,unused-ignore]
    except ImportError as exc:
        raise ImportError(
            "gradmedic.lightning needs Lightning: pip install 'gradmedic[lightning]' (or pip install lightning)"
        ) from exc

__all__ = ["GradmedicCallback"]


class GradmedicCallback(LightningHooks, Callback):
    """Watches the LightningModule and its optimizers during ``trainer.fit``; the Report lands in ``report``."""

    tensorboard_logger = TensorBoardLogger
