# expect: healthy
"""A small tanh MLP fitted with LBFGS: ``optimizer.step(closure)`` calls backward() several times per step."""

import torch
from torch import nn

torch.manual_seed(0)
x = torch.linspace(-3, 3, 256).unsqueeze(1)
y = torch.sin(x) + 0.05 * torch.randn_like(x)
model = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1))
optimizer = torch.optim.LBFGS(model.parameters(), lr=0.5, max_iter=5)
backward_calls = 0


def closure() -> torch.Tensor:
    global backward_calls
    optimizer.zero_grad()
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    backward_calls += 1
    return loss


for _ in range(40):
    loss = optimizer.step(closure)
print(f"loss {loss.item():.4f}: 40 optimizer steps, {backward_calls} backward passes")
