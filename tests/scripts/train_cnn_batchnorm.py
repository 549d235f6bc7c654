# expect: healthy
"""A conv net with BatchNorm on the 8x8 digits: Conv (with bias) -> BatchNorm -> in-place ReLU.

Traps covered: the conv and linear biases feed BatchNorm, so their gradients are ~1e-8 by design;
the images' border pixels are always zero (input data, not dead units); ReLU(inplace=True); and an
evaluation pass under torch.no_grad() after every epoch.
"""

import torch
import torch.nn.functional as F
from common_data import digits_loaders
from torch import nn


class DigitsCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.BatchNorm2d(16),
            nn.ReLU(inplace=True),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),  # [B, 32, 4, 4]
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(32 * 4 * 4, 64),
            nn.BatchNorm1d(64),
            nn.ReLU(inplace=True),
            nn.Linear(64, 10),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


torch.manual_seed(0)
train_loader, val_loader = digits_loaders(batch_size=64, images=True)
model = DigitsCNN()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

for epoch in range(6):
    model.train()
    for images, labels in train_loader:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()

    model.eval()
    correct = total = 0
    val_loss = 0.0
    with torch.no_grad():
        for images, labels in val_loader:
            logits = model(images)
            val_loss += F.cross_entropy(logits, labels, reduction="sum").item()
            correct += (logits.argmax(1) == labels).sum().item()
            total += len(labels)
    print(
        f"epoch {epoch}: train loss {loss.item():.3f}, val loss {val_loss / total:.3f}, val acc {correct / total:.3f}"
    )
