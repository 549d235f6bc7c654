# expect: healthy
"""A small TransformerEncoder reads each 8x8 digit as a sequence of eight row tokens and classifies it;
AdamW with a linear warm-up (LambdaLR).

Traps covered: nn.TransformerEncoder (multi-head attention whose out_proj module is never called
as a module, a functional ReLU inside the feed-forward block, LayerNorm, dropout), a learned
positional embedding, and an LR scheduler.
"""

import torch
import torch.nn.functional as F
from common_data import accuracy, digits_loaders
from torch import nn


class RowTransformer(nn.Module):
    def __init__(self, dim: int = 64, heads: int = 4, layers: int = 2) -> None:
        super().__init__()
        self.embed = nn.Linear(8, dim)
        self.pos = nn.Parameter(torch.zeros(1, 8, dim))
        layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=128, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=layers, enable_nested_tensor=False)
        self.head = nn.Linear(dim, 10)

    def forward(self, x):  # x: [B, 64]
        tokens = self.embed(x.view(-1, 8, 8)) + self.pos  # [B, 8 rows, dim]
        return self.head(self.encoder(tokens).mean(dim=1))  # [B, 10]


torch.manual_seed(0)
train_loader, val_loader = digits_loaders(batch_size=64)
model = RowTransformer()
optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.01)
warmup = 30
scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / warmup))

for epoch in range(6):
    model.train()
    for xb, yb in train_loader:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        optimizer.step()
        scheduler.step()
    print(f"epoch {epoch}: loss {loss.item():.3f}, val accuracy {accuracy(model, val_loader):.3f}")
