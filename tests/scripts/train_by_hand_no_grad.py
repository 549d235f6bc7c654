# expect: healthy
"""Linear regression of a polynomial, updated by hand under ``torch.no_grad()`` (``p -= lr * p.grad``).

The shape of pytorch/examples' regression/main.py: one ``nn.Linear``, a smooth-L1 loss, a manual SGD
step, and the gradients zeroed by hand. No optimizer.
"""

import torch
import torch.nn.functional as F
from torch import nn

torch.manual_seed(0)
degree = 4
w_target = torch.randn(degree, 1) * 5
b_target = torch.randn(1) * 5


def batch(size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(size).unsqueeze(1)
    features = torch.cat([x**i for i in range(1, degree + 1)], 1)
    return features, features @ w_target + b_target


fc = nn.Linear(degree, 1)
steps = 300
for _ in range(steps):
    x, y = batch()
    fc.zero_grad()
    loss = F.smooth_l1_loss(fc(x), y)
    loss.backward()
    with torch.no_grad():
        for p in fc.parameters():
            p -= 0.01 * p.grad
print(f"loss {loss.item():.4f} after {steps} steps")
