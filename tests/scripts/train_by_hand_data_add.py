# expect: healthy
"""A ReLU MLP on the flat digits, trained without an optimizer: the update is written by hand.

As in many tutorials and courses: ``p.data.add_(p.grad, alpha=-lr)`` after ``loss.backward()``, and
``model.zero_grad()`` before the next pass. There is no torch.optim optimizer to hook.
"""

import torch
from common_data import accuracy, digits_loaders
from torch import nn

torch.manual_seed(0)
train_loader, val_loader = digits_loaders(batch_size=64)

model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
criterion = nn.CrossEntropyLoss()
lr = 0.05

for epoch in range(4):
    model.train()
    for xb, yb in train_loader:
        model.zero_grad()
        loss = criterion(model(xb), yb)
        loss.backward()
        for p in model.parameters():
            p.data.add_(p.grad, alpha=-lr)
    print(f"epoch {epoch}: loss {loss.item():.3f}, val accuracy {accuracy(model, val_loader):.3f}")
