# expect: healthy
"""A digits autoencoder whose decoder reuses the encoder's weights, transposed (tied weights),
plus a classifier layer applied twice (the same module, shared across two positions).

Traps covered: one parameter receives gradient from two places in the graph; one module runs twice
per forward pass.
"""

import torch
import torch.nn.functional as F
from common_data import load_digits
from torch import nn


class TiedAutoencoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.enc1 = nn.Linear(64, 128)
        self.enc2 = nn.Linear(128, 32)
        self.dec_bias1 = nn.Parameter(torch.zeros(128))
        self.dec_bias2 = nn.Parameter(torch.zeros(64))
        self.mix = nn.Linear(32, 32)  # applied twice below
        self.classify = nn.Linear(32, 10)

    def forward(self, x):
        code = torch.tanh(self.enc2(F.relu(self.enc1(x))))  # [B, 32]
        h = F.relu(F.linear(code, self.enc2.weight.t(), self.dec_bias1))  # [B, 128], tied to enc2
        recon = torch.sigmoid(F.linear(h, self.enc1.weight.t(), self.dec_bias2))  # [B, 64], tied to enc1
        z = self.mix(torch.tanh(self.mix(code)))
        return recon, self.classify(torch.tanh(z))


torch.manual_seed(0)
x_train, y_train, x_val, y_val = load_digits()
model = TiedAutoencoder()
optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)

for epoch in range(8):
    perm = torch.randperm(len(x_train))
    for i in range(0, len(perm) - 63, 64):
        idx = perm[i : i + 64]
        recon, logits = model(x_train[idx])
        loss = F.binary_cross_entropy(recon, x_train[idx]) + 0.5 * F.cross_entropy(logits, y_train[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        recon, logits = model(x_val)
        mse = F.mse_loss(recon, x_val).item()
        acc = (logits.argmax(1) == y_val).float().mean().item()
    print(f"epoch {epoch}: loss {loss.item():.3f}, val reconstruction mse {mse:.4f}, val accuracy {acc:.3f}")
