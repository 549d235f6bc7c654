"""Forward hooks: where each layer sits in depth, and what its activated output looks like.

Every activation is attributed to the layer that produced it (the last parameterised, non-normalising
layer that ran before it in the same forward pass), so ``zero_fraction/fc2`` means the zeros in fc2's
activated output, whether the activation is an ``nn.ReLU`` module, a reused module, a functional
``F.relu``/``torch.tanh`` call, or the fused nonlinearity of a built-in ``nn.RNN``/``LSTM``/``GRU``.

Measured where computed: an activation module's output (module hook), a functional activation's result
(probe/functional.py, a TorchFunctionMode entered by the root hooks on sampled training passes), a
recurrent layer's output sequence (probe/recurrent.py). Each such call counts, so the time steps of a
hand-written recurrent cell accumulate into one site, whatever happens to the tensor afterwards. A
layer whose activation was not seen this way is read from the input of the next layer (a proxy: a
model whose root module is never called, so the mode is never entered). The first layer's input is
data, never an activation.

Under ``torch.compile`` every hook here does nothing inside compiled code (probe/probe_hook.py); the
Monitor runs a compiled model's sampled steps eagerly (probe/eager_steps.py), where they measure as
in eager mode. Given the compile wrapper, the root hooks go on it: it calls them outside its graph.

Only the root model's hooks stay registered on every step (the per-layer hooks do not need the
root to be called: a ModuleDict whose parts are called one by one is watched too); the post-hook hands the output to
the every-step non-finite check (probe/sentinel.py). The per-layer hooks are armed for the
passes of a sampled step and removed after it, so unsampled steps pay nothing for them.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from ..records import ActivationKind
from .activations import Site, cpu_scratch
from .functional import ActivationMode, under_compile
from .layers import Layer, activation_kind
from .pickling import ProbeHook, install_state_filter
from .recurrent import recurrent_kind, recurrent_output


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
        on_output: Callable[[list[torch.Tensor]], None],
        guard: Callable[[Callable[..., Any]], Callable[..., Any]],
        wrapper: nn.Module | None = None,
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
        self._producer_output: Any = None
        self._measured: set[str] = set()  # sites measured in this pass, either way
        self._direct: dict[str, tuple[ActivationKind | None, int]] = {}  # sites measured where computed: (kind, units)
        self._in_activation = 0  # inside an activation module's forward: its own F.relu is not counted twice
        self._pending: dict[str, tuple[ActivationKind | None, str, bool, list[tuple[torch.Tensor, int]]]] = {}
        self._mode = ActivationMode(guard(self._functional))
        self._armed: list[RemovableHandle] = []
        self._layer_hooks: list[tuple[nn.Module, ProbeHook, ProbeHook | None]] | None = None
        # made now, outside the forward pass's allocations; a model whose weights live elsewhere but
        # that produces CPU activations gets it at its first one
        self._scratch = cpu_scratch() if any(p.device.type == "cpu" for p in model.parameters()) else None
        # functional activations may be intercepted in this step's passes (not in a compiled pass)
        self.may_intercept = True
        self._compiled_seen = False
        install_state_filter(model)  # a pickled or deep-copied model leaves these hooks behind
        # on the torch.compile wrapper when there is one: its hooks run outside the compiled graph, and
        # the compiled module keeps the hook dicts it was compiled with (dynamo guards on their lengths)
        root = model if wrapper is None else wrapper
        self._root_hooks = [
            ProbeHook(guard(self._root_pre)),
            ProbeHook(self._leave_mode),  # unguarded: leaves the mode even when the pass raised or the monitor stopped
            ProbeHook(guard(self._root_post)),
        ]
        self._root: list[RemovableHandle] = [
            root.register_forward_pre_hook(self._root_hooks[0]),
            root.register_forward_hook(self._root_hooks[1], always_call=True),
            root.register_forward_hook(self._root_hooks[2]),
        ]
        self._activations = [
            (name, module, kind)
            for name, module in model.named_modules()
            if (kind := activation_kind(module)) is not None
        ]

    # --- root hooks: every step --------------------------------------------------------------------
    @property
    def compiled(self) -> bool:
        """Whether a forward pass of the model ran under ``torch.compile`` (its root hooks saw it)."""
        return self._compiled_seen or any(hook.compiled for hook in self._root_hooks)

    def compiled_pass(self) -> bool:
        """Whether a pass ran compiled since the last call: the root pre-hook did nothing else for it."""
        hook = self._root_hooks[0]
        if not hook.compiled:
            return False
        hook.compiled = False  # a plain store; dynamo's graph stores True again and never reads it
        self._compiled_seen = True
        return True

    def _root_pre(self, module: nn.Module, args: Any) -> None:
        if not _training(self.model):
            return
        self._on_pass_start()
        self.new_pass()
        if self._armed and self.may_intercept and not self._mode.retired and not under_compile():
            self._mode.enter()

    def _leave_mode(self, module: nn.Module, args: Any, output: Any) -> None:
        if self._mode.on_stack:
            self._mode.leave()

    def _root_post(self, module: nn.Module, args: Any, output: Any) -> None:
        self.flush()
        if not _training(self.model):
            return
        tensors = output_tensors(output)
        if tensors:
            self._on_output(tensors)

    def new_pass(self) -> None:
        """Forget the producer chain: a new forward pass starts (or a new step, when the root is never called)."""
        self._producer = None
        self._producer_output = None
        self._measured.clear()
        self._direct.clear()
        self._pending.clear()
        self._in_activation = 0

    # --- per-layer hooks: armed on sampled steps only --------------------------------------------
    def arm(self) -> None:
        """Register the per-layer hooks for the passes of the next sampled step (idempotent)."""
        if self._armed:
            return
        if self._layer_hooks is None:  # the guarded hooks are made once: each sampled step only registers them
            self._layer_hooks = self._make_layer_hooks()
        for module, pre, post in self._layer_hooks:
            self._armed.append(module.register_forward_pre_hook(pre))
            if post is not None:
                self._armed.append(module.register_forward_hook(post))

    def _make_layer_hooks(self) -> list[tuple[nn.Module, ProbeHook, ProbeHook | None]]:
        """(module, pre-hook, post-hook) of every layer, then of every activation module, in arming order."""
        hooks: list[tuple[nn.Module, ProbeHook, ProbeHook | None]] = [
            (
                layer.module,
                ProbeHook(self._guard(self._layer_pre(layer))),
                None if layer.is_norm else ProbeHook(self._guard(self._layer_post(layer))),
            )
            for layer in self.layers
        ]
        activation_pre = ProbeHook(self._guard(self._activation_pre))
        for name, module, kind in self._activations:
            hooks.append((module, activation_pre, ProbeHook(self._guard(self._activation_post(name, kind)))))
        return hooks

    def disarm(self) -> None:
        self._mode.leave()
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
        kind = recurrent_kind(layer.module)

        def hook(module: nn.Module, args: Any, output: Any) -> None:
            if not _training(module):
                return
            self._producer = layer
            self._producer_output = output  # read only if a functional activation follows (cheaper there)
            out = recurrent_output(output) if kind is not None else None
            if out is not None:
                self._producer_output = out
                self._record_direct(layer.name, out, kind, "", False)

        return hook

    def _activation_pre(self, module: nn.Module, args: Any) -> None:
        self._in_activation += 1

    def _activation_post(self, name: str, kind: ActivationKind) -> Callable[[nn.Module, Any, Any], None]:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            self._in_activation = max(self._in_activation - 1, 0)
            if not _training(module) or not isinstance(output, torch.Tensor) or output.ndim < 1:
                return
            producer = self._producer
            site = producer.name if producer is not None else name
            self.order.setdefault(site, len(self.order))
            conv = producer.is_conv if producer is not None else output.ndim >= 4
            self._record_direct(site, output, kind, name, conv)

        return hook

    def _functional(self, kind: ActivationKind, out: Any) -> None:
        """A functional activation's result: the activated output of the layer that ran last, if it is its."""
        producer = self._producer
        if producer is None or self._in_activation or not isinstance(out, torch.Tensor) or not out.ndim:
            return
        made = output_tensors(self._producer_output)
        if (
            not made
            or not out.is_floating_point()
            or not torch.is_grad_enabled()
            or made[0].ndim != out.ndim
            or made[0].shape[0] != out.shape[0]
        ):
            return  # data, a parameter (a learned gate), or a tensor of another shape: not this layer's output
        self._mode.found = True
        self._record_direct(producer.name, out, kind, "", producer.is_conv)

    def _record_direct(
        self, site_name: str, x: torch.Tensor, kind: ActivationKind | None, module: str, conv: bool
    ) -> None:
        """Measured where computed: every call of one kind and width in a pass adds to the site (time steps).

        The first call is reduced at once; later ones (the next time steps) wait for the end of the pass,
        to be reduced together in one go. One changed in place meanwhile is left out.
        """
        units = x.shape[_unit_dim(x, conv)] if x.ndim else 0
        seen = self._direct.get(site_name)
        if seen is None and site_name in self._measured:
            return  # already read from the next layer's input in this pass
        if seen is not None and seen != (kind, units):
            return  # a second, different activation on the same layer's output (an LSTM's tanh beside its gates)
        if seen is None:
            self._direct[site_name] = (kind, units)
            self._record(site_name, x, kind, module, conv)
            return
        x = x.detach()
        self._pending.setdefault(site_name, (kind, module, conv, []))[3].append((x, x._version))

    def flush(self) -> None:
        """Reduce the calls held back in this pass: one concatenation and one reduction per site."""
        if not self._pending:  # every unsampled pass
            return
        pending, self._pending = self._pending, {}
        for site_name, (kind, module, conv, calls) in pending.items():
            tensors = [x for x, version in calls if x._version == version]
            if tensors and all(x.shape == tensors[0].shape for x in tensors):
                tensors = [torch.cat(tensors) if len(tensors) > 1 else tensors[0]]  # [calls * batch, ...]
            for x in tensors:
                self._record(site_name, x, kind, module, conv)

    def _record(self, site_name: str, x: torch.Tensor, kind: ActivationKind | None, module: str, conv: bool) -> None:
        self._measured.add(site_name)
        unit_dim = _unit_dim(x, conv)
        site = self.sites.get(site_name)
        if site is None or site.kind != kind or site.unit_dim != unit_dim:
            site = self.sites[site_name] = Site(site_name, kind, module, unit_dim)
        if x.device.type == "cpu" and self._scratch is None:
            self._scratch = cpu_scratch()
        site.add(x, self.margin, self._scratch)

    def reset_sites(self) -> None:
        self._pending.clear()
        for site in self.sites.values():
            site.reset()

    def remove(self) -> None:
        self.disarm()
        self._mode.leave()
        for handle in self._root:
            handle.remove()
        self._root.clear()


def _unit_dim(x: torch.Tensor, conv: bool) -> int:
    """Where the units are: the channels of a convolution's output, else the last dimension."""
    return 1 if conv and x.ndim >= 3 else -1
