# expect: healthy
"""A two-layer LSTM classifies synthetic sequences: is the running sum of the ±1 steps ever above +3?

Trap covered: nn.LSTM returns a tuple (output, (h, c)), has four gate matrices per layer, and its
hidden outputs lie in (-1, 1) without being a plain tanh layer.
"""

import torch
import torch.nn.functional as F
from torch import nn


def make_walks(n: int, length: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    steps = torch.randint(0, 2, (n, length), generator=g).float() * 2 - 1  # [n, T] of ±1
    label = (steps.cumsum(dim=1).amax(dim=1) > 3).long()  # [n]
    return steps.unsqueeze(-1), label  # [n, T, 1], [n]


class WalkClassifier(nn.Module):
    def __init__(self, hidden: int = 32) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_size=1, hidden_size=hidden, num_layers=2, batch_first=True, dropout=0.1)
        self.fc = nn.Linear(hidden, 2)

    def forward(self, x):
        out, (h, c) = self.lstm(x)  # out: [B, T, H]
        return self.fc(out[:, -1])


torch.manual_seed(0)
x_train, y_train = make_walks(2048, 20, seed=1)
x_val, y_val = make_walks(512, 20, seed=2)
print(f"positive fraction: {y_train.float().mean().item():.2f}")
model = WalkClassifier()
optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)

for epoch in range(5):
    model.train()
    perm = torch.randperm(len(x_train))
    for i in range(0, len(perm), 64):
        idx = perm[i : i + 64]
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        acc = (model(x_val).argmax(1) == y_val).float().mean().item()
    print(f"epoch {epoch}: loss {loss.item():.3f}, val accuracy {acc:.3f}")
