"""The L2 norm of each of many tensors in one foreach kernel, stacked as float32 on one device, with no host sync."""

from __future__ import annotations

import torch


def norms(tensors: list[torch.Tensor], device: torch.device) -> torch.Tensor:
    """L2 norm of each tensor (sparse ones by their values), stacked on ``device`` as float32: [len(tensors)]."""
    if not tensors:
        return torch.zeros(0, device=device)
    dense = [t.coalesce().values() if t.is_sparse else t for t in tensors]
    try:
        each = list(torch._foreach_norm(dense, 2, dtype=torch.float32))
    except RuntimeError:  # float64 tensors do not narrow inside the kernel
        each = [n.float() for n in torch._foreach_norm(dense)]
    try:
        return torch.stack(each)
    except RuntimeError:  # tensors on several devices
        return torch.stack([n.to(device) for n in each])
