# expect: dead_units
"""An MLP whose second hidden layer is born dead: a custom init set its bias to -20.

With inputs in [0, 1] and default-scaled weights, every pre-activation of that layer is far below
zero, so its ReLUs output zero for every example and pass back no gradient: they never recover.
"""

import torch
from common_data import accuracy, digits_loaders
from torch import nn


class Classifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(64, 128)
        self.fc2 = nn.Linear(128, 128)
        self.fc3 = nn.Linear(128, 128)
        self.out = nn.Linear(128, 10)
        self.act = nn.ReLU()

    def forward(self, x):
        x = self.act(self.fc1(x))
        x = self.act(self.fc2(x))
        x = self.act(self.fc3(x))
        return self.out(x)


def init_weights(model: nn.Module) -> None:
    nn.init.constant_(model.fc2.bias, -20.0)  # meant as a "sparse start", kills the layer


torch.manual_seed(0)
train_loader, val_loader = digits_loaders(batch_size=64)
model = Classifier()
init_weights(model)
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
    x_all = torch.cat([xb for xb, _ in train_loader])
    h2 = torch.relu(model.fc2(torch.relu(model.fc1(x_all))))
    print(f"fc2 units ever active: {(h2 > 0).any(dim=0).sum().item()} of {h2.shape[1]}")
