# expect: exploding_gradients|non_finite
"""A vanilla tanh RNN over 100-step sequences, trained with SGD at a learning rate that is too high.

Backpropagation through time multiplies by the recurrent matrix at every step; once the updates push
its spectral radius above one, the gradient norm blows up step after step.
"""

import argparse

import torch
import torch.nn.functional as F
from common_data import sum_of_last_three
from torch import nn

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.05)
parser.add_argument("--steps", type=int, default=200)
args = parser.parse_args()


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
optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)

step = 0
while step < args.steps:
    perm = torch.randperm(len(x))
    for i in range(0, len(x), 32):
        idx = perm[i : i + 32]
        optimizer.zero_grad()
        loss = F.mse_loss(model(x[idx]), y[idx])
        loss.backward()
        optimizer.step()
        if step % 50 == 0:
            print(f"step {step}: loss {loss.item():.4f}")
        step += 1
        if step == args.steps:
            break

print(f"final loss {loss.item():.4f}")
