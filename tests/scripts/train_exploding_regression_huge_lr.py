# expect: exploding_gradients|non_finite
"""A deep MLP regressor on unnormalised synthetic features with a far-too-large SGD learning rate.

The squared error's gradient grows with the error, each step overshoots further than the last,
and the weights overflow to Inf and then NaN within a few dozen steps.
"""

import math

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
n, features = 2048, 20
x = torch.randn(n, features) * 3.0 + 1.0  # unnormalised inputs
true_w = torch.randn(features, 1)
y = x @ true_w + 0.1 * torch.randn(n, 1)

loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)
model = nn.Sequential(
    nn.Linear(features, 128),
    nn.Tanh(),
    nn.Linear(128, 128),
    nn.Tanh(),
    nn.Linear(128, 128),
    nn.Tanh(),
    nn.Linear(128, 1),
)
loss_fn = nn.MSELoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.5)

for epoch in range(5):
    epoch_loss = 0.0
    for xb, yb in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        optimizer.step()
        epoch_loss += loss.item()
    epoch_loss /= len(loader)
    print(f"epoch {epoch}: mse {epoch_loss:.4g}")
    if not math.isfinite(epoch_loss):
        print("loss is no longer finite")
