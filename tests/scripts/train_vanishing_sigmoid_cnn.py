# expect: vanishing_gradients
"""A deep all-sigmoid CNN on the 8x8 digits (no normalisation), trained with SGD.

Six stacked 3x3 convolutions with sigmoid activations: the gradient reaching the first
convolutions is orders of magnitude below the classifier's.
"""

import torch
from common_data import accuracy, digits_loaders
from torch import nn


class SigmoidCNN(nn.Module):
    def __init__(self, channels: int = 16, depth: int = 6) -> None:
        super().__init__()
        convs = []
        in_ch = 1
        for _ in range(depth):
            convs += [nn.Conv2d(in_ch, channels, 3, padding=1), nn.Sigmoid()]
            in_ch = channels
        self.features = nn.Sequential(*convs)
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.classifier = nn.Linear(channels * 4, 10)

    def forward(self, x):  # x: [B, 1, 8, 8]
        x = self.pool(self.features(x))  # [B, C, 2, 2]
        return self.classifier(x.flatten(1))


torch.manual_seed(0)
train_loader, val_loader = digits_loaders(batch_size=64, images=True)
model = SigmoidCNN()
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

for epoch in range(6):
    running = 0.0
    for images, labels in train_loader:
        optimizer.zero_grad()
        loss = criterion(model(images), labels)
        loss.backward()
        optimizer.step()
        running += loss.item()
    print(f"epoch {epoch}: loss {running / len(train_loader):.3f}")

print(f"val accuracy {accuracy(model, val_loader):.3f}")
