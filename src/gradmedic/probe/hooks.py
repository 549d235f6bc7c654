"""Forward hooks: where each layer sits in depth, and what its activated output looks like.

Every activation is attributed to the layer that produced it (the last parameterised, non-normalising
layer that ran before it in the same forward pass), so ``zero_fraction/fc2`` means the zeros in fc2's
activated output, whether the activation is an ``nn.ReLU`` module, a reused module, or ``F.relu``
read from the input of the next layer. The first layer's input is data, never an activation.

Only the root model's two hooks stay registered on every step (the per-layer hooks do not need the
root to be called: a ModuleDict whose parts are called one by one is watched too); the post-hook hands the output to
the every-step non-finite check (probe/sentinel.py). The per-layer hooks are armed for the
passes of a sampled step and removed after it, so unsampled steps pay nothing for them.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from .activations import Site, cpu_scratch
from .layers import Layer, activation_kind
from .pickling import ProbeHook, install_state_filter


def _training(module: nn.Module) -> bool:
    """A training pass: gradients on and the module in train mode (evaluation passes are not counted).

    A pass traced by ``torch.jit.trace`` is not training: an op of ours would enter the traced graph.
    """
    return torch.is_grad_enabled() and module.training and not torch._C._is_tracing()


def output_tensors(output: Any) -> list[torch.Tensor]:
    """The floating-point tensors among a module's outputs (a tensor, a tuple, a dict, a ModelOutput)."""
    if isinstance(output, torch.Tensor):
        items: list[Any] = [output]
    elif isinstance(output, dict):
        items = list(output.values())[:8]
    elif isinstance(output, (tuple, list)):
        items = list(output)[:8]
    else:
        items = []
    return [t for t in items if isinstance(t, torch.Tensor) and t.is_floating_point()]


class ForwardProbe:
    """Tracks training forward passes of one model and measures activations on sampled steps."""

    def __init__(
        self,
        model: nn.Module,
        layers: list[Layer],
        margin: float,
        on_pass_start: Callable[[], None],
        on_output: Callable[[torch.Tensor], None],
        guard: Callable[[Callable[..., Any]], Callable[..., Any]],
    ) -> None:
        self.model = model
        self.layers = layers
        self.margin = margin
        self.sites: dict[str, Site] = {}
        self.order: dict[str, int] = {}
        self._on_pass_start = on_pass_start
        self._on_output = on_output
        self._guard = guard
        self._producer: Layer | None = None
        self._measured: set[str] = set()
        self._armed: list[RemovableHandle] = []
        # made now, outside the forward pass's allocations; a model whose weights live elsewhere but
        # that produces CPU activations gets it at its first one
        self._scratch = cpu_scratch() if any(p.device.type == "cpu" for p in model.parameters()) else None
        install_state_filter(model)  # a pickled or deep-copied model leaves these hooks behind
        self._root: list[RemovableHandle] = [
            model.register_forward_pre_hook(ProbeHook(guard(self._root_pre))),
            model.register_forward_hook(ProbeHook(guard(self._root_post))),
        ]
        self._activations = [
            (name, module, kind)
            for name, module in model.named_modules()
            if (kind := activation_kind(module)) is not None
        ]

    # --- root hooks: every step --------------------------------------------------------------------
    def _root_pre(self, module: nn.Module, args: Any) -> None:
        if not _training(module):
            return
        self._on_pass_start()
        self.new_pass()

    def _root_post(self, module: nn.Module, args: Any, output: Any) -> None:
        if not _training(module):
            return
        tensors = output_tensors(output)
        if tensors:
            self._on_output(tensors[0])

    def new_pass(self) -> None:
        """Forget the producer chain: a new forward pass starts (or a new step, when the root is never called)."""
        self._producer = None
        self._measured.clear()

    # --- per-layer hooks: armed on sampled steps only --------------------------------------------
    def arm(self) -> None:
        """Register the per-layer hooks for the passes of the next sampled step (idempotent)."""
        if self._armed:
            return
        for layer in self.layers:
            self._armed.append(layer.module.register_forward_pre_hook(ProbeHook(self._guard(self._layer_pre(layer)))))
            if not layer.is_norm:
                self._armed.append(layer.module.register_forward_hook(ProbeHook(self._guard(self._layer_post(layer)))))
        for name, module, kind in self._activations:
            self._armed.append(module.register_forward_hook(ProbeHook(self._guard(self._activation_post(name, kind)))))

    def disarm(self) -> None:
        for handle in self._armed:
            handle.remove()
        self._armed.clear()

    def _layer_pre(self, layer: Layer) -> Callable[[nn.Module, Any], None]:
        def hook(module: nn.Module, args: Any) -> None:
            if not _training(module):
                return
            self.order.setdefault(layer.name, len(self.order))
            producer = self._producer
            if layer.is_norm or producer is None or producer.name in self._measured or not args:
                return
            x = args[0]
            if isinstance(x, torch.Tensor) and x.is_floating_point() and x.ndim >= 1:
                self._record(producer.name, x, None, "", producer.is_conv)

        return hook

    def _layer_post(self, layer: Layer) -> Callable[[nn.Module, Any, Any], None]:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            if _training(module):
                self._producer = layer

        return hook

    def _activation_post(self, name: str, kind: str) -> Callable[[nn.Module, Any, Any], None]:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            if not _training(module) or not isinstance(output, torch.Tensor) or output.ndim < 1:
                return
            producer = self._producer
            site = producer.name if producer is not None else name
            if site in self._measured:
                return
            self.order.setdefault(site, len(self.order))
            conv = producer.is_conv if producer is not None else output.ndim >= 4
            self._record(site, output, kind, name, conv)

        return hook

    def _record(self, site_name: str, x: torch.Tensor, kind: str | None, module: str, conv: bool) -> None:
        self._measured.add(site_name)
        unit_dim = 1 if conv and x.ndim >= 3 else -1
        site = self.sites.get(site_name)
        if site is None or site.kind != kind or site.unit_dim != unit_dim:
            site = self.sites[site_name] = Site(site_name, kind, module, unit_dim)
        if x.device.type == "cpu" and self._scratch is None:
            self._scratch = cpu_scratch()
        site.add(x, self.margin, self._scratch)

    def reset_sites(self) -> None:
        for site in self.sites.values():
            site.reset()

    def remove(self) -> None:
        self.disarm()
        for handle in self._root:
            handle.remove()
        self._root.clear()
