# expect: vanishing_gradients
"""A ten-layer sigmoid MLP on the digits, trained with SGD: the textbook vanishing-gradient net.

Each sigmoid's derivative is at most 0.25, so the gradient shrinks layer by layer on the way back
and the early layers barely move while the loss sits near log(10).
"""

import torch
import torch.nn.functional as F
from common_data import accuracy, digits_loaders
from torch import nn

torch.manual_seed(0)
train_loader, val_loader = digits_loaders(batch_size=64)

layers = [nn.Linear(64, 64), nn.Sigmoid()]
for _ in range(9):
    layers += [nn.Linear(64, 64), nn.Sigmoid()]
layers.append(nn.Linear(64, 10))
model = nn.Sequential(*layers)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

for epoch in range(10):
    model.train()
    total = 0.0
    for xb, yb in train_loader:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        optimizer.step()
        total += loss.item()
    print(f"epoch {epoch}: train loss {total / len(train_loader):.3f}")

first = model[0].weight.grad.norm().item()
last = model[-1].weight.grad.norm().item()
print(f"grad norm first layer {first:.2e}, last layer {last:.2e}")
print(f"val accuracy {accuracy(model, val_loader):.3f}")
