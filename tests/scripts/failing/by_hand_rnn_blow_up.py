"""A character RNN (tanh) updated by hand with a far too large learning rate and no clipping.

The shape of pytorch/examples' word_language_model run with --model RNN_TANH --lr 200 --clip 1e9 (here lr 50): the
gradient is calm at the first backward pass and blows up as soon as the first updates land. No optimizer.
The first backward pass's gradient norm is written to first_norm.txt beside the script, for the test to compare.
"""

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

torch.manual_seed(0)
vocab, steps, seq, batch = 50, 25, 35, 8


class CharRNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Embedding(vocab, 16)
        self.rnn = nn.RNN(16, 32, 2)
        self.decoder = nn.Linear(32, vocab)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.encoder(x))
        return self.decoder(out)


model = CharRNN()
data = torch.randint(0, vocab, (steps * seq + 1, batch))
lr = 50.0
for step in range(steps):
    x, y = data[step * seq : (step + 1) * seq], data[step * seq + 1 : (step + 1) * seq + 1]
    model.zero_grad()
    loss = F.cross_entropy(model(x).reshape(-1, vocab), y.reshape(-1))
    loss.backward()
    if step == 0:
        norm = torch.cat([p.grad.flatten() for p in model.parameters()]).norm()
        Path(__file__).with_name("first_norm.txt").write_text(f"{norm.item():.6g}")
    for p in model.parameters():
        p.data.add_(p.grad, alpha=-lr)
    print(f"step {step} loss {loss.item():.4g}")
