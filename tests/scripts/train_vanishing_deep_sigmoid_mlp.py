# expect: vanishing_gradients
"""A ten-layer sigmoid MLP on the digits, trained with SGD: the textbook vanishing-gradient net.

Each sigmoid's derivative is at most 0.25, so the gradient shrinks layer by layer on the way back
and the early layers barely move while the loss sits near log(10). (This script loads the data with
scikit-learn itself, as most tutorials do.)
"""

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
digits = load_digits()
x = torch.tensor(digits.data, dtype=torch.float32) / 16.0  # [1797, 64]
y = torch.tensor(digits.target)
train_loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True, drop_last=True)

layers = [nn.Linear(64, 64), nn.Sigmoid()]
for _ in range(9):
    layers += [nn.Linear(64, 64), nn.Sigmoid()]
layers.append(nn.Linear(64, 10))
model = nn.Sequential(*layers)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

for epoch in range(8):
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
model.eval()
with torch.no_grad():
    print(f"train accuracy {(model(x).argmax(1) == y).float().mean().item():.3f}")
