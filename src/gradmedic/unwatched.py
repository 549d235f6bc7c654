"""Why a run under ``gradmedic run`` saw no training step: one line for the user and the report."""

from __future__ import annotations

from typing import Mapping

# Top-level modules of frameworks gradmedic cannot watch (yet), with the name to show.
OTHER_FRAMEWORKS = {"tensorflow": "TensorFlow", "keras": "Keras", "jax": "JAX", "mlx": "MLX", "paddle": "Paddle"}


def nothing_watched_reason(backward_calls: int, attached: bool, modules: Mapping[str, object]) -> str:
    """The likely reason no step was seen, from what the runner saw and the modules the script imported."""
    others = [name for key, name in OTHER_FRAMEWORKS.items() if key in modules]
    if others and backward_calls == 0:
        return (
            f"the script trains with {' and '.join(others)}, not PyTorch; gradmedic run watches PyTorch training only"
        )
    if attached:
        return "a model was found, but no optimizer step or backward pass reached its parameters after that"
    if backward_calls == 0:
        return "no optimizer step and no backward() on a loss was seen; is the training loop reached?"
    if backward_calls == 1:
        return (
            "one backward() and no optimizer step: a single pass is not training "
            "(for a one-pass check before training, use gradmedic check)"
        )
    return (
        "backward() ran, but reached no parameter of an nn.Module (tensors updated by hand outside a module "
        "are not watched); wrap them in an nn.Module"
    )
