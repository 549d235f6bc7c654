# expect: healthy
"""A wide ReLU MLP with dropout on the flat digits, trained with Adam.

Traps covered: dropout zeros half the activations on purpose; ReLU layers are naturally 30-50 %
zero; the always-zero border pixels reach the first layer as data. None of that is a dead unit.
"""

import torch
from common_data import accuracy, digits_loaders
from torch import nn

torch.manual_seed(0)
train_loader, val_loader = digits_loaders(batch_size=64)

model = nn.Sequential(
    nn.Linear(64, 512),
    nn.ReLU(),
    nn.Dropout(0.5),
    nn.Linear(512, 512),
    nn.ReLU(),
    nn.Dropout(0.5),
    nn.Linear(512, 10),
)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
criterion = nn.CrossEntropyLoss()

for epoch in range(8):
    model.train()
    for xb, yb in train_loader:
        optimizer.zero_grad()
        loss = criterion(model(xb), yb)
        loss.backward()
        optimizer.step()
    print(f"epoch {epoch}: loss {loss.item():.3f}, val accuracy {accuracy(model, val_loader):.3f}")

with torch.no_grad():
    model.eval()
    x_val = torch.cat([xb for xb, _ in val_loader])
    hidden = model[1](model[0](x_val))
    print(f"first hidden layer: {(hidden == 0).float().mean().item():.0%} zeros (natural ReLU sparsity)")
