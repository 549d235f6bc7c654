"""The labelled detection suite: small real training runs, problem cases and healthy ones.

Each case is a model, an optimizer, a task and a seed, with its label: the problem class it has
("vanishing", "exploding", "dead", "saturated") or "" for a healthy run, the step at which the
problem begins (``onset``; 0 when the net is broken at birth), and the companion kinds that may
legitimately be reported beside the label (an explosion that ends in NaN, saturation in a vanishing
sigmoid stack). Cases vary seed, depth, width, optimizer and architecture. Training data are
scikit-learn's bundled digits (as vectors, or as 8 rows of 8 pixels for sequence models) and a
synthetic long-sequence regression task; nothing is downloaded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from gradmedic.demo.scenarios import DigitsCNN, FunctionalNet, SequenceRNN, mlp

Optimizer = torch.optim.Optimizer
Event = Callable[[nn.Module, Optimizer], None]

# The kinds that count as detecting each problem class.
CLASS_KINDS: dict[str, frozenset[str]] = {
    "vanishing": frozenset({"vanishing_gradients"}),
    "exploding": frozenset({"exploding_gradients", "non_finite"}),
    "dead": frozenset({"dead_units"}),
    "saturated": frozenset({"saturated_units"}),
}
# Kinds that may accompany each class without counting as false positives.
COMPANIONS: dict[str, frozenset[str]] = {
    "vanishing": frozenset({"saturated_units"}),
    # a learning rate that is too high also shows in the size of each update (update_ratio)
    "exploding": frozenset({"loss_divergence", "dead_units", "saturated_units", "update_ratio"}),
    # a net born with a far too large init can blow its loss up before its units die (dead_cnn_std1_init_sgdm)
    "dead": frozenset({"vanishing_gradients", "update_ratio", "loss_divergence"}),
    "saturated": frozenset({"vanishing_gradients"}),
}


@dataclass(frozen=True)
class Case:
    name: str
    label: str  # a key of CLASS_KINDS, or "" for a healthy run
    build: Callable[[], nn.Module]
    optimizer: Callable[[nn.Module], Optimizer]
    seed: int = 0
    task: str = "digits"  # "digits" (vectors), "digit_rows" (8 steps of 8 pixels), "sequence", "regression"
    steps: int = 200
    batch_size: int = 64
    onset: int = 0
    setup: Callable[[nn.Module], None] | None = None
    events: tuple[tuple[int, Event], ...] = ()  # (step, change) applied before that step
    clip: float | None = None
    notes: str = ""
    extra_companions: frozenset[str] = field(default_factory=frozenset)

    @property
    def healthy(self) -> bool:
        return not self.label

    @property
    def companions(self) -> frozenset[str]:
        return COMPANIONS.get(self.label, frozenset()) | self.extra_companions


# --- models beyond the demo's ---------------------------------------------------------------------------
class RowsTransformer(nn.Module):
    """A tiny transformer encoder over the 8 rows of a digit (8 tokens of 8 pixels)."""

    def __init__(self, d: int = 32, layers: int = 2) -> None:
        super().__init__()
        self.embed = nn.Linear(8, d)
        self.position = nn.Parameter(torch.zeros(8, d))
        block = nn.TransformerEncoderLayer(d, 4, dim_feedforward=2 * d, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x.view(-1, 8, 8)) + self.position  # [B, 8, d]
        return self.head(self.encoder(h).mean(dim=1))  # [B, 10]


class RowsRecurrent(nn.Module):
    """An LSTM or GRU reading a digit row by row (8 steps of 8 pixels)."""

    def __init__(self, cell: str = "lstm", hidden: int = 64) -> None:
        super().__init__()
        self.rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[cell](8, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x.view(-1, 8, 8))  # [B, 8, hidden]
        return self.head(out[:, -1])


# --- set-up helpers -----------------------------------------------------------------------------------
def sgd(lr: float, momentum: float = 0.0, nesterov: bool = False) -> Callable[[nn.Module], Optimizer]:
    return lambda m: torch.optim.SGD(m.parameters(), lr=lr, momentum=momentum, nesterov=nesterov)


def adam(lr: float = 1e-3, decay: float = 0.0) -> Callable[[nn.Module], Optimizer]:
    if decay:
        return lambda m: torch.optim.AdamW(m.parameters(), lr=lr, weight_decay=decay)
    return lambda m: torch.optim.Adam(m.parameters(), lr=lr)


def rmsprop(lr: float) -> Callable[[nn.Module], Optimizer]:
    return lambda m: torch.optim.RMSprop(m.parameters(), lr=lr)


def init_normal(
    std: float, bias: float = 0.0, types: tuple[type[nn.Module], ...] = (nn.Linear,)
) -> Callable[[nn.Module], None]:
    """Every weight of the given layer types drawn from N(0, std^2); biases set to ``bias``."""

    def setup(model: nn.Module) -> None:
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, types):
                    nn.init.normal_(m.get_parameter("weight"), 0.0, std)
                    if getattr(m, "bias", None) is not None:
                        nn.init.constant_(m.get_parameter("bias"), bias)

    return setup


def init_gain(gain: float) -> Callable[[nn.Module], None]:
    """He-normal init scaled by ``gain`` (gain > 1: every layer amplifies its input by about ``gain``)."""

    def setup(model: nn.Module) -> None:
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, (nn.Linear, nn.Conv2d)):
                    fan_in = m.weight[0].numel()
                    m.weight.normal_(0.0, gain * math.sqrt(2.0 / fan_in))
                    if m.bias is not None:
                        m.bias.zero_()

    return setup


def bias_of(index: int, value: float) -> Callable[[nn.Module], None]:
    """Set the bias of ``model[index]`` (a Linear or Conv2d) to ``value``: its ReLU units are born dead."""

    def setup(model: nn.Module) -> None:
        with torch.no_grad():
            nn.init.constant_(model.get_parameter(f"{index}.bias"), value)

    return setup


def conv_bias(value: float) -> Callable[[nn.Module], None]:
    def setup(model: nn.Module) -> None:
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, nn.Conv2d) and m.bias is not None:
                    m.bias.fill_(value)

    return setup


def recurrent_radius(radius: float) -> Callable[[nn.Module], None]:
    """Scale the recurrent weights (orthogonal after SequenceRNN's init) to this spectral radius."""

    def setup(model: nn.Module) -> None:
        with torch.no_grad():
            for name, p in model.named_parameters():
                if "weight_hh" in name:
                    p.mul_(radius)

    return setup


def shift_hidden_biases(value: float) -> Event:
    """Mid-run fault: every hidden Linear's bias jumps to ``value`` (their ReLU units die at once)."""

    def event(model: nn.Module, opt: Optimizer) -> None:
        linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
        with torch.no_grad():
            for m in linears[:-1]:
                m.bias.fill_(value)

    return event


def set_lr(lr: float) -> Event:
    """Mid-run fault: the learning rate jumps to ``lr``."""

    def event(model: nn.Module, opt: Optimizer) -> None:
        for group in opt.param_groups:
            group["lr"] = lr

    return event


def relu_mlp(depth: int, width: int, n_in: int = 64, n_out: int = 10, **kw: object) -> Callable[[], nn.Module]:
    """``depth`` hidden layers of ``width`` ReLU units."""
    return lambda: mlp([n_in] + [width] * depth + [n_out], nn.ReLU, **kw)  # type: ignore[arg-type]


def act_mlp(act: type[nn.Module], depth: int, width: int, n_in: int = 64, n_out: int = 10) -> Callable[[], nn.Module]:
    return lambda: mlp([n_in] + [width] * depth + [n_out], act)


def _cases() -> list[Case]:
    V, E, D, S = "vanishing", "exploding", "dead", "saturated"
    return [
        # --- vanishing: deep saturating stacks --------------------------------------------------------
        Case("vanish_sigmoid_d10_w64_sgdm", V, act_mlp(nn.Sigmoid, 10, 64), sgd(0.1, 0.9)),
        Case("vanish_sigmoid_d14_w32_sgd", V, act_mlp(nn.Sigmoid, 14, 32), sgd(0.5), seed=1),
        Case("vanish_sigmoid_d8_w128_rmsprop", V, act_mlp(nn.Sigmoid, 8, 128), rmsprop(1e-3), seed=2),
        Case("vanish_sigmoid_d12_w64_adam", V, act_mlp(nn.Sigmoid, 12, 64), adam(1e-3), seed=3),
        Case("vanish_tanh_small_d10_w64_sgdm", V, act_mlp(nn.Tanh, 10, 64), sgd(0.05, 0.9), setup=init_normal(0.02)),
        Case("vanish_tanh_small_d12_w128_sgd", V, act_mlp(nn.Tanh, 12, 128), sgd(0.1), seed=1, setup=init_normal(0.02)),
        Case("vanish_tanh_small_d8_w32_adam", V, act_mlp(nn.Tanh, 8, 32), adam(1e-3), seed=2, setup=init_normal(0.01)),
        # --- exploding: long unrolls, large init, huge or raised learning rates ----------------------
        Case(
            "explode_rnn_seq100_h64", E, lambda: SequenceRNN("rnn", 64), sgd(0.05, 0.9), task="sequence", batch_size=32
        ),
        Case(
            "explode_rnn_seq100_h128",
            E,
            lambda: SequenceRNN("rnn", 128),
            sgd(0.05, 0.9),
            seed=1,
            task="sequence",
            batch_size=32,
        ),
        Case(
            "explode_rnn_seq100_h64_seed2",
            E,
            lambda: SequenceRNN("rnn", 64),
            sgd(0.05, 0.9),
            seed=2,
            task="sequence",
            batch_size=32,
        ),
        Case(
            "explode_rnn_radius1.5",
            E,
            lambda: SequenceRNN("rnn", 64),
            sgd(0.05, 0.9),
            seed=3,
            task="sequence",
            batch_size=32,
            setup=recurrent_radius(1.5),
        ),
        Case("explode_relu_gain3_d8_w128", E, relu_mlp(8, 128), sgd(0.01), setup=init_gain(3.0)),
        Case("explode_relu_gain3_d6_w256_sgdm", E, relu_mlp(6, 256), sgd(0.01, 0.9), seed=1, setup=init_gain(3.0)),
        Case(
            "explode_tanh_regression_lr0.5", E, act_mlp(nn.Tanh, 3, 128, n_in=20, n_out=1), sgd(0.5), task="regression"
        ),
        Case(
            "explode_tanh_regression_lr0.3_d4",
            E,
            act_mlp(nn.Tanh, 4, 64, n_in=20, n_out=1),
            sgd(0.3),
            seed=1,
            task="regression",
        ),
        Case(
            "explode_relu_regression_lr0.05", E, relu_mlp(3, 64, n_in=20, n_out=1), sgd(0.05), seed=2, task="regression"
        ),
        Case(
            "explode_relu_lr_jump_at_100",
            E,
            relu_mlp(4, 128, n_in=20, n_out=1),
            sgd(1e-3, 0.9),
            seed=1,
            task="regression",
            onset=100,
            events=((100, set_lr(0.5)),),
        ),
        # --- dead: born dead, knocked dead by a large step, or shifted dead mid-run -------------------
        Case("dead_born_bias_layer2_w128", D, relu_mlp(3, 128), adam(1e-3), setup=bias_of(2, -20.0)),
        Case("dead_born_bias_layer0_w64_sgd", D, relu_mlp(4, 64), sgd(0.05, 0.9), seed=1, setup=bias_of(0, -10.0)),
        Case("dead_born_bias_layer4_w256", D, relu_mlp(4, 256), rmsprop(1e-3), seed=2, setup=bias_of(4, -15.0)),
        Case("dead_high_lr3_w256", D, relu_mlp(3, 256), sgd(3.0)),
        Case("dead_high_lr2_w128_seed1", D, relu_mlp(3, 128), sgd(2.0), seed=1),
        Case("dead_high_lr_adam0.1_w128", D, relu_mlp(3, 128), adam(0.1), seed=2),
        Case(
            "dead_cnn_std1_init_sgdm",
            D,
            lambda: DigitsCNN(bn=False),
            sgd(0.1, 0.9),
            setup=init_normal(1.0, 0.0, (nn.Conv2d,)),
            notes="conv weights N(0, 1): the first large steps leave every ReLU channel dead",
        ),
        Case("dead_cnn_conv_bias", D, lambda: DigitsCNN(bn=False), adam(1e-3), setup=conv_bias(-10.0)),
        Case(
            "dead_bias_shift_at_80",
            D,
            relu_mlp(3, 128),
            adam(1e-3),
            seed=3,
            onset=80,
            events=((80, shift_hidden_biases(-30.0)),),
        ),
        Case(
            "dead_narrow_w3_d10_adam", D, relu_mlp(10, 3), adam(1e-3), notes="born dead: a 3-wide ReLU stack collapses"
        ),
        Case("dead_narrow_w3_d10_adam_seed1", D, relu_mlp(10, 3), adam(1e-3), seed=1),
        # --- saturated: sigmoid or tanh layers pinned at their asymptotes ----------------------------
        Case("saturated_sigmoid_std4_w256", S, act_mlp(nn.Sigmoid, 1, 256), sgd(0.1), setup=init_normal(4.0)),
        Case("saturated_tanh_std3_d2_w128", S, act_mlp(nn.Tanh, 2, 128), adam(1e-3), seed=1, setup=init_normal(3.0)),
        Case(
            "saturated_sigmoid_bias8_d2_w64",
            S,
            act_mlp(nn.Sigmoid, 2, 64),
            sgd(0.1, 0.9),
            seed=2,
            setup=init_normal(0.1, 8.0),
        ),
        # --- healthy -----------------------------------------------------------------------------------
        Case("healthy_relu_d2_w128_adam", "", relu_mlp(2, 128), adam(1e-3)),
        Case("healthy_relu_d2_w128_adam_seed1", "", relu_mlp(2, 128), adam(1e-3), seed=1),
        Case("healthy_relu_d3_w256_sgdm", "", relu_mlp(3, 256), sgd(0.05, 0.9), seed=2),
        Case("healthy_relu_d3_w64_sgd", "", relu_mlp(3, 64), sgd(0.1), seed=3),
        Case("healthy_relu_d4_w128_nesterov", "", relu_mlp(4, 128), sgd(0.02, 0.9, nesterov=True), seed=4),
        Case("healthy_relu_d3_w128_rmsprop", "", relu_mlp(3, 128), rmsprop(1e-3), seed=5),
        Case("healthy_relu_d8_w128_he_adam", "", relu_mlp(8, 128), adam(1e-3), seed=6, setup=init_gain(1.0)),
        Case("healthy_relu_d4_w512_adamw", "", relu_mlp(4, 512), adam(1e-3, decay=0.01), seed=7),
        Case("healthy_relu_bn_d12_w64_adam", "", relu_mlp(12, 64, bn=True), adam(1e-3)),
        Case("healthy_relu_bn_d6_w128_sgdm", "", relu_mlp(6, 128, bn=True), sgd(0.05, 0.9), seed=1),
        Case(
            "healthy_sigmoid_bn_d10_w64_sgdm",
            "",
            lambda: mlp([64] + [64] * 10 + [10], nn.Sigmoid, bn=True),
            sgd(0.1, 0.9),
        ),
        Case("healthy_relu_dropout_d2_w1024", "", relu_mlp(2, 1024, dropout=0.5), adam(1e-3)),
        Case("healthy_relu_dropout_d3_w256_sgdm", "", relu_mlp(3, 256, dropout=0.3), sgd(0.05, 0.9), seed=1),
        Case("healthy_sigmoid_d1_w64_sgd", "", act_mlp(nn.Sigmoid, 1, 64), sgd(0.1, 0.9)),
        Case("healthy_tanh_d4_w128_sgdm", "", act_mlp(nn.Tanh, 4, 128), sgd(0.05, 0.9), seed=1),
        Case("healthy_elu_d6_w128_adam", "", act_mlp(nn.ELU, 6, 128), adam(1e-3), seed=2),
        Case("healthy_leaky_d6_w128_sgdm", "", act_mlp(nn.LeakyReLU, 6, 128), sgd(0.05, 0.9), seed=3),
        Case("healthy_functional_relu_adam", "", lambda: FunctionalNet([64, 128, 128, 10]), adam(1e-3)),
        Case("healthy_cnn_bn_adam", "", lambda: DigitsCNN(bn=True), adam(1e-3)),
        Case("healthy_cnn_sgdm", "", lambda: DigitsCNN(bn=False), sgd(0.05, 0.9), seed=1),
        Case("healthy_lstm_rows_adam", "", lambda: RowsRecurrent("lstm"), adam(3e-3), task="digit_rows"),
        Case("healthy_gru_rows_rmsprop", "", lambda: RowsRecurrent("gru"), rmsprop(3e-3), seed=1, task="digit_rows"),
        Case("healthy_transformer_rows_adam", "", lambda: RowsTransformer(), adam(1e-3), task="digit_rows"),
        Case(
            "healthy_rnn_seq100_clipped",
            "",
            lambda: SequenceRNN("rnn", 64),
            sgd(0.05, 0.9),
            task="sequence",
            batch_size=32,
            clip=1.0,
        ),
        Case(
            "healthy_lstm_seq100_adam",
            "",
            lambda: SequenceRNN("lstm", 64),
            adam(3e-3),
            seed=1,
            task="sequence",
            batch_size=32,
        ),
        Case("healthy_tanh_xavier_d8_w128_sgdm", "", act_mlp(nn.Tanh, 8, 128), sgd(0.05, 0.9), seed=4),
        Case("healthy_relu_d4_w128_sgd_lr0.3", "", relu_mlp(4, 128), sgd(0.3), seed=6),
        Case("healthy_sigmoid_d3_w128_adam", "", act_mlp(nn.Sigmoid, 3, 128), adam(1e-3), seed=7),
        Case(
            "healthy_relu_bn_lr_takeoff_at_60",
            "",
            relu_mlp(4, 64, bn=True),
            sgd(0.001, 0.9),
            seed=8,
            events=((60, set_lr(0.1)),),
            notes="a plateau, then the learning rate rises 100x: gradients jump to a new steady level",
        ),
        Case("healthy_gelu_d6_w128_adamw", "", act_mlp(nn.GELU, 6, 128), adam(1e-3, 0.05), seed=9),
        Case("healthy_cnn_bn_nesterov", "", lambda: DigitsCNN(bn=True), sgd(0.05, 0.9, True), seed=2),
        Case(
            "healthy_transformer_rows_d64_adamw",
            "",
            lambda: RowsTransformer(d=64, layers=3),
            adam(5e-4, 0.01),
            seed=1,
            task="digit_rows",
        ),
        Case("healthy_relu_regression_adam", "", relu_mlp(3, 128, n_in=20, n_out=1), adam(1e-3), task="regression"),
    ]


CASES: dict[str, Case] = {c.name: c for c in _cases()}
