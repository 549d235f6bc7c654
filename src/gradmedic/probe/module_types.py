"""Registries of module types the probe must know: activations (what their output can tell) and
normalisation layers (whose gradients say nothing about signal flow, and which the BatchNorm cure must
not stack). A library's own activation or norm class is added with ``gradmedic.register_activation`` or
``gradmedic.register_normalization``; like BackPACK's ``set_module_extension``, neither replaces an entry
silently: ``overwrite=True`` says it is meant.
"""

from __future__ import annotations

import threading
from typing import get_args

from torch import nn

from ..records import ActivationKind

# The activation kinds a module can be registered as: "relu" outputs can die (exact zeros), "sigmoid" and
# "tanh" outputs can saturate, "other" activations do neither.
ACTIVATION_KIND_NAMES: tuple[str, ...] = get_args(ActivationKind)

NORM_TYPES: tuple[type[nn.Module], ...] = (
    nn.modules.batchnorm._NormBase,
    nn.LayerNorm,
    nn.GroupNorm,
    nn.LocalResponseNorm,
) + ((nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ())

_lock = threading.Lock()


def is_normalization(module: object) -> bool:
    """A normalisation layer: a built-in one, or a type registered with ``register_normalization``."""
    return isinstance(module, NORM_TYPES)


def register_activation(module_type: type[nn.Module], kind: ActivationKind, overwrite: bool = False) -> None:
    """Tell the probe that ``module_type`` is an activation of ``kind`` ("relu", "sigmoid", "tanh" or "other").

    Its outputs are then measured like those of ``nn.ReLU`` (dead units), ``nn.Sigmoid`` / ``nn.Tanh``
    (saturation), or counted as an activation that neither dies nor saturates. Raises ``ValueError`` when
    the type is registered already (built-in types included), unless ``overwrite=True``. Takes effect for
    models watched afterwards.
    """
    from .layers import ACTIVATION_KINDS  # the table the probe reads

    _check_module_type(module_type, "register_activation")
    if kind not in ACTIVATION_KIND_NAMES:
        raise ValueError(
            f"register_activation: kind must be one of {', '.join(map(repr, ACTIVATION_KIND_NAMES))}, got {kind!r}; "
            "'relu' for outputs that can die (exact zeros), 'sigmoid' or 'tanh' for outputs that saturate "
            "(in [0, 1] or [-1, 1]), 'other' for the rest"
        )
    with _lock:
        old = ACTIVATION_KINDS.get(module_type)
        if old is not None and old != kind and not overwrite:
            raise ValueError(
                f"{module_type.__name__} is registered already as a {old!r} activation; "
                f"pass overwrite=True to make it {kind!r}"
            )
        ACTIVATION_KINDS[module_type] = kind


def register_normalization(module_type: type[nn.Module], overwrite: bool = False) -> None:
    """Tell the probe that ``module_type`` is a normalisation layer: its weight gradients are left out of
    the depth comparisons, and the BatchNorm cure inserts none after a layer it already follows.

    Raises ``ValueError`` when the type (or a base of it) is registered already, unless ``overwrite=True``.
    Takes effect for models watched afterwards.
    """
    global NORM_TYPES
    _check_module_type(module_type, "register_normalization")
    with _lock:
        if issubclass(module_type, NORM_TYPES):
            if overwrite:
                return
            raise ValueError(
                f"{module_type.__name__} is a normalisation layer already (a built-in type, or registered earlier); "
                "nothing to register (overwrite=True accepts it silently)"
            )
        NORM_TYPES = (*NORM_TYPES, module_type)


def _check_module_type(module_type: object, caller: str) -> None:
    if not (isinstance(module_type, type) and issubclass(module_type, nn.Module)):
        raise TypeError(
            f"{caller} takes a torch.nn.Module class, got {module_type!r}; pass the class itself, "
            f"e.g. {caller}(MyNorm), not an instance"
        )
