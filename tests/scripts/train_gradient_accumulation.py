# expect: healthy
"""Gradient accumulation: four micro-batches of 16 per optimizer step (an effective batch of 64).

Trap covered: several forward and backward passes feed each optimizer step, and the loss handed to
backward() is divided by the number of micro-batches.
"""

import torch
import torch.nn.functional as F
from common_data import accuracy, digits_loaders
from torch import nn

ACCUMULATE = 4

torch.manual_seed(0)
train_loader, val_loader = digits_loaders(batch_size=16)
model = nn.Sequential(
    nn.Linear(64, 128),
    nn.ReLU(),
    nn.Linear(128, 128),
    nn.ReLU(),
    nn.Linear(128, 10),
)
optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)

updates = 0
for epoch in range(4):
    optimizer.zero_grad()
    for i, (xb, yb) in enumerate(train_loader, 1):
        loss = F.cross_entropy(model(xb), yb) / ACCUMULATE
        loss.backward()
        if i % ACCUMULATE == 0:
            optimizer.step()
            optimizer.zero_grad()
            updates += 1
    print(f"epoch {epoch}: {updates} updates, val accuracy {accuracy(model, val_loader):.3f}")
