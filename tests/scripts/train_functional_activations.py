# expect: healthy
"""An MLP whose activations are function calls inside forward(): F.relu, torch.tanh and F.gelu.

Trap covered: functional activations are not modules, so nothing but the next layer's input shows them.
"""

import torch
import torch.nn.functional as F
from common_data import accuracy, digits_loaders
from torch import nn


class FunctionalMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(64, 256)
        self.fc2 = nn.Linear(256, 128)
        self.fc3 = nn.Linear(128, 64)
        self.fc4 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = torch.tanh(self.fc2(x))
        x = F.gelu(self.fc3(x))
        return self.fc4(x)


torch.manual_seed(0)
train_loader, val_loader = digits_loaders(batch_size=64)
model = FunctionalMLP()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

for epoch in range(8):
    for xb, yb in train_loader:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        optimizer.step()
    print(f"epoch {epoch}: loss {loss.item():.3f}")
print(f"val accuracy {accuracy(model, val_loader):.3f}")
