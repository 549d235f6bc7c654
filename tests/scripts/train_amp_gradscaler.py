# expect: healthy
"""float16 autocast on the CPU with a GradScaler, the usual AMP recipe.

Trap covered: the scaler multiplies the loss (and so every gradient) by 2**20, and skips the
optimizer step whenever the scaled gradients overflow; neither is an exploding gradient.
"""

import torch
import torch.nn.functional as F
from common_data import accuracy, digits_loaders
from torch import nn

torch.manual_seed(0)
train_loader, val_loader = digits_loaders(batch_size=64)
model = nn.Sequential(
    nn.Linear(64, 128),
    nn.ReLU(),
    nn.Linear(128, 128),
    nn.ReLU(),
    nn.Linear(128, 10),
)
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
scaler = torch.amp.GradScaler("cpu", init_scale=2.0**20)

skipped = 0
for epoch in range(5):
    for xb, yb in train_loader:
        optimizer.zero_grad()
        with torch.autocast(device_type="cpu", dtype=torch.float16):
            loss = F.cross_entropy(model(xb), yb)
        scaler.scale(loss).backward()
        scale_before = scaler.get_scale()
        scaler.step(optimizer)
        scaler.update()
        skipped += scaler.get_scale() < scale_before
    print(f"epoch {epoch}: loss {loss.item():.3f}, scale {scaler.get_scale():.0f}, skipped steps so far {skipped}")
print(f"val accuracy {accuracy(model, val_loader):.3f}")
