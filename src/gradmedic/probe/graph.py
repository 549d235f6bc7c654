"""The parameters a backward pass reaches: the leaves of the autograd graph behind its roots."""

from __future__ import annotations

from typing import Any, Iterable

import torch


def graph_parameters(roots: Iterable[torch.Tensor], limit: int = 200_000) -> set[int]:
    """The ids of the leaf tensors that require grad behind ``roots`` (walked once, up to ``limit`` nodes)."""
    return set(graph_leaves(roots, limit))


def graph_leaves(roots: Iterable[torch.Tensor], limit: int = 200_000) -> dict[int, torch.Tensor]:
    """The leaf tensors that require grad behind ``roots``, by id (walked once, up to ``limit`` nodes)."""
    todo: list[Any] = [t.grad_fn for t in roots if isinstance(t, torch.Tensor) and t.grad_fn is not None]
    seen: set[int] = set()
    found: dict[int, torch.Tensor] = {}
    while todo and len(seen) < limit:
        node = todo.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        variable = getattr(node, "variable", None)  # AccumulateGrad: the leaf it accumulates into
        if isinstance(variable, torch.Tensor):
            found[id(variable)] = variable
        todo.extend(next_node for next_node, _ in node.next_functions)
    return found
