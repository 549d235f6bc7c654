"""Recurrent models for the activation tests: hand-written cells (as in karpathy/makemore) and built-in layers.

The cells apply their nonlinearity functionally (``F.tanh``, ``F.sigmoid``) and feed the result back into
the same Linear layer at the next time step, where the next layer's input is only a diluted proxy.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

STEPS, INPUTS, HIDDEN, CLASSES = 30, 8, 32, 5


class TanhCell(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.xh_to_h = nn.Linear(INPUTS + HIDDEN, HIDDEN)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return F.tanh(self.xh_to_h(torch.cat([x, h], 1)))  # [batch, hidden]


class GRUCell(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.xh_to_z = nn.Linear(INPUTS + HIDDEN, HIDDEN)
        self.xh_to_r = nn.Linear(INPUTS + HIDDEN, HIDDEN)
        self.xh_to_hbar = nn.Linear(INPUTS + HIDDEN, HIDDEN)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        xh = torch.cat([x, h], 1)
        r = F.sigmoid(self.xh_to_r(xh))
        hbar = F.tanh(self.xh_to_hbar(torch.cat([x, r * h], 1)))
        z = F.sigmoid(self.xh_to_z(xh))
        return (1 - z) * h + z * hbar


class Unrolled(nn.Module):
    """A cell unrolled over the sequence, and a head reading every time step."""

    def __init__(self, cell: nn.Module) -> None:
        super().__init__()
        self.start = nn.Parameter(torch.zeros(1, HIDDEN))
        self.cell = cell
        self.head = nn.Linear(HIDDEN, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [batch, steps, inputs]
        h = self.start.expand(x.shape[0], -1)
        hs = []
        for t in range(x.shape[1]):
            h = self.cell(x[:, t], h)
            hs.append(h)
        return self.head(torch.stack(hs, 1))  # [batch, steps, classes]


class BuiltIn(nn.Module):
    """nn.RNN / nn.LSTM / nn.GRU over the sequence, and a head reading every time step."""

    def __init__(self, rnn: nn.RNNBase) -> None:
        super().__init__()
        self.rnn = rnn
        self.head = nn.Linear(rnn.hidden_size, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)  # [batch, steps, hidden]
        return self.head(out)


def scale_weights(model: nn.Module, std: float, bias: float | None = None) -> nn.Module:
    """Re-draw every weight matrix of the recurrent part with this std (large: saturating; small: healthy)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.startswith("head") or name == "start":
                continue
            if p.ndim == 2:
                p.normal_(0.0, std)
            elif bias is not None:
                p.fill_(bias)
    return model


def sequences(seed: int = 0, batch: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """A synthetic sequence task: the class at each step is the argmax of that step's first five inputs."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, STEPS, INPUTS, generator=g)
    return x, x[..., :CLASSES].argmax(-1)


def train(model: nn.Module, opt: torch.optim.Optimizer, steps: int, monitor: object | None = None) -> None:
    for i in range(steps):
        x, y = sequences(i)
        opt.zero_grad()
        loss = F.cross_entropy(model(x).reshape(-1, CLASSES), y.reshape(-1))
        loss.backward()
        opt.step()
        if monitor is not None:
            monitor.observe_loss(loss)  # type: ignore[attr-defined]
