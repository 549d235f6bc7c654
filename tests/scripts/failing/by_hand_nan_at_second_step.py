"""Hand-written SGD (``p -= lr * p.grad`` under no_grad) at a learning rate so large that the weights
overflow at once: the loss is NaN from the second step. No optimizer; the script runs to its end."""

import torch
from torch import nn

torch.manual_seed(0)
x = torch.randn(256, 16) * 10
y = x @ torch.randn(16, 1) * 10
model = nn.Sequential(nn.Linear(16, 64), nn.Tanh(), nn.Linear(64, 1))
for step in range(30):
    model.zero_grad()
    loss = ((model(x) - y) ** 2).mean()
    loss.backward()
    with torch.no_grad():
        for p in model.parameters():
            p -= 1e30 * p.grad
    print(f"step {step}: loss {loss.item():.3g}")
