# expect: dead_units
"""A small CNN trained with SGD at a learning rate far too high for it: after the first few steps
most channels of the convolutions output zero everywhere, for every image, and stay that way."""

import torch
from common_data import accuracy, digits_loaders
from torch import nn

torch.manual_seed(0)
train_loader, val_loader = digits_loaders(batch_size=64, images=True)

model = nn.Sequential(
    nn.Conv2d(1, 32, kernel_size=3, padding=1),
    nn.ReLU(),
    nn.Conv2d(32, 64, kernel_size=3, padding=1),
    nn.ReLU(),
    nn.MaxPool2d(2),
    nn.Conv2d(64, 64, kernel_size=3, padding=1),
    nn.ReLU(),
    nn.MaxPool2d(2),
    nn.Flatten(),
    nn.Linear(64 * 2 * 2, 10),
)
optimizer = torch.optim.SGD(model.parameters(), lr=2.0, momentum=0.9)
criterion = nn.CrossEntropyLoss()

for epoch in range(4):
    for images, labels in train_loader:
        optimizer.zero_grad()
        loss = criterion(model(images), labels)
        loss.backward()
        optimizer.step()
    print(f"epoch {epoch}: loss {loss.item():.3f}")

with torch.no_grad():
    x_all = torch.cat([images for images, _ in train_loader])
    h = x_all
    for i, layer in enumerate(model):
        h = layer(h)
        if isinstance(layer, nn.ReLU):
            alive = (h.amax(dim=(0, 2, 3)) > 0).float().mean().item()
            print(f"conv before module {i}: {alive:.0%} of channels ever active")
print(f"val accuracy {accuracy(model, val_loader):.3f}")
