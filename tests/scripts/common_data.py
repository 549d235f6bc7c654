"""Data helpers shared by the training scripts in this folder (a plain local module, not a script).

Everything is offline: scikit-learn's bundled 8x8 digits, or synthetic tensors made from a seed.
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset


def _digits_arrays():
    """The digits as NumPy arrays (data [N, 64] in 0..16, target [N]).

    Reads the very file ``sklearn.datasets.load_digits`` reads, from scikit-learn's package data,
    without importing scikit-learn (which costs about a second per script); falls back to
    ``load_digits`` itself if the file is not where it used to be.
    """
    spec = importlib.util.find_spec("sklearn")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for folder in locations:
        path = os.path.join(folder, "datasets", "data", "digits.csv.gz")
        if os.path.isfile(path):
            table = np.loadtxt(path, delimiter=",")  # [N, 65]: 64 pixels, then the label
            return table[:, :-1], table[:, -1].astype(np.int64)
    from sklearn.datasets import load_digits as sk_load_digits

    data = sk_load_digits()
    return data.data, data.target


def load_digits(images: bool = False, seed: int = 0):
    """The 1797 digits split 80/20 into (x_train, y_train, x_val, y_val), pixels scaled to [0, 1].

    With ``images`` the inputs are [N, 1, 8, 8]; otherwise flat [N, 64]. Border pixels are almost
    always zero, as in the original data.
    """
    data, target = _digits_arrays()
    x = torch.tensor(data, dtype=torch.float32) / 16.0  # [N, 64]
    y = torch.tensor(target, dtype=torch.long)  # [N]
    if images:
        x = x.view(-1, 1, 8, 8)  # [N, 1, 8, 8]
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    split = int(0.8 * len(x))
    train, val = order[:split], order[split:]
    return x[train], y[train], x[val], y[val]


def digits_loaders(batch_size: int = 64, images: bool = False, seed: int = 0):
    """DataLoaders over the digits: (train, val). The train loader shuffles with a fixed seed."""
    x_train, y_train, x_val, y_val = load_digits(images=images, seed=seed)
    train = DataLoader(
        TensorDataset(x_train, y_train),
        batch_size=batch_size,
        shuffle=True,
        drop_last=True,
        generator=torch.Generator().manual_seed(seed),
    )
    val = DataLoader(TensorDataset(x_val, y_val), batch_size=512)
    return train, val


@torch.no_grad()
def accuracy(model: torch.nn.Module, loader: DataLoader) -> float:
    """Classification accuracy over a loader, in eval mode; restores the previous mode."""
    was_training = model.training
    model.eval()
    correct = total = 0
    for xb, yb in loader:
        correct += int((model(xb).argmax(dim=1) == yb).sum())
        total += len(yb)
    model.train(was_training)
    return correct / max(total, 1)


def sum_of_last_three(n: int = 512, length: int = 100, seed: int = 0):
    """A synthetic sequence regression: x[n, length, 1] noise, y[n, 1] the sum of its last three inputs.

    Easy to learn, but backpropagation still runs through all ``length`` steps of the unroll.
    """
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, length, 1, generator=g)  # [n, length, 1]
    y = x[:, -3:, 0].sum(dim=1, keepdim=True)  # [n, 1]
    return x, y
