"""Sampled steps of a compiled model run eagerly: torch.compile's ``force_eager`` stance while one is held.

Inside a compiled graph the probe's hooks do nothing (probe/probe_hook.py), so a compiled model's
activations are measured on the steps that are sampled anyway, by running those steps' forward and
backward passes eagerly: the same module code, with the per-layer hooks live. The Monitor holds the
stance from the end of the step before a sampled step until that step's gradients are final, and
lets go before the optimizer steps. The stance is process-wide, so the holds are counted: the stance
in force before the first hold comes back when the last monitor lets go.
"""

from __future__ import annotations

from typing import Any

import torch

_holders: set[int] = set()
_stance: Any = None  # the set_stance object of the current hold: it remembers the stance it replaced


def hold(holder: object) -> bool:
    """Run compiled code eagerly until ``release(holder)``; False when the stance cannot be set here
    (inside a compiled region: an optimizer step that is itself compiled)."""
    global _stance
    key = id(holder)
    if key in _holders:
        return True
    if not _holders:
        try:
            _stance = torch.compiler.set_stance("force_eager")  # set now; __exit__ restores the one before
        except Exception:
            return False
    _holders.add(key)
    return True


def release(holder: object) -> None:
    """Let go of ``holder``'s hold; the last one out restores the stance that was in force before."""
    global _stance
    key = id(holder)
    if key not in _holders:
        return
    _holders.discard(key)
    if not _holders and _stance is not None:
        stance, _stance = _stance, None
        try:
            stance.__exit__(None, None, None)
        except Exception:  # inside a compiled region: the next release, or close, tries again
            _holders.add(key)
            _stance = stance


def held(holder: object) -> bool:
    return id(holder) in _holders
