"""The Lightning callback's body, shared by ``gradmedic.lightning`` (``lightning.pytorch``) and
``gradmedic.pytorch_lightning`` (the ``pytorch_lightning`` package): each subclasses its own
``Callback`` with this mixin first and names its ``TensorBoardLogger``.

One monitor per fit watches the LightningModule and every optimizer the trainer configured (the
first one's steps are the monitor's steps; with ``accumulate_grad_batches`` a step is an optimizer
step). Gradients are read where the optimizer applies them: after backward, after the precision
plugin unscaled them and after Lightning's clipping (probe/closure.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch

from ..callback_options import CallbackOptions
from ..records import Report
from .session import CallbackSession


class LightningHooks(CallbackOptions):
    tensorboard_logger: ClassVar[type[Any]]  # the Lightning package's TensorBoardLogger, set by the subclass

    def _setup(self) -> None:
        self._session = CallbackSession(self.options)

    @property
    def report(self) -> Report | None:
        """After ``trainer.fit``: the run's Report (also after a fit that raised)."""
        return self._session.report

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        logdir = self.options.logdir if self.options.logdir is not None else self._logger_dir(trainer)
        self._session.start(pl_module, trainer.optimizers, logdir, main=trainer.is_global_zero)

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
        if not isinstance(loss, torch.Tensor):
            return
        accumulate = trainer.accumulate_grad_batches
        if pl_module.automatic_optimization and accumulate > 1:
            loss = loss * accumulate  # Lightning divided it for the backward pass
        self._session.observe_loss(loss)

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        self._session.close()

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        self._session.close()

    def _logger_dir(self, trainer: Any) -> str | None:
        """The folder of the trainer's TensorBoard logger, if it has one."""
        for logger in trainer.loggers:
            if isinstance(logger, self.tensorboard_logger):
                return str(logger.log_dir)
        return None
