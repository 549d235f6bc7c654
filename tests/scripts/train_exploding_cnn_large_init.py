# expect: exploding_gradients|non_finite
"""A ReLU CNN without normalisation whose weights were initialised far too large (std 1.0).

Each convolution multiplies the activations by about sqrt(fan_in) = 3-17, the first losses are in
the tens of thousands, the gradient norm in the millions, and the first SGD steps throw the weights
so far that the net never recovers: the loss ends stuck at log(10).
"""

import torch
import torch.nn.functional as F
from common_data import digits_loaders
from torch import nn


class ConvNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 32, 3, padding=1)
        self.conv3 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc = nn.Linear(64 * 2 * 2, 10)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(m.weight, mean=0.0, std=1.0)

    def forward(self, x):  # [B, 1, 8, 8]
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # [B, 32, 4, 4]
        x = F.max_pool2d(F.relu(self.conv3(x)), 2)  # [B, 64, 2, 2]
        return self.fc(x.flatten(1))


torch.manual_seed(0)
train_loader, _ = digits_loaders(batch_size=64, images=True)
model = ConvNet()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

for epoch in range(3):
    losses = []
    for images, labels in train_loader:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    print(f"epoch {epoch}: first loss {losses[0]:.4g}, last loss {losses[-1]:.4g}")
