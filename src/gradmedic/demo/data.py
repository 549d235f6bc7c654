"""Offline data: scikit-learn's bundled digits, and a synthetic long-sequence task."""

from __future__ import annotations

import functools

import torch


@functools.lru_cache(maxsize=1)
def digits() -> tuple[torch.Tensor, torch.Tensor]:
    """The 1797 8x8 digits as (x[N, 64] scaled to [0, 1], y[N]); bundled with scikit-learn, no download."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # pragma: no cover - the demo extra installs it
        raise ImportError("the demo needs scikit-learn: pip install 'gradmedic[demo]'") from exc
    data = load_digits()
    x = torch.tensor(data.data, dtype=torch.float32) / 16.0
    y = torch.tensor(data.target, dtype=torch.long)
    return x, y


def sequences(n: int = 512, length: int = 100, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A long unroll: the target is the sum of the last three inputs of a noisy sequence.

    Returns x[n, length, 1] and y[n, 1]. The task is easy, but backpropagation runs through all
    ``length`` steps, where a vanilla RNN's gradient can blow up.
    """
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, length, 1, generator=g)
    y = x[:, -3:, 0].sum(dim=1, keepdim=True)
    return x, y


def batches(x: torch.Tensor, y: torch.Tensor, batch_size: int, steps: int, seed: int = 0):  # type: ignore[no-untyped-def]
    """``steps`` shuffled mini-batches, cycling through epochs."""
    g = torch.Generator().manual_seed(seed)
    done = 0
    while done < steps:
        order = torch.randperm(len(x), generator=g)
        for start in range(0, len(x) - batch_size + 1, batch_size):
            idx = order[start : start + batch_size]
            yield x[idx], y[idx]
            done += 1
            if done == steps:
                return
