"""The recurrent weights of a model, and how hard they push the signal through time (torch side).

Two shapes of recurrence are found:

- ``nn.RNN`` (tanh or ReLU): every ``weight_hh_l*`` parameter, run once per element of the input sequence.
- a hand-written cell: an ``nn.RNNCell``, or a square ``nn.Linear`` called more than once per forward pass
  (its output fed back into it). The number of calls per pass is its number of time steps.

LSTM and GRU are left out: their gates, not the recurrent matrix, decide how the gradient flows.

``measure()`` estimates each recurrent weight's spectral radius with a few power iterations (warm-started
from the previous estimate, so a handful of matrix-vector products per sampled step) and returns framework-free
``Recurrence`` records. With ``track_hidden=True`` (the checkup) it also measures how the hidden state's norm
grows from one time step to the next.
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence
from torch.utils.hooks import RemovableHandle

from ..records import Recurrence
from .pickling import ProbeHook, install_state_filter

LEARN_PASSES = 3  # forward passes after which a square Linear never fed back stops being watched
WARM_ITERATIONS = 30  # at attach time: converge from a random start
ITERATIONS = 8  # on each sampled step, warm-started


@dataclass
class _Weight:
    layer: str
    param: str
    module: nn.Module
    vector: torch.Tensor | None = None
    steps: int = 0
    norms: list[float] = field(default_factory=list)  # hidden-state norm per time step (track_hidden only)


def _square_linear(module: nn.Module) -> bool:
    return isinstance(module, nn.Linear) and module.in_features == module.out_features and module.in_features > 1


def spectral_radius(
    weight: torch.Tensor, start: torch.Tensor | None, iterations: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(radius estimate, last vector): the per-step growth of ``weight^k v``, geometric mean over the last half.

    A complex dominant pair makes single ratios oscillate; their geometric mean still tends to its modulus.
    """
    w = weight.detach().float()
    v = start if start is not None else torch.randn(w.shape[1], generator=torch.Generator().manual_seed(0)).to(w.device)
    v = v / v.norm().clamp_min(1e-30)
    logs = []
    for _ in range(iterations):
        v = w @ v
        norm = v.norm()
        logs.append(torch.log(norm.clamp_min(1e-30)))
        v = v / norm.clamp_min(1e-30)
    tail = torch.stack(logs[len(logs) // 2 :])
    return tail.mean().exp(), torch.nan_to_num(v)


class RecurrenceProbe:
    """Finds the recurrent weights of ``model`` and measures them; ``empty`` for a feed-forward model."""

    def __init__(self, model: nn.Module, *, track_hidden: bool = False, wrapper: nn.Module | None = None) -> None:
        self.model = model
        self.track_hidden = track_hidden
        self.weights: list[_Weight] = []
        self._cells: dict[str, _Weight] = {}  # square Linear / RNNCell: recurrent once called twice per pass
        self._calls: dict[str, int] = {}
        self._passes = 0
        self._handles: list[RemovableHandle] = []
        self._cell_handles: dict[str, RemovableHandle] = {}
        self._pass_handle: RemovableHandle | None = None  # the root's pre-hook, while cells are being counted
        for name, module in model.named_modules():
            if isinstance(module, nn.RNN):
                for pname, _ in module.named_parameters(recurse=False):
                    if pname.startswith("weight_hh"):
                        self.weights.append(_Weight(name, pname, module))
                self._handles.append(module.register_forward_hook(ProbeHook(self._safe(self._sequence_hook(name)))))
            elif isinstance(module, nn.RNNCell):
                self._cells[name] = _Weight(name, "weight_hh", module)
            elif _square_linear(module):
                self._cells[name] = _Weight(name, "weight", module)
        for name, cell in self._cells.items():
            self._cell_handles[name] = cell.module.register_forward_hook(ProbeHook(self._safe(self._call_hook(name))))
        if self._cells:
            root = model if wrapper is None else wrapper  # a torch.compile wrapper calls its hooks outside the graph
            self._pass_handle = root.register_forward_pre_hook(ProbeHook(self._safe(self._new_pass)))
        if self._handles or self._cell_handles:
            install_state_filter(model)

    @property
    def empty(self) -> bool:
        return not self.weights and not self._cells

    def _safe(self, hook: Callable[..., None]) -> Callable[..., None]:
        """A hook that never raises into the user's forward pass: on an error the probe stops, with one warning."""

        @functools.wraps(hook)
        def safe(*args: Any) -> None:
            try:
                hook(*args)
            except Exception as exc:
                self.remove()
                self.weights.clear()
                self._cells.clear()
                warnings.warn(
                    f"gradmedic stopped measuring recurrent weights ({type(exc).__name__}: {exc}); training goes on",
                    RuntimeWarning,
                    stacklevel=2,
                )

        return safe

    # --- forward hooks: how many time steps a pass runs -------------------------------------------------
    def _sequence_hook(self, name: str) -> Any:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            x = args[0] if args else None
            if isinstance(x, PackedSequence):
                steps = int(x.batch_sizes.numel())
            elif isinstance(x, torch.Tensor):
                batch_first = getattr(module, "batch_first", False)
                steps = int(x.shape[1] if x.ndim == 3 and batch_first else x.shape[0])
            else:
                return
            for w in self.weights:
                if w.layer == name:
                    w.steps = max(w.steps, steps)
            if self.track_hidden and isinstance(output, tuple) and isinstance(output[0], torch.Tensor):
                out = output[0].detach().float()  # [B, T, H] or [T, B, H] or [T, H]
                time_dim = 1 if out.ndim == 3 and batch_first else 0
                norms = out.movedim(time_dim, 0).flatten(1).norm(dim=1)
                for w in self.weights:
                    if w.layer == name and w.param == "weight_hh_l0":
                        w.norms = norms.tolist()

        return hook

    def _new_pass(self, module: nn.Module, args: Any) -> None:
        self._calls.clear()
        self._passes += 1
        if self._passes == LEARN_PASSES and not self.track_hidden:
            for name in [n for n, c in self._cells.items() if c.steps <= 1]:  # plain layers: stop paying for them
                handle = self._cell_handles.pop(name, None)  # none left when the monitor stopped in this pass
                if handle is not None:
                    handle.remove()
                del self._cells[name]
            if not self._cells and self._pass_handle is not None:  # nothing left to count: no per-step hook
                self._pass_handle.remove()
                self._pass_handle = None

    def _call_hook(self, name: str) -> Any:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            calls = self._calls.get(name, 0) + 1
            self._calls[name] = calls
            cell = self._cells[name]
            cell.steps = max(cell.steps, calls)
            if self.track_hidden and isinstance(output, torch.Tensor):
                if calls == 1:
                    cell.norms = []
                cell.norms.append(float(output.detach().float().norm()))

        return hook

    # --- measurement ---------------------------------------------------------------------------------------
    def recurrent(self) -> list[_Weight]:
        """The weights seen running through time: RNN layers, and cells called at least twice in a pass."""
        return [w for w in self.weights if w.steps > 0] + [c for c in self._cells.values() if c.steps > 1]

    def measure(self) -> dict[str, Recurrence]:
        """Each recurrent weight's spectral radius and time steps (one host transfer for all of them)."""
        found = self.recurrent()
        if not found:
            return {}
        radii = []
        for w in found:
            weight = getattr(w.module, w.param)
            radius, w.vector = spectral_radius(
                weight, w.vector, ITERATIONS if w.vector is not None else WARM_ITERATIONS
            )
            radii.append(radius)
        values = torch.stack(radii).cpu().tolist()  # the one transfer
        return {
            f"{w.layer}.{w.param}": Recurrence(w.layer, w.param, float(r), w.steps, _growth(w.norms))
            for w, r in zip(found, values)
        }

    def remove(self) -> None:
        for handle in [*self._handles, *self._cell_handles.values()]:
            handle.remove()
        self._handles.clear()
        self._cell_handles.clear()
        if self._pass_handle is not None:
            self._pass_handle.remove()
            self._pass_handle = None


def _growth(norms: list[float]) -> float | None:
    """The hidden state's per-step growth: the geometric mean of its norm ratio from the first time step to the last."""
    if len(norms) < 2:
        return None
    if not all(math.isfinite(n) for n in norms):
        return math.inf  # the hidden state overflowed within the sequence
    if norms[0] <= 0 or norms[-1] <= 0:
        return None
    return float((norms[-1] / norms[0]) ** (1 / (len(norms) - 1)))
