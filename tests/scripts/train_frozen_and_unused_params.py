# expect: healthy
"""Fine-tuning: a "pretrained" feature extractor is frozen, a new head is trained, and an auxiliary
head that the loss never uses holds parameters without a gradient.

Traps covered: frozen parameters (requires_grad=False) inside the trained model, a parameter that
the optimizer holds but that never gets a .grad, and a frozen layer that sits in the middle of the net.
"""

import torch
import torch.nn.functional as F
from common_data import accuracy, digits_loaders
from torch import nn


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU())
        self.adapter = nn.Linear(128, 128)
        self.neck = nn.Linear(128, 64)
        self.head = nn.Linear(64, 10)
        self.aux_head = nn.Linear(64, 2)  # kept for a later experiment; unused by the loss below

    def forward(self, x):
        h = self.backbone(x)
        h = F.relu(self.adapter(h))
        h = F.relu(self.neck(h))
        return self.head(h)


torch.manual_seed(0)
train_loader, val_loader = digits_loaders(batch_size=64)
model = Net()

# "Pretraining": a few epochs on the whole net, then freeze the backbone and the neck.
pretrain = torch.optim.Adam(model.parameters(), lr=1e-3)
for _ in range(3):
    for xb, yb in train_loader:
        pretrain.zero_grad()
        F.cross_entropy(model(xb), yb).backward()
        pretrain.step()
print(f"after pretraining: val accuracy {accuracy(model, val_loader):.3f}")

for module in (model.backbone, model.neck):
    module.requires_grad_(False)
nn.init.kaiming_uniform_(model.head.weight, a=5**0.5)  # a fresh head for the new task
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)  # frozen parameters included, as often done

for epoch in range(4):
    for xb, yb in train_loader:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        optimizer.step()
    print(f"epoch {epoch}: loss {loss.item():.3f}, val accuracy {accuracy(model, val_loader):.3f}")

assert model.aux_head.weight.grad is None and model.neck.weight.grad is None
