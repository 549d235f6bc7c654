"""One forward and one backward pass on the sample batch, measured per layer: the checkup's probe.

Forward: the monitor's ForwardProbe attributes every activation to the layer that produced it (functional
activations read from the next layer's input, in-place ReLU, convolution channels as units) and reduces it
on the device: dead units, saturation. This probe also keeps each layer's *signal*: the tensor the forward
probe measured (the activated output), or the layer's raw output when no activation follows it.
Backward: one ``torch.autograd.grad`` call from the loss to every signal gives each layer's backpropagated
signal; no parameter's ``.grad`` is touched. Scalars reach the host in one transfer.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from ..config import Config
from ..probe.hooks import ForwardProbe, output_tensors
from ..probe.host_batch import HostBatch
from ..probe.layer_table import layer_table
from ..probe.layers import Layer, find_frozen_layers, find_layers
from ..records import ActivationKind, ActivationStats, CheckupLayer, LayerInfo
from .batch import Call, LossFn, batch_size, call_model, make_loss
from .jacobian import derivative, examples_for, mean_singular_value

_ROWS = 8  # pre-activation rows kept per Linear layer for its Jacobian


@dataclass(frozen=True)
class Measurement:
    layers: list[CheckupLayer]  # depth order: the order in which the signals were produced
    infos: list[LayerInfo]
    loss: str
    batch_size: int
    nonfinite: list[str]  # "model output", "loss"


@dataclass
class _Signal:
    tensor: torch.Tensor
    stamp: int  # when it was produced in the forward pass
    std: torch.Tensor


def _signal(x: torch.Tensor, stamp: int) -> _Signal:
    return _Signal(x, stamp, x.detach().float().std() if x.numel() > 1 else torch.zeros((), device=x.device))


def _no_op(*args: Any) -> None:
    return None


def _as_is(fn: Callable[..., Any]) -> Callable[..., Any]:
    return fn  # errors surface: the checkup is a deliberate call, not a guest in the training loop


class SignalProbe(ForwardProbe):
    """The forward probe, keeping the tensor behind every measurement, and each layer's raw output."""

    def __init__(self, model: nn.Module, layers: list[Layer], margin: float, jacobian_units: int) -> None:
        super().__init__(model, layers, margin, _no_op, _no_op, _as_is)
        self.site_signals: dict[str, _Signal] = {}
        self.raw_signals: dict[str, _Signal] = {}
        self.pre: dict[str, torch.Tensor] = {}  # Linear pre-activations [rows, out], copied before in-place ops
        self._stamps = itertools.count()
        self._jacobian_units = jacobian_units
        self._own: list[RemovableHandle] = [
            layer.module.register_forward_hook(self._raw(layer)) for layer in layers if not layer.is_norm
        ]
        self.arm()

    def _record(self, site_name: str, x: torch.Tensor, kind: ActivationKind | None, module: str, conv: bool) -> None:
        # ForwardProbe calls this once per site and pass, wherever it attributes an activation to a layer
        super()._record(site_name, x, kind, module, conv)
        if site_name not in self.site_signals:
            self.site_signals[site_name] = _signal(x, next(self._stamps))

    def _raw(self, layer: Layer) -> Callable[[nn.Module, Any, Any], None]:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            tensors = output_tensors(output)
            if layer.name in self.raw_signals or not tensors:
                return
            out = tensors[0]
            self.raw_signals[layer.name] = _signal(out, next(self._stamps))
            if (
                isinstance(module, nn.Linear)
                and max(module.in_features, module.out_features) <= self._jacobian_units
                and out.shape[-1] == module.out_features
            ):
                self.pre[layer.name] = out.detach().reshape(-1, out.shape[-1])[:_ROWS].clone()

        return hook

    def remove(self) -> None:
        super().remove()
        for handle in self._own:
            handle.remove()
        self._own.clear()


def _depth_layers(model: nn.Module, hooked: list[Layer]) -> list[Layer]:
    """Layers with a signal of their own: not normalisation, and not the model itself when it merely holds
    a parameter next to its children (its output is the model output, not a layer's)."""
    has_children = next(model.children(), None) is not None
    return [layer for layer in hooked if not layer.is_norm and not (layer.module is model and has_children)]


def measure(
    model: nn.Module,
    call: Call,
    targets: Any,
    loss_fn: LossFn | None,
    cfg: Config,
    seed: int = 0,
    loss_name: str | None = None,
) -> Measurement:
    """Run the pass and measure it. The caller sets the modes and restores the model (state.py)."""
    hooked = sorted(find_layers(model) + find_frozen_layers(model), key=lambda layer: layer.index)
    probe = SignalProbe(model, hooked, cfg.saturation_margin, cfg.checkup_jacobian_units)
    try:
        with torch.enable_grad():
            output = call_model(model, call)
    finally:
        probe.remove()
    with torch.enable_grad():
        loss, name = make_loss(output, targets, loss_fn, seed)
    if not loss.requires_grad:
        raise ValueError(
            "the loss does not depend on any trainable parameter (did the forward pass run under torch.no_grad(), "
            "or detach its output?); checkup needs a loss it can backpropagate"
        )

    depth = _depth_layers(model, hooked)
    signals = {
        layer.name: s
        for layer in depth
        if (s := probe.site_signals.get(layer.name) or probe.raw_signals.get(layer.name)) is not None
    }
    chain = sorted((layer for layer in depth if layer.name in signals), key=lambda layer: signals[layer.name].stamp)
    grads = _backward(loss, {name: s.tensor for name, s in signals.items()})

    n = batch_size(call)
    stats, scalars, nonfinite = _to_host(probe, chain, signals, grads, n, output, loss)
    records = _records(model, chain, probe, stats, scalars)
    infos = _infos(model, hooked, probe, records[-1].name if records else "")
    return Measurement(records, infos, loss_name or name, n, nonfinite)


def _to_host(
    probe: SignalProbe,
    chain: list[Layer],
    signals: dict[str, _Signal],
    grads: dict[str, torch.Tensor],
    n: int,
    output: Any,
    loss: torch.Tensor,
) -> tuple[dict[str, ActivationStats], np.ndarray, list[str]]:
    """One transfer: every site's reductions, per layer (std, grad norm, has grad), then output and loss checks.

    Returns the activation statistics by layer, the per-layer scalars [layers, 3], and where NaN/Inf showed.
    """
    device = loss.device
    sites = [probe.sites[layer.name] for layer in chain if layer.name in probe.sites]
    per_layer = []
    for layer in chain:
        g = grads.get(layer.name)
        norm = g.float().norm() / math.sqrt(n) if g is not None else torch.zeros((), device=device)
        per_layer += [signals[layer.name].std.to(device), norm, torch.tensor(float(g is not None), device=device)]
    outputs = output_tensors(output)
    finite = [torch.isfinite(outputs[0]).all() if outputs else torch.ones((), dtype=torch.bool), torch.isfinite(loss)]
    batch = HostBatch(device)
    tickets = [(site, batch.add(site.parts())) for site in sites]
    layer_scalars = batch.add([torch.stack([p.float() for p in per_layer])] if per_layer else [])
    checks = batch.add([torch.stack([f.to(device).float() for f in finite])])
    batch.transfer()  # the one host transfer

    stats = {site.name: site.unpack(batch.share(ticket)) for site, ticket in tickets}
    scalars = batch.share(layer_scalars).reshape(-1, 3)
    output_ok, loss_ok = batch.share(checks) > 0.5
    nonfinite = (["model output"] if not output_ok else []) + (["loss"] if not loss_ok else [])
    return stats, scalars, nonfinite


def _backward(loss: torch.Tensor, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """d loss / d tensor for every tensor that takes part in the graph (one backward pass)."""
    unique: dict[int, torch.Tensor] = {id(t): t for t in tensors.values() if t.requires_grad}
    if not unique:
        return {}
    found = torch.autograd.grad(loss, list(unique.values()), allow_unused=True)
    by_id = {key: g for key, g in zip(unique, found) if g is not None}
    return {name: by_id[id(t)] for name, t in tensors.items() if id(t) in by_id}


def _records(
    model: nn.Module,
    chain: list[Layer],
    probe: SignalProbe,
    stats: dict[str, ActivationStats],
    scalars: np.ndarray,
) -> list[CheckupLayer]:
    norms = [float(row[1]) if row[2] > 0.5 else None for row in scalars]
    records = []
    for i, layer in enumerate(chain):
        act = stats.get(layer.name)
        signal = (probe.site_signals.get(layer.name) or probe.raw_signals[layer.name]).tensor
        later = [v for v in norms[i + 1 :] if v is not None and math.isfinite(v) and v > 0]
        norm = norms[i]
        records.append(
            CheckupLayer(
                name=layer.name,
                type=type(layer.module).__name__,
                units=act.units if act is not None else _units(signal, layer),
                activation=act.kind if act is not None else "",
                dead_units=int((~act.active).sum()) if act is not None and act.kind == "relu" else None,
                saturated_fraction=act.saturated_fraction if act is not None else None,
                act_std=float(scalars[i][0]),
                grad_norm=norm,
                gain=norm / later[0] if norm is not None and later else None,
                jacobian_sv=_jacobian(model, layer, probe, act),
                is_output=i == len(chain) - 1,
            )
        )
    return records


def _units(x: torch.Tensor, layer: Layer) -> int:
    if x.ndim == 0:
        return 1
    return int(x.shape[1]) if layer.is_conv and x.ndim >= 3 else int(x.shape[-1])


def _jacobian(model: nn.Module, layer: Layer, probe: SignalProbe, act: ActivationStats | None) -> float | None:
    """Mean singular value of a Linear layer's Jacobian through the activation that follows it."""
    pre, site = probe.pre.get(layer.name), probe.sites.get(layer.name)
    signal = probe.site_signals.get(layer.name)
    if pre is None or site is None or signal is None or act is None or not isinstance(layer.module, nn.Linear):
        return None
    y = signal.tensor.detach()
    if y.shape[-1] != pre.shape[-1]:
        return None
    weight = layer.module.weight
    k = examples_for(min(weight.shape), pre.shape[0])
    module = model.get_submodule(site.module) if site.module else None
    deriv = derivative(pre[:k], y.reshape(-1, y.shape[-1])[:k], act.kind, module)
    return None if deriv is None else mean_singular_value(weight, deriv)


def _infos(model: nn.Module, hooked: list[Layer], probe: SignalProbe, output: str) -> list[LayerInfo]:
    """The layer table of the report, as the monitor builds it (the hooked layers alone), in depth order."""
    infos = layer_table(model, hooked, probe.sites, probe.order, output, activation_rows=False)
    return sorted(infos.values(), key=lambda info: info.order)
