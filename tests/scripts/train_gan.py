# expect: healthy
"""A tiny GAN on a 2-D ring of eight Gaussians: a generator and a discriminator, each with its own
Adam optimizer, trained in alternation.

Traps covered: two optimizers and two models in one script; the discriminator runs three times per
step (real, detached fake, fake for the generator's loss); gradient norms swing as the players
fight, without anything being wrong.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn


def sample_ring(n: int, generator: torch.Generator) -> torch.Tensor:
    centers = torch.tensor([[math.cos(a), math.sin(a)] for a in (2 * math.pi * k / 8 for k in range(8))])
    idx = torch.randint(0, 8, (n,), generator=generator)
    return 2.0 * centers[idx] + 0.05 * torch.randn(n, 2, generator=generator)  # [n, 2]


class Generator(nn.Module):
    def __init__(self, noise: int = 8) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(noise, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 2))

    def forward(self, z):
        return self.net(z)


class Discriminator(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(2, 128), nn.LeakyReLU(0.2), nn.Linear(128, 128), nn.LeakyReLU(0.2), nn.Linear(128, 1)
        )

    def forward(self, x):
        return self.net(x)


torch.manual_seed(0)
data_gen = torch.Generator().manual_seed(1)
G, D = Generator(), Discriminator()
opt_g = torch.optim.Adam(G.parameters(), lr=2e-3, betas=(0.5, 0.999))
opt_d = torch.optim.Adam(D.parameters(), lr=2e-3, betas=(0.5, 0.999))
ones, zeros = torch.ones(128, 1), torch.zeros(128, 1)

for step in range(500):
    real = sample_ring(128, data_gen)
    fake = G(torch.randn(128, 8))

    opt_d.zero_grad()
    d_loss = F.binary_cross_entropy_with_logits(D(real), ones) + F.binary_cross_entropy_with_logits(
        D(fake.detach()), zeros
    )
    d_loss.backward()
    opt_d.step()

    opt_g.zero_grad()
    g_loss = F.binary_cross_entropy_with_logits(D(fake), ones)
    g_loss.backward()
    opt_g.step()

    if step % 100 == 0 or step == 499:
        print(f"step {step}: d_loss {d_loss.item():.3f}, g_loss {g_loss.item():.3f}")

with torch.no_grad():
    samples = G(torch.randn(2000, 8))
    angles = torch.arange(8) * (2 * math.pi / 8)
    ring = 2.0 * torch.stack([angles.cos(), angles.sin()], dim=1)  # [8, 2]
    dist, mode = torch.cdist(samples, ring).min(dim=1)
print(
    f"samples within 0.5 of a mode: {(dist < 0.5).float().mean().item():.0%}, modes hit: {mode[dist < 0.5].unique().numel()}/8"
)
