"""Scenarios: small real training runs with a known verdict, problem cases and healthy twins.

Each scenario builds its model and optimizer from a seed and trains on bundled or synthetic data, so
tests, the demo and the detection benchmark all judge gradmedic on the same runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from . import data


def mlp(widths: list[int], act: Callable[[], nn.Module], *, bn: bool = False, dropout: float = 0.0) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths, widths[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            if bn:
                layers.append(nn.BatchNorm1d(b))
            layers.append(act())
            if dropout:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class FunctionalNet(nn.Module):
    """An MLP whose activations are F.relu calls inside forward(), not modules."""

    def __init__(self, widths: list[int]) -> None:
        super().__init__()
        self.fcs = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths, widths[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for fc in self.fcs[:-1]:
            x = F.relu(fc(x))
        return self.fcs[-1](x)


class DigitsCNN(nn.Module):
    def __init__(self, bn: bool = True) -> None:
        super().__init__()
        norm = nn.BatchNorm2d if bn else (lambda c: nn.Identity())
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            norm(16),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1),
            norm(32),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.head = nn.Linear(32 * 4 * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.view(-1, 1, 8, 8)  # [B, 64] -> [B, 1, 8, 8]
        return self.head(self.features(x).flatten(1))


class SequenceRNN(nn.Module):
    def __init__(self, cell: str = "rnn", hidden: int = 64) -> None:
        super().__init__()
        kind = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.rnn = kind(1, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)
        for name, param in self.rnn.named_parameters():
            if name.startswith("weight_hh"):
                nn.init.orthogonal_(param)  # the textbook RNN init: spectral radius 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)  # [B, T, H]
        return self.head(out[:, -1])


class FunctionalCNN(nn.Module):
    """A small digits CNN whose ReLUs are F.relu calls in forward(); the last conv's map is flattened into a Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc = nn.Linear(32 * 4 * 4, 64)
        self.head = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x.view(-1, 1, 8, 8)))  # [B, 16, 8, 8]
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # [B, 32, 4, 4]
        x = F.relu(self.fc(x.flatten(1)))  # [B, 64]
        return self.head(x)


class ReluRNN(nn.Module):
    """A vanilla ReLU RNN whose recurrent matrix is ``radius * I`` plus a little noise.

    Above radius 1 the hidden state and the gradient grow by about ``radius`` per time step: over a long
    sequence they overflow from the very first step, whatever the learning rate (the classic case of
    exploding gradients through time). Below 1 the same net trains.
    """

    def __init__(self, radius: float, hidden: int = 32) -> None:
        super().__init__()
        self.rnn = nn.RNN(1, hidden, nonlinearity="relu", batch_first=True)
        self.head = nn.Linear(hidden, 1)
        with torch.no_grad():
            noise = torch.randn(hidden, hidden) * (0.01 / hidden**0.5)
            self.rnn.weight_hh_l0.copy_(radius * torch.eye(hidden) + noise)  # type: ignore[operator]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)  # [B, T, H]
        return self.head(out[:, -1])


@dataclass(frozen=True)
class Scenario:
    name: str
    build: Callable[[], nn.Module]
    optimizer: Callable[[nn.Module], torch.optim.Optimizer]
    expect: frozenset[str]  # kinds that must be diagnosed (any one of them); empty for healthy runs
    task: str = "digits"  # or "sequence"
    length: int = 100  # sequence length of the "sequence" task
    steps: int = 300
    batch_size: int = 64
    clip: float | None = None
    setup: Callable[[nn.Module], None] | None = None
    notes: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)
    twin: str = ""  # for a problem case: the healthy scenario it should end up like once treated

    @property
    def healthy(self) -> bool:
        return not self.expect


def _sgd(lr: float, momentum: float = 0.9) -> Callable[[nn.Module], torch.optim.Optimizer]:
    return lambda m: torch.optim.SGD(m.parameters(), lr=lr, momentum=momentum)


def _adam(lr: float) -> Callable[[nn.Module], torch.optim.Optimizer]:
    return lambda m: torch.optim.Adam(m.parameters(), lr=lr)


def _born_dead(model: nn.Module) -> None:
    with torch.no_grad():
        model[2].bias.fill_(-20.0)  # type: ignore[index]


def _functional_born_dead(model: nn.Module) -> None:
    with torch.no_grad():
        model.fcs[1].bias.fill_(-20.0)  # type: ignore[index,union-attr]


def _shrink_init(model: nn.Module) -> None:
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Linear):
                m.weight.mul_(0.1)


def _xavier(model: nn.Module) -> None:
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight, gain=nn.init.calculate_gain("tanh"))
                m.bias.zero_()


RNN_LENGTH = 300  # time steps: long enough that 1.05 per step overflows (1.05**300 is about 2e6)
VANISHING = frozenset({"vanishing_gradients"})
EXPLODING = frozenset({"exploding_gradients", "non_finite"})
DEAD = frozenset({"dead_units"})

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in [
        # --- problems ----------------------------------------------------------------------------
        Scenario(
            "deep_sigmoid",
            lambda: mlp([64] + [64] * 10 + [10], nn.Sigmoid),
            _sgd(0.1),
            VANISHING,
            twin="deep_sigmoid_batchnorm",
        ),
        Scenario(
            "born_dead_relu",
            lambda: mlp([64, 128, 128, 128, 10], nn.ReLU),
            _adam(1e-3),
            DEAD,
            setup=_born_dead,
            twin="relu_adam_deeper",
        ),
        Scenario(
            "relu_high_lr", lambda: mlp([64, 256, 256, 256, 10], nn.ReLU), _sgd(3.0, 0.0), DEAD, twin="relu_lower_lr"
        ),
        Scenario(
            "rnn_long_sequence",
            lambda: SequenceRNN("rnn"),
            _sgd(0.05),
            EXPLODING,
            task="sequence",
            steps=200,
            batch_size=32,
            twin="rnn_clipped",
        ),
        Scenario(
            "tanh_small_init",
            lambda: mlp([64] + [64] * 8 + [10], nn.Tanh),
            _sgd(0.05),
            VANISHING,
            setup=_shrink_init,
            twin="tanh_xavier",
        ),
        Scenario(
            "functional_born_dead",
            lambda: FunctionalNet([64, 128, 128, 10]),
            _adam(1e-3),
            DEAD,
            setup=_functional_born_dead,
            twin="functional_relu",
        ),
        Scenario(
            "relu_rnn_radius_above_one",
            lambda: ReluRNN(1.05),
            _sgd(0.01, 0.0),
            EXPLODING,
            task="sequence",
            length=RNN_LENGTH,
            steps=60,
            batch_size=32,
            twin="relu_rnn_radius_below_one",
        ),
        Scenario(
            "functional_cnn_high_lr",
            FunctionalCNN,
            _sgd(0.5),
            DEAD,
            notes="SGD at 0.5 with momentum kills most units behind F.relu; revival alone does not finish the job",
            twin="functional_cnn",
        ),
        Scenario("relu_huge_lr", lambda: mlp([64, 128, 128, 10], nn.ReLU), _sgd(30.0), EXPLODING, twin="relu_adam"),
        # --- healthy twins ---------------------------------------------------------------------------
        Scenario("relu_adam", lambda: mlp([64, 128, 128, 10], nn.ReLU), _adam(1e-3), frozenset()),
        Scenario("relu_adam_deeper", lambda: mlp([64, 128, 128, 128, 10], nn.ReLU), _adam(1e-3), frozenset()),
        Scenario("tanh_xavier", lambda: mlp([64] + [64] * 8 + [10], nn.Tanh), _sgd(0.05), frozenset(), setup=_xavier),
        Scenario("cnn_batchnorm", lambda: DigitsCNN(bn=True), _adam(1e-3), frozenset()),
        Scenario(
            "deep_relu_batchnorm", lambda: mlp([64] + [64] * 12 + [10], nn.ReLU, bn=True), _adam(1e-3), frozenset()
        ),
        Scenario(
            "wide_relu_dropout", lambda: mlp([64, 1024, 1024, 10], nn.ReLU, dropout=0.5), _adam(1e-3), frozenset()
        ),
        Scenario("shallow_sigmoid", lambda: mlp([64, 64, 10], nn.Sigmoid), _sgd(0.1), frozenset()),
        Scenario("relu_lower_lr", lambda: mlp([64, 256, 256, 256, 10], nn.ReLU), _sgd(0.05), frozenset()),
        Scenario(
            "deep_sigmoid_batchnorm", lambda: mlp([64] + [64] * 10 + [10], nn.Sigmoid, bn=True), _sgd(0.1), frozenset()
        ),
        Scenario(
            "rnn_clipped",
            lambda: SequenceRNN("rnn"),
            _sgd(0.05),
            frozenset(),
            task="sequence",
            steps=200,
            batch_size=32,
            clip=1.0,
        ),
        Scenario("functional_relu", lambda: FunctionalNet([64, 128, 128, 10]), _adam(1e-3), frozenset()),
        Scenario("functional_cnn", FunctionalCNN, _sgd(0.02), frozenset()),
        Scenario(
            "relu_rnn_radius_below_one",
            lambda: ReluRNN(0.9),
            _sgd(0.01, 0.0),
            frozenset(),
            task="sequence",
            length=RNN_LENGTH,
            steps=60,
            batch_size=32,
        ),
    ]
}


@dataclass(frozen=True)
class RunResult:
    final_loss: float
    accuracy: float | None


def train(  # type: ignore[no-untyped-def]
    scenario: Scenario,
    seed: int = 0,
    watch: Callable[..., object] | None = None,
    progress: Callable[[int], None] | None = None,
    **watch_kwargs: object,
):
    """Train one scenario; with ``watch`` (gradmedic.watch) the run is monitored. Returns (result, report).

    ``progress`` is called with the step number after every step.
    """
    torch.manual_seed(seed)
    model = scenario.build()
    if scenario.setup is not None:
        scenario.setup(model)
    opt = scenario.optimizer(model)
    if scenario.task == "digits":
        x, y = data.digits()
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy
    else:
        x, y = data.sequences(length=scenario.length, seed=seed)
        loss_fn = F.mse_loss
    monitor = watch(model, opt, **watch_kwargs) if watch is not None else None
    model.train()
    for step, (xb, yb) in enumerate(data.batches(x, y, scenario.batch_size, scenario.steps, seed), 1):
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        if scenario.clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), scenario.clip)
        opt.step()
        if monitor is not None:
            monitor.observe_loss(loss)  # type: ignore[attr-defined]
        if progress is not None:
            progress(step)
    model.eval()
    with torch.no_grad():
        out = model(x)
        final = float(loss_fn(out, y))
        acc = float((out.argmax(1) == y).float().mean()) if scenario.task == "digits" else None
    report = monitor.close() if monitor is not None else None  # type: ignore[attr-defined]
    return RunResult(final, acc), report
