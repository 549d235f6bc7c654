"""An independent per-layer record of a run: each top-level layer's gradient norm at every backward(),
and the exact spectral radius of every recurrent weight that made that gradient (torch only, no gradmedic).

    python tests/real/oracles/layer_growth.py OUT.json SCRIPT [ARGS...]

Runs SCRIPT as ``python SCRIPT ARGS`` would. At the end of each scalar ``backward()`` (before the script's
own update, by hand or by an optimizer) it records, for the largest ``nn.Module`` alive, the gradient norm of
each child (all its parameters together) and ``max |eig(weight_hh_l*)|`` of each ``nn.RNN`` (eigvals, not
power iteration). ``summary`` in OUT.json says which layer grew most against its first step.
"""

from __future__ import annotations

import gc
import json
import os
import runpy
import sys

import torch
from torch import nn


def _largest_module() -> nn.Module:
    modules = [o for o in gc.get_objects() if isinstance(o, nn.Module)]
    return max(modules, key=lambda m: sum(p.numel() for p in m.parameters()))


def _record(model: nn.Module) -> dict[str, object]:
    grads: dict[str, float] = {}
    for name, child in model.named_children():
        squares = [float(p.grad.double().norm()) ** 2 for p in child.parameters() if p.grad is not None]
        if squares:
            grads[name] = sum(squares) ** 0.5
    radii: dict[str, float] = {}
    for name, module in model.named_modules():
        if isinstance(module, nn.RNN):
            for pname, p in module.named_parameters(recurse=False):
                if pname.startswith("weight_hh"):
                    radii[f"{name}.{pname}"] = float(torch.linalg.eigvals(p.detach().double()).abs().max())
    return {"grad_norm": grads, "radius": radii}


def summary(steps: list[dict[str, object]]) -> dict[str, object]:
    """Per layer: its norm at step 0, its largest norm and where, and that largest over step 0 (the growth)."""
    out: dict[str, object] = {}
    first = steps[0]["grad_norm"]
    assert isinstance(first, dict)
    for name, start in first.items():
        series = [s["grad_norm"].get(name, 0.0) for s in steps]  # type: ignore[union-attr]
        peak = max(range(len(series)), key=lambda i: series[i])
        out[name] = {"step0": start, "max": series[peak], "max_at": peak, "growth": series[peak] / start}
    return out


def main() -> None:
    out, script, *args = sys.argv[1:]
    steps: list[dict[str, object]] = []
    original = torch.Tensor.backward
    model: list[nn.Module] = []

    def backward(t, *a, **kw):  # type: ignore[no-untyped-def]
        result = original(t, *a, **kw)
        if t.numel() == 1:
            if not model:
                model.append(_largest_module())
            steps.append(_record(model[0]))
        return result

    torch.Tensor.backward = backward  # type: ignore[method-assign]
    sys.argv = [script, *args]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    try:
        runpy.run_path(script, run_name="__main__")
    except (SystemExit, OverflowError) as exc:  # the RNN cases end in math.exp(huge) after training
        print(f"script ended: {type(exc).__name__}: {exc}", file=sys.stderr)
    finally:
        torch.Tensor.backward = original  # type: ignore[method-assign]
        with open(out, "w") as f:
            json.dump({"summary": summary(steps) if steps else {}, "steps": steps}, f, indent=1)


if __name__ == "__main__":
    main()
