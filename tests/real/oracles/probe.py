"""An independent oracle: run a training script with our own hooks (not gradmedic) and record what happened.

    python tests/real/oracles/probe.py OUT.json SCRIPT [ARGS...]

Runs SCRIPT as ``python SCRIPT ARGS`` would and records, through torch's own hooks only:
- the loss of every ``backward()`` on a scalar;
- every optimizer step's gradient norm per parameter (or, with no optimizer, per ``backward()``);
- the share of saturated outputs (|tanh| > 0.99, sigmoid outside [0.01, 0.99]) of every tanh and sigmoid
  where it is computed, modules and functional calls alike (a TorchFunctionMode sees both);
- NaN or Inf in a loss.
The labels in tests/real/suite.py are confirmed against these figures (see ``verdict``).
"""

from __future__ import annotations

import json
import math
import os
import runpy
import sys

import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook
from torch.overrides import TorchFunctionMode

TANH = {torch.tanh, torch.Tensor.tanh, torch.nn.functional.tanh}
SIGMOID = {torch.sigmoid, torch.Tensor.sigmoid, torch.nn.functional.sigmoid}


class Recorder(TorchFunctionMode):
    def __init__(self) -> None:
        super().__init__()
        self.losses: list[float] = []
        self.grad_steps: list[dict[str, float]] = []  # per step: parameter -> gradient norm
        self.saturation: dict[str, list[float]] = {"tanh": [], "sigmoid": []}
        self.names: dict[int, str] = {}

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        if torch.is_grad_enabled() and isinstance(out, torch.Tensor) and out.requires_grad:
            with torch.no_grad():
                if func in TANH:
                    self.saturation["tanh"].append(float((out.abs() > 0.99).float().mean()))
                elif func in SIGMOID:
                    self.saturation["sigmoid"].append(float(((out < 0.01) | (out > 0.99)).float().mean()))
        return out

    def grad_norms(self, params: list[torch.Tensor]) -> None:
        if not self.names:
            self.names = _parameter_names()
        self.grad_steps.append(
            {self.names.get(id(p), f"p{i}"): float(p.grad.norm()) for i, p in enumerate(params) if p.grad is not None}
        )


def _parameter_names() -> dict[int, str]:
    import gc

    modules = [o for o in gc.get_objects() if isinstance(o, torch.nn.Module)]
    modules.sort(key=lambda m: -sum(1 for _ in m.parameters()))
    names: dict[int, str] = {}
    for m in modules:
        for name, p in m.named_parameters():
            names.setdefault(id(p), name)
    return names


def verdict(rec: Recorder) -> dict[str, object]:
    losses = [v for v in rec.losses]
    finite = [v for v in losses if math.isfinite(v)]
    k = max(1, len(finite) // 10)
    first, last = finite[:k], finite[-k:]
    norms = [sum(v * v for v in s.values()) ** 0.5 for s in rec.grad_steps]
    late = len(rec.saturation["tanh"]) // 2
    return {
        "backward_calls": len(losses),
        "optimizer_or_backward_steps": len(rec.grad_steps),
        "loss_initial": finite[0] if finite else None,
        "loss_first_mean": sum(first) / len(first) if first else None,
        "loss_last_mean": sum(last) / len(last) if last else None,
        "loss_max": max(finite) if finite else None,
        "nonfinite_loss_at": next((i for i, v in enumerate(losses) if not math.isfinite(v)), None),
        "grad_norm_first": norms[0] if norms else None,
        "grad_norm_median": sorted(norms)[len(norms) // 2] if norms else None,
        "grad_norm_max": max((n for n in norms if math.isfinite(n)), default=None),
        "tanh_calls": len(rec.saturation["tanh"]),
        "tanh_saturated_late_mean": (
            sum(rec.saturation["tanh"][late:]) / len(rec.saturation["tanh"][late:]) if rec.saturation["tanh"] else None
        ),
        "per_parameter_last": rec.grad_steps[-1] if rec.grad_steps else {},
    }


def main() -> None:
    out, script, *args = sys.argv[1:]
    rec = Recorder()
    stepped = [False]

    def on_step(optimizer, a, kw):  # type: ignore[no-untyped-def]
        stepped[0] = True
        rec.grad_norms([p for g in optimizer.param_groups for p in g["params"]])

    register_optimizer_step_pre_hook(on_step)
    original = torch.Tensor.backward
    cache: list[torch.Tensor] = []
    inside = [False]

    def backward(t, *a, **kw):  # type: ignore[no-untyped-def]
        if inside[0]:  # the function mode hands Tensor.backward back to us once more
            return original(t, *a, **kw)
        inside[0] = True
        try:
            if t.numel() == 1:
                rec.losses.append(float(unscaled.pop(id(t), t).detach()))
            result = original(t, *a, **kw)
        finally:
            inside[0] = False
        if not has_optimizer():  # a script without an optimizer: gradients are final after backward()
            if not rec.names:
                rec.names = _parameter_names()
            if not cache:
                cache.extend(_all_params())
            rec.grad_norms([p for p in cache if p.grad is not None])
        return result

    torch.Tensor.backward = backward  # type: ignore[method-assign]
    unscaled: dict[int, torch.Tensor] = {}
    original_scale = torch.amp.GradScaler.scale

    def scale(scaler, outputs):  # type: ignore[no-untyped-def]
        scaled = original_scale(scaler, outputs)
        if isinstance(outputs, torch.Tensor) and outputs.numel() == 1:
            unscaled[id(scaled)] = outputs  # the loss is recorded unscaled
        return scaled

    torch.amp.GradScaler.scale = scale  # type: ignore[method-assign]
    known: list[bool] = []

    def has_optimizer() -> bool:
        if stepped[0]:
            return True
        if not known:
            import gc

            known.append(any(isinstance(o, torch.optim.Optimizer) for o in gc.get_objects()))
        return known[0]

    sys.argv = [script, *args]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    code = 0
    try:
        with rec:
            runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0
    finally:
        torch.Tensor.backward = original  # type: ignore[method-assign]
        result = verdict(rec)
        result["exit_code"] = code
        with open(out, "w") as f:
            json.dump(result, f, indent=1, allow_nan=True)


def _all_params() -> list[torch.Tensor]:
    import gc

    return [o for o in gc.get_objects() if isinstance(o, torch.nn.Parameter)]


if __name__ == "__main__":
    main()
