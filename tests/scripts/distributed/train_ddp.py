"""A plain DDP training script (gloo on CPU, synthetic data) for the torchrun tests: it knows nothing of gradmedic.

    torchrun --nproc_per_node=2 train_ddp.py [--steps N] [--problem healthy|dead|exploding] [--lr LR]
                                             [--nan-on-rank1-at STEP]

``--problem dead`` trains plain SGD at lr 8 (at ``--lr 20`` the loss blows up first, then units die).

``--nan-on-rank1-at`` adds a NaN to rank 1's loss value at one step, outside the graph (the gradient stays
finite), so only rank 1 ever sees it. At the end every rank prints ``checksum rank=R <sha256>`` of its
parameters and buffers: replicas in step print the same digest.
"""

import argparse
import hashlib

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, default=40)
parser.add_argument("--problem", default="healthy", choices=["healthy", "dead", "exploding"])
parser.add_argument("--lr", type=float, default=None)
parser.add_argument("--nan-on-rank1-at", type=int, default=-1)
args = parser.parse_args()

dist.init_process_group("gloo")
rank = dist.get_rank()
torch.manual_seed(0)  # the same initial weights everywhere (DDP broadcasts rank 0's anyway)

lr = args.lr or {"healthy": 0.05, "dead": 8.0, "exploding": 0.05}[args.problem]
width = 64
model = nn.Sequential(
    nn.Linear(16, width),
    nn.ReLU(),
    nn.Linear(width, width),
    nn.ReLU(),
    nn.Linear(width, 4),
)
if args.problem == "exploding":
    with torch.no_grad():
        for layer in (model[0], model[2], model[4]):
            layer.weight.mul_(12.0)
ddp = DistributedDataParallel(model)
torch.manual_seed(1000 + rank)  # from here on each rank draws its own random numbers, as many scripts do
optimizer = torch.optim.SGD(ddp.parameters(), lr=lr, momentum=0.9 if args.problem == "exploding" else 0.0)

data = torch.Generator().manual_seed(100 + rank)  # each rank its own shard of the data
teacher = torch.Generator().manual_seed(7)
w_true = torch.randn(16, 4, generator=teacher)
for step in range(args.steps):
    x = torch.randn(32, 16, generator=data)
    y = (x @ w_true).argmax(dim=1)
    optimizer.zero_grad()
    loss = F.cross_entropy(ddp(x), y)
    if rank == 1 and step == args.nan_on_rank1_at:
        loss = loss + torch.tensor(float("nan"))  # the loss value only: no gradient flows through the constant
    loss.backward()
    optimizer.step()

digest = hashlib.sha256()
for tensor in [*model.parameters(), *model.buffers()]:
    digest.update(tensor.detach().contiguous().numpy().tobytes())
print(f"checksum rank={rank} {digest.hexdigest()}", flush=True)
print(f"final loss rank={rank} {loss.item():.4f}", flush=True)
dist.destroy_process_group()
