# expect: healthy
"""The vanilla RNN of train_exploding_rnn_long_sequences.py, same learning rate, but the script
clips the gradient norm itself before every step, as the textbook recipe says.

Trap covered: a script that calls clip_grad_norm_ on its own: the gradients the optimizer sees stay
bounded, and the run trains.
"""

import torch
import torch.nn.functional as F
from common_data import sum_of_last_three
from torch import nn


class SequenceRegressor(nn.Module):
    def __init__(self, hidden: int = 64) -> None:
        super().__init__()
        self.rnn = nn.RNN(1, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)
        nn.init.orthogonal_(self.rnn.weight_hh_l0)

    def forward(self, x):  # x: [B, T, 1]
        out, _ = self.rnn(x)  # [B, T, H]
        return self.head(out[:, -1])  # [B, 1]


torch.manual_seed(0)
x, y = sum_of_last_three(n=512, length=100)
model = SequenceRegressor()
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

step = 0
for epoch in range(10):
    perm = torch.randperm(len(x))
    for i in range(0, len(x), 32):
        idx = perm[i : i + 32]
        optimizer.zero_grad()
        loss = F.mse_loss(model(x[idx]), y[idx])
        loss.backward()
        total_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        optimizer.step()
        step += 1
    print(f"epoch {epoch}: loss {loss.item():.4f}, grad norm before clipping {total_norm.item():.2f}")

with torch.no_grad():
    print(
        f"final mse on all sequences {F.mse_loss(model(x), y).item():.4f} (predicting 0 gives {y.pow(2).mean().item():.2f})"
    )
