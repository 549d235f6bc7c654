"""The sample batch: how the checkup calls the model, which output it reads, and which loss it backpropagates.

``inputs`` is what the model takes: a tensor for ``model(x)``, a tuple or list for ``model(*inputs)``, a dict
for ``model(**inputs)``. Without ``loss_fn`` the checkup builds a loss from the output tensor (the output
itself, ``.logits``, or the first floating-point tensor of a tuple or dict):

- integer ``targets`` shaped like the output without its class dimension: cross-entropy;
- floating-point ``targets`` with as many elements as the output: mean squared error;
- no ``targets``: a fixed random projection ``(output * r).sum()`` with ``r ~ N(0, 1)`` drawn from a seeded
  generator, which backpropagates a unit-variance signal from every output element.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

Call = tuple[tuple[Any, ...], dict[str, Any]]
LossFn = Callable[..., torch.Tensor]


def as_call(inputs: Any) -> Call:
    """Positional and keyword arguments for ``model(...)``."""
    if isinstance(inputs, torch.Tensor):
        return (inputs,), {}
    if isinstance(inputs, Mapping):
        return (), dict(inputs)
    if isinstance(inputs, (tuple, list)):
        return tuple(inputs), {}
    raise TypeError(
        f"checkup inputs must be a tensor (model(x)), a tuple or list (model(*inputs)) or a dict (model(**inputs)), "
        f"got {type(inputs).__name__}"
    )


def tensors_in(value: Any) -> list[torch.Tensor]:
    """The tensors in nested tuples, lists and dicts, in order."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, Mapping):
        return [t for v in value.values() for t in tensors_in(v)]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in tensors_in(v)]
    return []


def batch_size(call: Call) -> int:
    """The leading dimension of the first input tensor (1 when there is none)."""
    tensors = [t for t in tensors_in(call) if t.ndim >= 1]
    return int(tensors[0].shape[0]) if tensors else 1


def to_device(value: Any, device: torch.device) -> Any:
    """``value`` with every tensor moved to ``device`` (tuples, lists and dicts rebuilt)."""
    if isinstance(value, torch.Tensor):
        return value.to(device) if value.device != device else value
    if isinstance(value, Mapping):
        return {k: to_device(v, device) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(to_device(v, device) for v in value)
    if isinstance(value, list):
        return [to_device(v, device) for v in value]
    return value


def model_device(model: nn.Module) -> torch.device | None:
    """The device of the model's parameters, or None when they are spread over several."""
    devices = {p.device for p in model.parameters()}
    return devices.pop() if len(devices) == 1 else None


def describe(call: Call) -> str:
    """``model(Tensor[64, 10] float32, mask=Tensor[64] bool)``, for error messages."""

    def one(value: Any) -> str:
        if isinstance(value, torch.Tensor):
            return f"Tensor{list(value.shape)} {str(value.dtype).removeprefix('torch.')} on {value.device}"
        return type(value).__name__

    args, kwargs = call
    return "model(" + ", ".join([one(a) for a in args] + [f"{k}={one(v)}" for k, v in kwargs.items()]) + ")"


def call_model(model: nn.Module, call: Call) -> Any:
    """Run the forward pass; an input the model cannot take raises a clear error that says what was passed."""
    args, kwargs = call
    try:
        return model(*args, **kwargs)
    except Exception as exc:
        error = TypeError if isinstance(exc, TypeError) else ValueError
        raise error(
            f"checkup could not run {type(model).__name__} on the sample batch: {describe(call)} raised "
            f"{type(exc).__name__}: {exc}. Pass inputs as the model takes them in training: a tensor for model(x), "
            "a tuple for model(*inputs), a dict for model(**inputs)"
        ) from exc


def pick_output(output: Any) -> torch.Tensor:
    """The output tensor a default loss is built on."""
    if isinstance(output, torch.Tensor):
        found: Any = output
    elif isinstance(getattr(output, "logits", None), torch.Tensor):
        found = output.logits
    elif isinstance(output, Mapping) and isinstance(output.get("logits"), torch.Tensor):
        found = output["logits"]
    else:
        items = list(output.values()) if isinstance(output, Mapping) else output
        floats = (
            [t for t in items if isinstance(t, torch.Tensor) and t.is_floating_point()]
            if isinstance(items, (tuple, list))
            else []
        )
        found = floats[0] if floats else None
    if not isinstance(found, torch.Tensor) or not found.is_floating_point():
        raise TypeError(
            f"the model returned {type(output).__name__}, with no floating-point tensor to build a default loss on; "
            "pass loss_fn=lambda output, targets: ... (or loss_fn=lambda output: ... without targets)"
        )
    return found


def make_loss(output: Any, targets: Any, loss_fn: LossFn | None, seed: int) -> tuple[torch.Tensor, str]:
    """The scalar loss of the pass and its name (see the module docstring)."""
    if loss_fn is not None:
        loss = loss_fn(output, targets) if targets is not None else loss_fn(output)
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            shape = list(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
            raise ValueError(f"loss_fn must return a scalar tensor, got {shape}; reduce it, e.g. with .mean()")
        return loss.reshape(()), "loss_fn"
    out = pick_output(output)
    if targets is None:
        generator = torch.Generator(device=out.device).manual_seed(seed)
        r = torch.randn(out.shape, generator=generator, device=out.device)  # [*out.shape]
        return (out.float() * r).sum(), "random_projection"
    if not isinstance(targets, torch.Tensor):
        raise TypeError(f"targets must be a tensor, got {type(targets).__name__}; or pass loss_fn=...")
    targets = targets.to(out.device)
    if not targets.is_floating_point() and targets.dtype != torch.bool:
        return _cross_entropy(out, targets), "cross_entropy"
    if targets.numel() == out.numel():
        return F.mse_loss(out.float(), targets.float().reshape(out.shape)), "mse"
    raise ValueError(
        f"floating-point targets of shape {list(targets.shape)} do not match the output's {list(out.shape)} for a "
        "mean squared error; pass integer class targets, or loss_fn=..."
    )


def _cross_entropy(out: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    if out.ndim >= 2 and targets.shape == out.shape[:-1]:  # [..., classes] and [...]
        scores, labels = out.reshape(-1, out.shape[-1]), targets.reshape(-1)
    elif out.ndim >= 3 and targets.shape == out.shape[:1] + out.shape[2:]:  # [B, classes, ...] and [B, ...]
        scores, labels = out.movedim(1, -1).reshape(-1, out.shape[1]), targets.reshape(-1)
    else:
        raise ValueError(
            f"integer targets of shape {list(targets.shape)} do not fit class scores of shape {list(out.shape)}: "
            "cross-entropy needs targets shaped like the scores without their class dimension; or pass loss_fn=..."
        )
    classes = scores.shape[-1]
    labels = labels.long()
    valid = ((labels >= 0) & (labels < classes)) | (labels == -100)
    if not bool(valid.all()):
        raise ValueError(f"targets hold class indices outside 0..{classes - 1}; pass loss_fn=... for another loss")
    return F.cross_entropy(scores.float(), labels)
