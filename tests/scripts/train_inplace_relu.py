# expect: healthy
"""A ReLU MLP whose activations all work in place: nn.ReLU(inplace=True) and F.relu_ inside forward.

Trap covered: an in-place ReLU overwrites the very tensor the previous layer returned.
"""

import torch
import torch.nn.functional as F
from common_data import accuracy, digits_loaders
from torch import nn


class InplaceNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(64, 256),
            nn.ReLU(inplace=True),
            nn.Linear(256, 256),
            nn.ReLU(inplace=True),
        )
        self.fc = nn.Linear(256, 128)
        self.out = nn.Linear(128, 10)

    def forward(self, x):
        x = self.body(x)
        x = F.relu_(self.fc(x))
        return self.out(x)


torch.manual_seed(0)
train_loader, val_loader = digits_loaders(batch_size=32)
model = InplaceNet()
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

for epoch in range(5):
    for xb, yb in train_loader:
        optimizer.zero_grad()
        F.cross_entropy(model(xb), yb).backward()
        optimizer.step()
    print(f"epoch {epoch}: val accuracy {accuracy(model, val_loader):.3f}")
