# expect: healthy
"""Mixed precision on the CPU: the forward pass runs under torch.autocast with bfloat16.

Trap covered: activations come out in bfloat16 while the weights and their gradients stay float32.
"""

import torch
import torch.nn.functional as F
from common_data import digits_loaders
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
optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-2)

for epoch in range(5):
    model.train()
    for xb, yb in train_loader:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
        loss.backward()
        optimizer.step()

    model.eval()
    with torch.no_grad(), torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        xv, yv = next(iter(val_loader))
        acc = (model(xv).argmax(1) == yv).float().mean().item()
    print(f"epoch {epoch}: loss {loss.item():.3f}, val accuracy {acc:.3f}")
