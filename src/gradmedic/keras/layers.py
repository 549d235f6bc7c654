"""Find a Keras model's layers, name them, sort their weights, and place the activation sites.

A *layer* is a leaf of the model (a layer with no sublayers, or a custom layer whose weights are its
own) that holds trainable weights. Nested models are walked, and their layers are named
``outer/inner``. A *site* is where an activation is measured: a layer that applies one itself
(``Dense(..., activation="relu")``), or an activation layer (``Activation``, ``ReLU``, ...), whose
output is filed under the weight layer before it when that layer applies no activation of its own,
as the PyTorch probe files ``nn.ReLU`` after ``nn.Linear``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..records import ActivationKind, LayerInfo
from .activations import activation_of, is_activation_layer

NORM_LAYERS = (
    "BatchNormalization",
    "LayerNormalization",
    "GroupNormalization",
    "UnitNormalization",
    "RMSNormalization",
)
EMBEDDING_LAYERS = ("Embedding",)


@dataclass
class KerasLayer:
    """A layer with trainable weights: its kernels ("weights") apart from its biases."""

    name: str
    layer: Any
    index: int
    weights: list[Any] = field(default_factory=list)
    biases: list[Any] = field(default_factory=list)

    @property
    def type(self) -> str:
        return type(self.layer).__name__

    @property
    def compares_by_depth(self) -> bool:
        return bool(self.weights) and self.type not in NORM_LAYERS + EMBEDDING_LAYERS

    @property
    def num_params(self) -> int:
        return sum(int(v.size if hasattr(v, "size") else 0) for v in self.weights + self.biases)


@dataclass
class Site:
    """An activated output, measured on sampled steps and filed under ``name``."""

    name: str  # the weight layer it belongs to, or the activation layer's own name
    layer: Any  # the layer whose output is measured
    kind: ActivationKind
    label: str  # "ReLU", "Sigmoid", ...: what LayerInfo.activation shows
    module: str  # the name of the layer that applies the activation
    index: int


def _children(layer: Any) -> list[Any]:
    flatten = getattr(layer, "_flatten_layers", None)
    if flatten is None:
        return []
    return [c for c in flatten(include_self=False, recursive=False) if c is not layer]


def leaves(model: Any) -> list[tuple[str, Any]]:
    """Every leaf layer of ``model`` in its own order (call order for Sequential and functional models)."""
    out: list[tuple[str, Any]] = []
    seen: set[int] = set()

    def walk(layer: Any, prefix: str) -> None:
        for child in _children(layer):
            if id(child) in seen or type(child).__name__ == "InputLayer":
                continue
            seen.add(id(child))
            name = f"{prefix}{child.name}"
            if _children(child) and not _own_weights(child):
                walk(child, name + "/")
            else:
                out.append((name, child))

    walk(model, "")
    return out


def _own_weights(layer: Any) -> bool:
    inner = {id(w) for c in _children(layer) for w in c.weights}
    return any(id(w) not in inner for w in layer.weights)


def _is_bias(variable: Any) -> bool:
    name = str(getattr(variable, "name", "")).rsplit("/", 1)[-1].split(":")[0]
    return name in ("bias", "beta") or name.endswith("_bias")


def find_layers(model: Any) -> tuple[list[KerasLayer], list[Site]]:
    """The trainable weight layers and the activation sites of a built model, in depth order."""
    check_model(model)
    layers: list[KerasLayer] = []
    sites: list[Site] = []
    seen: set[int] = set()
    open_layer: KerasLayer | None = None  # the last weight layer, while it still awaits an activation
    for index, (name, layer) in enumerate(leaves(model)):
        own = [v for v in layer.trainable_weights if id(v) not in seen]
        seen.update(id(v) for v in own)
        kind, label = activation_of(layer)
        if own:
            entry = KerasLayer(name, layer, index)
            for v in own:
                (entry.biases if _is_bias(v) else entry.weights).append(v)
            layers.append(entry)
            if type(layer).__name__ not in NORM_LAYERS:
                open_layer = entry if kind is None else None
        if kind is None:
            continue
        if is_activation_layer(layer) and open_layer is not None and not own:
            sites.append(Site(open_layer.name, layer, kind, label, name, index))
            open_layer = None
        else:
            sites.append(Site(name, layer, kind, label, name, index))
    return layers, sites


def check_model(model: Any) -> None:
    """Raise a clear error for a model gradmedic cannot watch."""
    if not getattr(model, "built", False):
        raise ValueError(
            f"{type(model).__name__} is not built yet, so it has no weights to watch; "
            "give it an keras.Input(shape) or call it once on a batch before watching"
        )
    if not model.trainable_weights:
        raise ValueError(
            f"{type(model).__name__} has no trainable weights, so there are no gradients to watch; "
            "unfreeze the layers you train (layer.trainable = True)"
        )


def layer_table(layers: list[KerasLayer], sites: list[Site], units: dict[str, int]) -> dict[str, LayerInfo]:
    """The report's layer table: depth order, activation, units (as measured), the output layer."""
    by_name = {site.name: site for site in sites}
    depth = [layer for layer in layers if layer.compares_by_depth]
    output = depth[-1].name if depth else ""
    infos: dict[str, LayerInfo] = {}
    for layer in layers:
        site = by_name.get(layer.name)
        infos[layer.name] = LayerInfo(
            name=layer.name,
            type=layer.type,
            order=layer.index,
            num_params=layer.num_params,
            has_weights=layer.compares_by_depth,
            activation=site.label if site else "",
            activation_module=site.module if site else "",
            units=units.get(layer.name, 0),
            is_output=layer.name == output,
            activation_kind=site.kind if site else None,
        )
    for name, site in by_name.items():
        if name not in infos:
            infos[name] = LayerInfo(
                name=name,
                type=type(site.layer).__name__,
                order=site.index,
                has_weights=False,
                activation=site.label,
                activation_module=site.module,
                units=units.get(name, 0),
                activation_kind=site.kind,
            )
    return infos
