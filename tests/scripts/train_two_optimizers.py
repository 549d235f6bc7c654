# expect: healthy
"""One model, two optimizers: SGD with momentum for the convolutional body, Adam for the head,
stepped one after the other each iteration.

Trap covered: several optimizers on the parts of one model, with different step rules.
"""

import torch
import torch.nn.functional as F
from common_data import accuracy, digits_loaders
from torch import nn


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1, stride=2),  # [B, 32, 4, 4]
            nn.ReLU(),
            nn.Flatten(),
        )
        self.head = nn.Sequential(nn.Linear(32 * 16, 64), nn.ReLU(), nn.Linear(64, 10))

    def forward(self, x):
        return self.head(self.body(x))


torch.manual_seed(0)
train_loader, val_loader = digits_loaders(batch_size=64, images=True)
model = Net()
opt_body = torch.optim.SGD(model.body.parameters(), lr=0.05, momentum=0.9)
opt_head = torch.optim.Adam(model.head.parameters(), lr=1e-3)

for epoch in range(5):
    for images, labels in train_loader:
        opt_body.zero_grad()
        opt_head.zero_grad()
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        opt_body.step()
        opt_head.step()
    print(f"epoch {epoch}: loss {loss.item():.3f}, val accuracy {accuracy(model, val_loader):.3f}")
