"""Two DDP models trained side by side with gradmedic.watch(treat=True), for the torchrun tests.

``shared`` is watched on every rank, and rank 1's monitor is stopped at step 15 as an internal error would
stop it; ``rank0_only`` is watched on rank 0 alone, as a script that guards its logging with ``rank == 0``
might. Neither may hang the run or set the replicas apart: each rank prints a checksum of each model, and
rank 0 prints its two reports as one JSON line.
"""

import hashlib
import json

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

import gradmedic

dist.init_process_group("gloo")
rank = dist.get_rank()
models, ddps, optimizers = {}, {}, {}
for name in ("shared", "rank0_only"):
    torch.manual_seed(0)
    models[name] = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 4))
    ddps[name] = DistributedDataParallel(models[name])
    optimizers[name] = torch.optim.SGD(ddps[name].parameters(), lr=20.0)  # blows up, then units die
torch.manual_seed(1000 + rank)
monitors = {"shared": gradmedic.watch(ddps["shared"], optimizers["shared"], treat=True, console=False)}
if rank == 0:
    monitors["rank0_only"] = gradmedic.watch(ddps["rank0_only"], optimizers["rank0_only"], treat=True, console=False)

data = torch.Generator().manual_seed(100 + rank)
w_true = torch.randn(16, 4, generator=torch.Generator().manual_seed(7))
for step in range(40):
    x = torch.randn(32, 16, generator=data)
    y = (x @ w_true).argmax(dim=1)
    for name in ddps:
        optimizers[name].zero_grad()
        F.cross_entropy(ddps[name](x), y).backward()
        optimizers[name].step()
    if step == 15 and rank == 1:
        monitors["shared"]._fail(RuntimeError("stopped on purpose by the test"), "test")

reports = {name: monitor.close() for name, monitor in monitors.items()}
for name, model in models.items():
    digest = hashlib.sha256()
    for tensor in [*model.parameters(), *model.buffers()]:
        digest.update(tensor.detach().contiguous().numpy().tobytes())
    print(f"checksum {name} rank={rank} {digest.hexdigest()}", flush=True)
if rank == 0:
    print(json.dumps({name: report.to_dict() for name, report in reports.items()}), flush=True)
dist.destroy_process_group()
