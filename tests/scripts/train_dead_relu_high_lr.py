# expect: dead_units
"""A wide ReLU MLP trained with plain SGD at lr=2: the first large steps push most hidden units
into the negative region for every input, where they stay dead for the rest of training."""

import torch
import torch.nn.functional as F
from common_data import digits_loaders
from torch import nn

torch.manual_seed(0)
train_loader, val_loader = digits_loaders(batch_size=64)

model = nn.Sequential(
    nn.Linear(64, 256),
    nn.ReLU(),
    nn.Linear(256, 256),
    nn.ReLU(),
    nn.Linear(256, 256),
    nn.ReLU(),
    nn.Linear(256, 10),
)
optimizer = torch.optim.SGD(model.parameters(), lr=2.0)

for epoch in range(8):
    for xb, yb in train_loader:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        optimizer.step()
    print(f"epoch {epoch}: loss {loss.item():.3f}")

with torch.no_grad():
    x_all = torch.cat([xb for xb, _ in train_loader])
    h = x_all
    for i, layer in enumerate(model[:-1]):
        h = layer(h)
        if isinstance(layer, nn.ReLU):
            alive = (h > 0).any(dim=0).float().mean().item()
            print(f"layer {i - 1}: {alive:.0%} of units ever active")
