"""torch.distributed for the Monitor: which rank writes, what the ranks agree on, and what is not watched.

Under ``torchrun`` every rank runs the same script and watches its own replica. Only rank 0 writes
(console, JSONL, TensorBoard, ``--json``, ``--html``); the others measure and keep quiet. On each
sampled step the ranks exchange their records in one small collective (``gather``) and every rank
merges the same list the same way (merge_ranks.py), so a NaN seen by rank 1 alone is in rank 0's
report, and treatment, which decides from those records, decides the same on every rank. Cures run
with the same random draws on every rank (``same_draws``), and at the exchange after a cure rank 0's
parameters and buffers are broadcast (``broadcast_model``), so the replicas stay bit-identical.

Collectives happen only at one point that every rank reaches at the same steps, stopped watching or
not: the optimizer's post-step hook of a sampled step (the schedule is the step counter, and what the
ranks agreed at the last exchange). Before the first one, the ranks check through the process
group's store that all of them are watching (``handshake``): a script that watches on rank 0 only gets
no collective at all, and no treatment. FSDP shards the parameters, so a rank's gradients are a slice of the model's: it is detected and not
watched (``fsdp_reason``).
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import os
import warnings
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Iterator

import torch
import torch.distributed as dist
from torch import nn

from .records import StepStats


def _handshake_seconds() -> float:
    """Ranks reach their first sampled step within one step of each other: 30 s, or GRADMEDIC_HANDSHAKE_SECONDS."""
    try:
        return max(0.1, float(os.environ.get("GRADMEDIC_HANDSHAKE_SECONDS", "30")))
    except ValueError:
        return 30.0


HANDSHAKE_SECONDS = _handshake_seconds()
_keys = itertools.count()  # monitors are made in the same order on every rank: their store keys match

FSDP_UNSUPPORTED = (
    "gradmedic does not watch FSDP models: FSDP shards each parameter across the ranks, so a rank's "
    "gradients and weights are a slice of the layer's, and per-layer norms would be wrong. Training goes "
    "on unwatched. Supported: DistributedDataParallel (and DataParallel), watched on every rank and written "
    "by rank 0. To diagnose an FSDP model, run a short job with the model under DDP, or on one process"
)


def initialised() -> bool:
    return dist.is_available() and dist.is_initialized()


def process_rank() -> int:
    """This process's rank: from the process group, else from torchrun's ``RANK``, else 0.

    The environment matters when the group is not (or no longer) initialised: a script that called
    ``destroy_process_group()`` before the runner writes its report.
    """
    if initialised():
        return dist.get_rank()
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0


def is_writer() -> bool:
    """Whether this process writes the logs and the report: rank 0, or a single process."""
    return process_rank() == 0


def fsdp_reason(model: nn.Module) -> str | None:
    """Why ``model`` cannot be watched, when FSDP (the wrapper class, or ``fully_shard``) shards it."""
    if not dist.is_available():
        return None
    try:
        from torch.distributed.fsdp import FullyShardedDataParallel
    except ImportError:
        return None
    kinds: tuple[type, ...] = (FullyShardedDataParallel,)
    try:
        from torch.distributed.fsdp import FSDPModule

        kinds += (FSDPModule,)
    except ImportError:
        pass
    return FSDP_UNSUPPORTED if any(isinstance(m, kinds) for m in model.modules()) else None


@dataclass(frozen=True)
class RankRecord:
    """What one rank sends at a sampled step: its record (None once it stopped watching), whether its doctor
    changed the model since the last exchange, and until which step it wants every step sampled."""

    stats: StepStats | None
    resync: bool = False
    dense_until: int = 0


@contextlib.contextmanager
def same_draws(model: nn.Module, seed: int) -> Iterator[None]:
    """Random numbers seeded by ``seed`` inside, the caller's generators untouched after: replicas in step
    that run a cure here draw the same numbers (the broadcast that follows is the guarantee)."""
    devices = sorted({p.device.index or 0 for p in model.parameters() if p.device.type == "cuda"})
    with torch.random.fork_rng(devices=devices):
        torch.default_generator.manual_seed(seed)
        for index in devices:
            torch.cuda.default_generators[index].manual_seed(seed)
        yield


class RankGroup:
    """The ranks of the default process group, as one monitor sees them."""

    def __init__(self, rank: int, world: int, key: str) -> None:
        self.rank = rank
        self.world = world
        self.key = key
        self.agreed: bool | None = None  # None until the handshake

    @classmethod
    def join(cls, model: nn.Module, handed: Any = None) -> RankGroup | None:
        """The group, when this process is one of several and ``model`` is a DDP replica; else None.

        ``handed`` is what the caller passed (the DDP wrapper itself, before unwrapping). A model that no
        DDP wraps (model or pipeline parallelism, independent models per rank) is no replica: its ranks
        watch it each on their own, and never exchange records or weights.
        """
        if not initialised() or dist.get_world_size() < 2:
            return None
        if not (isinstance(handed, nn.parallel.DistributedDataParallel) or wrapped_by_ddp(model)):
            return None
        return cls(dist.get_rank(), dist.get_world_size(), f"gradmedic/monitor{next(_keys)}")

    @property
    def writer(self) -> bool:
        return self.rank == 0

    def handshake(self, seconds: float | None = None) -> bool:
        """Whether every rank watches this model; rank 0 decides and the others read its decision.

        Goes through the store, which never waits on a collective: a rank that does not watch is
        waited for at most ``seconds``, once, and then the ranks go on without collectives.
        """
        if self.agreed is None:
            store = dist.distributed_c10d._get_default_store()
            self.agreed = handshake(store, self.key, self.rank, self.world, seconds or HANDSHAKE_SECONDS)
        return self.agreed

    def gather(self, record: RankRecord) -> list[RankRecord]:
        """Every rank's record of this sampled step, in rank order."""
        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, record)
        return out

    def broadcast_model(self, model: nn.Module) -> None:
        """Rank 0's parameters and buffers to every rank, one collective per device and dtype."""
        broadcast_tensors([*model.parameters(), *model.buffers()])


def wrapped_by_ddp(module: nn.Module) -> bool:
    """Whether a live ``DistributedDataParallel`` holds ``module`` (one look through gc's objects, at attach)."""
    return any(getattr(ddp, "module", None) is module for ddp in _live_ddp())


def _live_ddp() -> list[Any]:
    ddp = nn.parallel.DistributedDataParallel
    found = []
    with warnings.catch_warnings():  # isinstance wakes deprecated lazy attributes of some modules
        warnings.simplefilter("ignore")
        for obj in gc.get_objects():
            try:
                if isinstance(obj, ddp):
                    found.append(obj)
            except ReferenceError:  # a weakref.proxy whose object is gone
                continue
    return found


def handshake(store: Any, key: str, rank: int, world: int, seconds: float) -> bool:
    """Rank 0 waits for every rank's mark and writes the decision; the others wait for that decision."""
    timeout = timedelta(seconds=seconds)
    store.set(f"{key}/rank{rank}", "1")
    if rank == 0:
        try:
            store.wait([f"{key}/rank{r}" for r in range(1, world)], timeout)
            together = True
        except Exception:  # a rank that never watches: the store times out
            together = False
        store.set(f"{key}/decision", "together" if together else "alone")
        return together
    try:
        store.wait([f"{key}/decision"], timeout)
        return bool(store.get(f"{key}/decision") == b"together")
    except Exception:
        return False


@torch.no_grad()
def broadcast_tensors(tensors: list[torch.Tensor]) -> None:
    """Overwrite ``tensors`` with rank 0's values, flattened together per (device, dtype)."""
    groups: dict[tuple[torch.device, torch.dtype], list[torch.Tensor]] = {}
    for tensor in tensors:
        if tensor.numel():
            groups.setdefault((tensor.device, tensor.dtype), []).append(tensor)
    for (_, dtype), members in groups.items():
        flat = torch.cat([t.detach().reshape(-1) for t in members])
        wire = flat.to(torch.uint8) if dtype == torch.bool else flat  # gloo has no bool
        dist.broadcast(wire, src=0)
        flat = wire.to(dtype)
        offset = 0
        for tensor in members:
            tensor.copy_(flat[offset : offset + tensor.numel()].view_as(tensor))
            offset += tensor.numel()
