"""A character-level language model with a hand-written GRU cell, in the style of karpathy/makemore.

The gates are functional (``F.sigmoid``, ``F.tanh``) and the hidden state is concatenated with the next
character and fed back into the same Linear layers. ``--init-std S`` redraws the cell's weights with
std S (3.0 saturates every gate); without it the default init trains healthily.
"""

import argparse

import torch
import torch.nn.functional as F
from torch import nn

parser = argparse.ArgumentParser()
parser.add_argument("--init-std", type=float, default=None)
parser.add_argument("--steps", type=int, default=40)
args = parser.parse_args()

WORDS = ["gradient", "vanishing", "exploding", "dead", "relu", "sigmoid", "tanh", "norm", "layer"]


class GRUCell(nn.Module):
    def __init__(self, n_embd: int, n_hidden: int) -> None:
        super().__init__()
        self.xh_to_z = nn.Linear(n_embd + n_hidden, n_hidden)
        self.xh_to_r = nn.Linear(n_embd + n_hidden, n_hidden)
        self.xh_to_hbar = nn.Linear(n_embd + n_hidden, n_hidden)

    def forward(self, xt, hprev):  # [B, E], [B, H] -> [B, H]
        xh = torch.cat([xt, hprev], dim=1)
        r = F.sigmoid(self.xh_to_r(xh))
        xhr = torch.cat([xt, r * hprev], dim=1)
        hbar = F.tanh(self.xh_to_hbar(xhr))
        z = F.sigmoid(self.xh_to_z(xh))
        return (1 - z) * hprev + z * hbar


class CharRNN(nn.Module):
    def __init__(self, vocab: int, n_embd: int = 16, n_hidden: int = 48) -> None:
        super().__init__()
        self.start = nn.Parameter(torch.zeros(1, n_hidden))
        self.wte = nn.Embedding(vocab, n_embd)
        self.cell = GRUCell(n_embd, n_hidden)
        self.lm_head = nn.Linear(n_hidden, vocab)

    def forward(self, idx):  # [B, T] -> [B, T, V]
        emb = self.wte(idx)
        h = self.start.expand(idx.shape[0], -1)
        hiddens = []
        for t in range(idx.shape[1]):
            h = self.cell(emb[:, t, :], h)
            hiddens.append(h)
        return self.lm_head(torch.stack(hiddens, 1))


torch.manual_seed(0)
g = torch.Generator().manual_seed(0)
text = " ".join(WORDS[i] for i in torch.randint(0, len(WORDS), (2000,), generator=g).tolist())
chars = sorted(set(text))
data = torch.tensor([chars.index(c) for c in text])
model = CharRNN(len(chars))
if args.init_std is not None:
    with torch.no_grad():
        for p in model.cell.parameters():
            if p.ndim == 2:
                p.normal_(0.0, args.init_std)
optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3)
seq_len, batch = 24, 32
for _ in range(args.steps):
    starts = torch.randint(0, len(data) - seq_len - 1, (batch,))
    xb = torch.stack([data[s : s + seq_len] for s in starts])  # [B, T]
    yb = torch.stack([data[s + 1 : s + seq_len + 1] for s in starts])  # [B, T]
    loss = F.cross_entropy(model(xb).reshape(-1, len(chars)), yb.reshape(-1))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
print(f"final loss {loss.item():.3f}")
