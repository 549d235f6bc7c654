"""``GradmedicCallback`` for the Hugging Face ``Trainer``: ``Trainer(..., callbacks=[GradmedicCallback()])``,
then ``callback.report``.

It watches the model and the Trainer's optimizer (accelerate's wrapper is unwrapped) from
``on_train_begin`` to ``on_train_end``. Gradients are read as the optimizer applies them, after the
Trainer clipped them to ``args.max_grad_norm``. The loss is the ``loss`` the model returns in
training passes. Files are written only when ``logdir`` is given or ``"tensorboard"`` is in
``args.report_to`` (then into ``args.logging_dir`` where the Trainer has one, else
``$TENSORBOARD_LOGGING_DIR``, else ``<output_dir>/runs/gradmedic``), and only by the main process.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from .callback_options import CallbackOptions
from .integrations.session import CallbackSession
from .probe.pickling import ProbeHook
from .records import Report

try:
    from transformers import TrainerCallback
except ImportError as exc:
    raise ImportError(
        "gradmedic.transformers needs Hugging Face transformers: pip install 'gradmedic[transformers]'"
    ) from exc

__all__ = ["GradmedicCallback"]


class GradmedicCallback(CallbackOptions, TrainerCallback):
    """Watches the Trainer's model and optimizer during ``trainer.train()``; the Report lands in ``report``."""

    def _setup(self) -> None:
        self._session = CallbackSession(self.options)
        self._loss_hook: RemovableHandle | None = None

    @property
    def report(self) -> Report | None:
        """After ``trainer.train()``: the run's Report."""
        return self._session.report

    def close(self) -> Report | None:
        """Stop watching and return the report; ``on_train_end`` does this (call it after a run that raised)."""
        if self._loss_hook is not None:
            self._loss_hook.remove()
            self._loss_hook = None
        return self._session.close()

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.close()
        model, optimizer = kwargs.get("model"), kwargs.get("optimizer")
        main = bool(state.is_world_process_zero)
        self._session.start(model, [optimizer], self._logdir(args), main)  # type: ignore[arg-type]
        if self._session.monitor is not None and isinstance(model, nn.Module):
            self._loss_hook = model.register_forward_hook(ProbeHook(self._read_loss))  # left out of pickles

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.close()

    def _read_loss(self, module: nn.Module, inputs: Any, output: Any) -> None:
        if not (module.training and torch.is_grad_enabled()):
            return
        loss = output.get("loss") if isinstance(output, dict) else None  # a ModelOutput is a dict
        self._session.observe_loss(loss)

    def _logdir(self, args: Any) -> str | Path | None:
        if self.options.logdir is not None:
            return self.options.logdir
        if "tensorboard" not in (getattr(args, "report_to", None) or []):
            return None
        folder = getattr(args, "logging_dir", None) or os.environ.get("TENSORBOARD_LOGGING_DIR")
        return folder or os.path.join(args.output_dir, "runs", "gradmedic")
