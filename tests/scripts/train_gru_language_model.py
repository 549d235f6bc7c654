# expect: healthy
"""A character-level GRU language model with tied input and output embeddings (weight tying), on a
synthetic text made of repeated words.

Traps covered: nn.GRU; an nn.Embedding whose weight is also the output projection (one parameter in
two modules); gradient clipping is not used, and none is needed.
"""

import torch
import torch.nn.functional as F
from torch import nn

WORDS = ["gradient", "vanishing", "exploding", "dead", "relu", "sigmoid", "tanh", "norm", "layer"]


def make_corpus(n_words: int, seed: int) -> str:
    g = torch.Generator().manual_seed(seed)
    picks = torch.randint(0, len(WORDS), (n_words,), generator=g)
    return " ".join(WORDS[i] for i in picks.tolist())


class CharLM(nn.Module):
    def __init__(self, vocab: int, dim: int = 48) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.gru = nn.GRU(dim, dim, batch_first=True)
        self.decoder = nn.Linear(dim, vocab)
        self.decoder.weight = self.embed.weight  # weight tying (Press & Wolf, 2017)

    def forward(self, tokens):  # tokens: [B, T]
        out, _ = self.gru(self.embed(tokens))  # [B, T, D]
        return self.decoder(out)  # [B, T, V]


torch.manual_seed(0)
text = make_corpus(3000, seed=0)
chars = sorted(set(text))
data = torch.tensor([chars.index(c) for c in text])
model = CharLM(len(chars))
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
seq_len, batch = 32, 32

for step in range(150):
    starts = torch.randint(0, len(data) - seq_len - 1, (batch,))
    xb = torch.stack([data[s : s + seq_len] for s in starts])  # [B, T]
    yb = torch.stack([data[s + 1 : s + seq_len + 1] for s in starts])  # [B, T]
    optimizer.zero_grad()
    loss = F.cross_entropy(model(xb).reshape(-1, len(chars)), yb.reshape(-1))
    loss.backward()
    optimizer.step()
    if step % 50 == 0 or step == 149:
        print(
            f"step {step}: loss {loss.item():.3f} (uniform would be {torch.log(torch.tensor(len(chars))).item():.3f})"
        )
