# expect: vanishing_gradients
"""A deep tanh MLP initialised with tiny weights (std 0.01), trained with plain SGD.

Every layer multiplies the signal by about 0.01 * sqrt(64) = 0.08, forward and backward, so the
activations collapse towards zero and the gradients with them: the net does not learn.
"""

import torch
import torch.nn.functional as F
from common_data import accuracy, digits_loaders
from torch import nn


class DeepTanh(nn.Module):
    def __init__(self, depth: int = 8, width: int = 64) -> None:
        super().__init__()
        self.inp = nn.Linear(64, width)
        self.hidden = nn.ModuleList(nn.Linear(width, width) for _ in range(depth))
        self.out = nn.Linear(width, 10)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = torch.tanh(self.inp(x))
        for layer in self.hidden:
            x = torch.tanh(layer(x))
        return self.out(x)


torch.manual_seed(0)
train_loader, val_loader = digits_loaders(batch_size=64)
model = DeepTanh()
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

for epoch in range(10):
    total = 0.0
    for xb, yb in train_loader:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        optimizer.step()
        total += loss.item()
    print(f"epoch {epoch}: train loss {total / len(train_loader):.3f}")

for name, p in model.named_parameters():
    if name.endswith("weight"):
        print(f"{name}: grad rms {p.grad.pow(2).mean().sqrt().item():.2e}")
print(f"val accuracy {accuracy(model, val_loader):.3f}")
