"""A plain loop whose loss blows up in two steps (0.69 -> ~500 -> ~3700), after which the script dies.

A ReLU MLP on a two-class problem, trained with Adam at a learning rate of 1. The script logs the
perplexity ``math.exp(loss)``, which raises OverflowError once the loss passes 709: the run ends at
its third step, with a traceback and exit code 1.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

torch.manual_seed(0)
x = torch.randn(256, 20)
y = (x[:, 0] > 0).long()
model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2))
optimizer = torch.optim.Adam(model.parameters(), lr=1.0)
for step in range(100):
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    print(f"step {step}: loss {loss.item():.3g}, perplexity {math.exp(loss.item()):.3g}")
