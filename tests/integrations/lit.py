"""Tiny LightningModules on the bundled digits, for the Lightning callback tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import lightning.pytorch as L
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from gradmedic.demo import data


def digits_loader(batch_size: int = 64) -> DataLoader:
    x, y = data.digits()
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True, drop_last=True)


class Classifier(L.LightningModule):
    def __init__(self, net: nn.Module, make_opt: Callable[[Any], torch.optim.Optimizer], fail_at: int = -1) -> None:
        super().__init__()
        self.net = net
        self.make_opt = make_opt
        self.fail_at = fail_at

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: Any, batch_idx: int) -> dict[str, torch.Tensor]:
        if self.global_step == self.fail_at:
            raise RuntimeError("the user's bug")
        x, y = batch
        loss = F.cross_entropy(self(x), y)
        self.log("train_loss", loss)
        return {"loss": loss}

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.make_opt(self.parameters())


class TwoOptimizers(L.LightningModule):
    """Manual optimisation: an encoder and a head, each with its own optimizer (as a GAN has)."""

    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.encoder = nn.Sequential(nn.Linear(64, 64), nn.ReLU())
        self.head = nn.Linear(64, 10)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        opt_encoder, opt_head = self.optimizers()  # type: ignore[misc]
        x, y = batch
        loss = F.cross_entropy(self.head(self.encoder(x)), y)
        opt_encoder.zero_grad()
        opt_head.zero_grad()
        self.manual_backward(loss)
        opt_encoder.step()
        opt_head.step()
        return loss

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        return [torch.optim.Adam(self.encoder.parameters(), 1e-3), torch.optim.Adam(self.head.parameters(), 1e-3)]


def trainer(root: Path, steps: int, callbacks: list[Any], **kw: Any) -> L.Trainer:
    options: dict[str, Any] = dict(
        max_steps=steps,
        accelerator="cpu",
        devices=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        default_root_dir=str(root),
        num_sanity_val_steps=0,
        logger=False,
    )
    options.update(kw)
    return L.Trainer(callbacks=callbacks, **options)


class GradNorms(L.Callback):
    """The global gradient norm of every optimizer step, read where Lightning lets a callback look."""

    def __init__(self) -> None:
        self.norms: list[float] = []

    def on_before_optimizer_step(self, trainer: Any, pl_module: Any, optimizer: Any) -> None:
        grads = [p.grad.detach().float() for p in pl_module.parameters() if p.grad is not None]
        self.norms.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))
