"""Find a model's layers, name them as ``model.named_modules()`` does, and sort their parameters.

A *layer* is a module that owns parameters directly (``recurse=False``). Its non-bias parameters are
its "weights" (``weight``, ``weight_ih_l0``, ``in_proj_weight``, ...); biases are kept apart because a
bias that feeds BatchNorm has gradients near zero by design.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ..records import ActivationKind
from .module_types import is_normalization

# Activation modules and what their output can tell (records.ActivationKind). "relu" outputs can die
# (exact zeros); "sigmoid" and "tanh" outputs can saturate; "other" activations neither die nor saturate.
# More are added with module_types.register_activation.
ACTIVATION_KINDS: dict[type[nn.Module], ActivationKind] = {
    nn.ReLU: "relu",
    nn.ReLU6: "relu",
    nn.Threshold: "relu",
    nn.Sigmoid: "sigmoid",
    nn.Hardsigmoid: "sigmoid",
    nn.Tanh: "tanh",
    nn.Hardtanh: "tanh",
    nn.LeakyReLU: "other",
    nn.PReLU: "other",
    nn.ELU: "other",
    nn.SELU: "other",
    nn.CELU: "other",
    nn.GELU: "other",
    nn.SiLU: "other",
    nn.Mish: "other",
    nn.Softplus: "other",
    nn.Softsign: "other",
    nn.Hardswish: "other",
    nn.LogSigmoid: "other",
    nn.Tanhshrink: "other",
}

EMBEDDING_TYPES: tuple[type[nn.Module], ...] = (nn.Embedding, nn.EmbeddingBag)
CONV_TYPES: tuple[type[nn.Module], ...] = (nn.modules.conv._ConvNd,)


# Activation classes of other libraries (transformers' GELUActivation, NewGELU in minGPT, ...) are
# known by their class name; only these non-saturating families are recognised that way.
NON_SATURATING_NAMES = ("gelu", "silu", "swish", "mish", "elu")


def activation_kind(module: nn.Module) -> ActivationKind | None:
    """The activation kind of a module, or None when it is not an activation module."""
    for cls in type(module).__mro__:
        if cls in ACTIVATION_KINDS:
            return ACTIVATION_KINDS[cls]
    name = type(module).__name__.lower()
    if not any(True for _ in module.parameters(recurse=False)) and any(k in name for k in NON_SATURATING_NAMES):
        return "other"
    return None


def is_attention(module: nn.Module, name: str) -> bool:
    """An attention block: nn.MultiheadAttention, or a module whose class or attribute name says so."""
    if isinstance(module, nn.MultiheadAttention):
        return True
    last = name.rsplit(".", 1)[-1].lower()
    return "attention" in type(module).__name__.lower() or last in ("attn", "attention", "self_attn")


@dataclass
class Layer:
    """A parameterised layer: its module, and its trainable parameters split into weights and biases."""

    name: str
    module: nn.Module
    weights: list[nn.Parameter] = field(default_factory=list)
    biases: list[nn.Parameter] = field(default_factory=list)
    index: int = 0  # position in named_modules(): the fallback depth
    # inside an attention block: query/key gradients pass through the softmax's derivative, so they are
    # small by design and say nothing about the signal flowing through depth
    in_attention: bool = False
    # a transformer's embeddings and head (pooler, classifier) sit outside its blocks; with init scales
    # like 0.02, the head's gradients are far larger than the blocks' by design, so the depth profile is
    # made of the blocks' own layers only
    outside_blocks: bool = False

    @property
    def is_norm(self) -> bool:
        return is_normalization(self.module)

    @property
    def is_conv(self) -> bool:
        return isinstance(self.module, CONV_TYPES)

    @property
    def compares_by_depth(self) -> bool:
        """Whether this layer's weight gradients measure the signal flowing through depth."""
        return (
            bool(self.weights)
            and not self.is_norm
            and not self.in_attention
            and not self.outside_blocks
            and not isinstance(self.module, EMBEDDING_TYPES)
        )

    @property
    def num_params(self) -> int:
        return sum(p.numel() for p in self.weights + self.biases)


def find_layers(model: nn.Module) -> list[Layer]:
    """The trainable parameterised layers of ``model`` in ``named_modules()`` order.

    A parameter shared by several modules is counted once, for the first module that owns it.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"gradmedic expected a torch.nn.Module, got {type(model).__name__}; pass the model you train")
    seen: set[int] = set()
    layers: list[Layer] = []
    blocks = transformer_blocks(model)
    attention: list[str] = []  # names of the attention blocks found so far (parents come first)
    for index, (name, module) in enumerate(model.named_modules()):
        inside = any(name.startswith(a + ".") for a in attention)
        if name and not inside and is_attention(module, name):
            attention.append(name)
            inside = True
        layer = Layer(name=name or type(module).__name__, module=module, index=index, in_attention=inside)
        layer.outside_blocks = bool(blocks) and not any(name.startswith(b + ".") for b in blocks)
        for pname, param in module.named_parameters(recurse=False):
            if id(param) in seen or not param.requires_grad:
                continue
            seen.add(id(param))
            (layer.biases if "bias" in pname else layer.weights).append(param)
        if layer.weights or layer.biases:
            layers.append(layer)
    return layers


def transformer_blocks(model: nn.Module) -> list[str]:
    """The names of a transformer's blocks: items of a ModuleList or Sequential that hold attention."""
    blocks = []
    for name, module in model.named_modules():
        if isinstance(module, (nn.ModuleList, nn.Sequential)):
            for child_name, child in module.named_children():
                if any(is_attention(m, n) for n, m in child.named_modules() if n):
                    blocks.append(f"{name}.{child_name}" if name else child_name)
    return blocks


def find_frozen_layers(model: nn.Module) -> list[Layer]:
    """Modules whose own parameters are all frozen. They get no gradient statistics, but their outputs
    are still activations of their own (not of the trainable layer before them)."""
    frozen = []
    for index, (name, module) in enumerate(model.named_modules()):
        own = list(module.parameters(recurse=False))
        if own and not any(p.requires_grad for p in own):
            frozen.append(Layer(name=name or type(module).__name__, module=module, index=index))
    return frozen


def check_model(model: nn.Module) -> None:
    """Raise a clear error for a model gradmedic cannot watch."""
    params = list(model.parameters())
    if not params:
        raise ValueError(
            f"{type(model).__name__} has no parameters, so there are no gradients to watch; "
            "pass the model whose parameters the optimizer trains"
        )
    if not any(p.requires_grad for p in params):
        raise ValueError(
            f"every parameter of {type(model).__name__} is frozen (requires_grad=False); "
            "unfreeze the layers you train, or watch the sub-module that is trained"
        )


def check_optimizers(optimizers: list[torch.optim.Optimizer]) -> None:
    if not optimizers:
        raise ValueError("gradmedic.watch needs the optimizer that trains the model: watch(model, optimizer)")
    for opt in optimizers:
        if not isinstance(opt, torch.optim.Optimizer):
            raise TypeError(
                f"expected a torch.optim.Optimizer, got {type(opt).__name__}; "
                "pass the optimizer itself (for a scheduler, pass scheduler.optimizer)"
            )
