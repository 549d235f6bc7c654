"""The report's layer table from what the probe found: each layer's depth, activation, units, and the output layer.

One table for the monitor and the checkup, so a layer reads the same in a watched run and before training.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from torch import nn

from ..records import LayerInfo
from .activations import Site
from .layers import Layer


def activation_label(model: nn.Module, site: Site | None) -> str:
    """What follows a layer, for people: the activation module's class, "functional", or "" when unmeasured."""
    if site is None:
        return ""
    return type(model.get_submodule(site.module)).__name__ if site.module else "functional"


def layer_table(
    model: nn.Module,
    layers: Sequence[Layer],
    sites: Mapping[str, Site],
    order: Mapping[str, int],
    output: str,
    activation_rows: bool = True,
) -> dict[str, LayerInfo]:
    """Layer name -> LayerInfo. ``order`` is the call order of a forward pass (a layer never called comes after
    every called one); with ``activation_rows``, activations measured outside any layer get rows of their own."""
    fallback = len(order) + 1
    infos: dict[str, LayerInfo] = {}
    for layer in layers:
        site = sites.get(layer.name)
        infos[layer.name] = LayerInfo(
            name=layer.name,
            type=type(layer.module).__name__,
            order=order.get(layer.name, fallback + layer.index),
            num_params=layer.num_params,
            # a layer of unknown depth cannot stand in a depth profile
            has_weights=layer.compares_by_depth and layer.name in order,
            activation=activation_label(model, site),
            activation_module=site.module if site else "",
            units=site.units if site else 0,
            is_output=layer.name == output,
            activation_kind=site.kind if site else None,
        )
    for name, site in sites.items() if activation_rows else ():
        if name not in infos:
            label = activation_label(model, site)
            infos[name] = LayerInfo(
                name=name,
                type=label,
                order=order.get(name, fallback),
                has_weights=False,
                activation=label,
                activation_module=site.module,
                units=site.units,
                activation_kind=site.kind,
            )
    return infos
