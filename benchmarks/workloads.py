"""The four training workloads of the overhead benchmark, with fixed synthetic batches.

Each workload is one model, its optimizer, one batch (made once from a seeded generator, so every
tool sees the same numbers) and a loss module. ``plain_step`` is the user's own training step; the
tool adapters in ``benchmarks/tools`` wrap the same pieces in their own way. Imports torch only, so
it runs in every peer's virtual environment.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import torch
from torch import nn


@dataclass
class Workload:
    name: str
    model: nn.Module
    optimizer: torch.optim.Optimizer
    x: torch.Tensor
    y: torch.Tensor
    loss_fn: nn.Module  # reduction="mean"; peers that need per-example losses make their own
    description: str

    def plain_step(self) -> torch.Tensor:
        """One ordinary training step; returns the (detached) loss."""
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss_fn(self.model(self.x), self.y)
        loss.backward()
        self.optimizer.step()
        return loss.detach()

    @property
    def batch_size(self) -> int:
        return int(self.x.shape[0])


def mlp(depth: int = 6, width: int = 512, n_in: int = 512, n_out: int = 10) -> nn.Sequential:
    """``depth`` Linear layers with ReLU between them."""
    layers: list[nn.Module] = [nn.Linear(n_in, width), nn.ReLU()]
    for _ in range(depth - 2):
        layers += [nn.Linear(width, width), nn.ReLU()]
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


def cnn(channels: int = 32, n_out: int = 10) -> nn.Sequential:
    """A small VGG-like CNN for 3x32x32 images: three conv blocks and a linear head."""
    c = channels
    return nn.Sequential(
        nn.Conv2d(3, c, 3, padding=1),  # [B, c, 32, 32]
        nn.ReLU(),
        nn.MaxPool2d(2),  # [B, c, 16, 16]
        nn.Conv2d(c, 2 * c, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),  # [B, 2c, 8, 8]
        nn.Conv2d(2 * c, 2 * c, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),  # [B, 2c, 4, 4]
        nn.Flatten(),
        nn.Linear(2 * c * 16, 128),
        nn.ReLU(),
        nn.Linear(128, n_out),
    )


class Transformer(nn.Module):
    """A 4-layer transformer encoder over token embeddings, mean-pooled into a classifier."""

    def __init__(self, vocab: int = 1000, d_model: int = 128, heads: int = 4, layers: int = 4, n_out: int = 10) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model)
        block = nn.TransformerEncoderLayer(d_model, heads, dim_feedforward=4 * d_model, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, n_out)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h = self.encoder(self.embed(tokens))  # [B, T, d_model]
        return self.head(h.mean(dim=1))  # [B, n_out]


class LSTMClassifier(nn.Module):
    """A 2-layer LSTM over a sequence of feature vectors; the last hidden state feeds a linear head."""

    def __init__(self, n_in: int = 32, hidden: int = 128, layers: int = 2, n_out: int = 10) -> None:
        super().__init__()
        self.lstm = nn.LSTM(n_in, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)  # [B, T, hidden]
        return self.head(out[:, -1])  # [B, n_out]


def _build(name: str, g: torch.Generator, batch: int | None) -> tuple[nn.Module, torch.Tensor, str]:
    if name == "mlp":
        b = batch or 256
        return mlp(), torch.randn(b, 512, generator=g), f"6-layer ReLU MLP, width 512, batch {b}"
    if name == "cnn":
        b = batch or 32
        x = torch.randn(b, 3, 32, 32, generator=g)
        return cnn(), x, f"small CNN (3 conv + 2 linear, 32x32x3), batch {b}"
    if name == "transformer":
        b = batch or 16
        x = torch.randint(0, 1000, (b, 32), generator=g)
        return Transformer(), x, f"4-layer transformer encoder, d_model 128, 4 heads, seq 32, batch {b}"
    if name == "lstm":
        b = batch or 32
        x = torch.randn(b, 32, 32, generator=g)
        return LSTMClassifier(), x, f"2-layer LSTM, hidden 128, seq 32, batch {b}"
    raise ValueError(f"unknown workload {name!r}; choose from {sorted(WORKLOADS)}")


def compiled(w: Workload) -> Workload:
    """The same workload with its model behind ``torch.compile`` (inductor; compiled at its first step)."""
    model = torch.compile(w.model)
    assert isinstance(model, nn.Module)
    return replace(w, model=model, description=w.description + ", torch.compile")


WORKLOADS: tuple[str, ...] = ("mlp", "cnn", "transformer", "lstm")


def make(name: str, batch: int | None = None, seed: int = 0) -> Workload:
    """Build workload ``name`` deterministically: same weights and batch for every tool."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    model, x, description = _build(name, g, batch)
    y = torch.randint(0, 10, (x.shape[0],), generator=g)
    opt_factory: Callable[..., torch.optim.Optimizer] = torch.optim.AdamW if name == "transformer" else torch.optim.Adam
    optimizer = opt_factory(model.parameters(), lr=1e-4)
    model.train()
    return Workload(name, model, optimizer, x, y, nn.CrossEntropyLoss(), description)
