"""distributed.py in one process: the store handshake, DDP unwrapped, FSDP refused with a warning, the writer.

A real gloo process group of one rank (and a real TCPStore for the handshake); the two-rank runs under
torchrun are in test_distributed.py.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import warnings
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from torch import nn

import gradmedic
from gradmedic.distributed import (
    FSDP_UNSUPPORTED,
    RankGroup,
    broadcast_tensors,
    handshake,
    is_writer,
    process_rank,
    wrapped_by_ddp,
)
from gradmedic.run import RunOptions, run


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(autouse=True)
def _excepthook_kept() -> Iterator[None]:
    """init_process_group wraps sys.excepthook with a "[rank0]: " prefix and never unwraps it."""
    hook = sys.excepthook
    yield
    sys.excepthook = hook


@pytest.fixture
def group() -> Iterator[None]:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{_port()}", rank=0, world_size=1)
    try:
        yield
    finally:
        dist.destroy_process_group()


def _ranks(ranks: list[int], world: int, seconds: float) -> dict[int, bool]:
    """Each rank in a thread with its own client of one real TCPStore, as torchrun's processes have."""
    port = _port()
    master = dist.TCPStore("127.0.0.1", port, is_master=True, wait_for_workers=False, timeout=timedelta(seconds=20))
    clients = {r: dist.TCPStore("127.0.0.1", port, is_master=False, timeout=timedelta(seconds=20)) for r in ranks}
    out: dict[int, bool] = {}

    def rank(r: int) -> None:
        out[r] = handshake(clients[r], "k", r, world, seconds)

    threads = [threading.Thread(target=rank, args=(r,)) for r in ranks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    del master
    return out


def test_the_handshake_agrees_when_every_rank_watches() -> None:
    assert _ranks([0, 1, 2], 3, 10.0) == {0: True, 1: True, 2: True}


@pytest.mark.parametrize("watching", [[0], [1], [0, 2]])
def test_a_rank_that_never_watches_means_no_collective_anywhere(watching: list[int]) -> None:
    assert _ranks(watching, 3, 0.5) == {r: False for r in watching}


def test_ddp_is_unwrapped_and_a_single_process_needs_no_group(group: None) -> None:
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    ddp = nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.1)
    with gradmedic.watch(ddp, opt, console=False) as monitor:
        for _ in range(3):
            opt.zero_grad()
            ddp(torch.randn(5, 4)).pow(2).mean().backward()
            opt.step()
    assert monitor.model is model
    assert RankGroup.join(model, ddp) is None  # one rank: nothing to agree on
    assert [info.name for info in monitor.report().layers][:2] == ["0", "2"]
    assert monitor.report().steps == 3


def test_fsdp_is_not_watched_and_says_so(group: None) -> None:
    from torch.distributed.fsdp import fully_shard

    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    fully_shard(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        monitor = gradmedic.watch(model, opt, console=False)
    assert any("does not watch FSDP" in str(w.message) for w in caught)
    for _ in range(2):  # training goes on, untouched
        opt.zero_grad()
        model(torch.randn(5, 4)).sum().backward()
        opt.step()
    report = monitor.close()
    assert not report.healthy
    assert any("FSDP" in i.error and "DistributedDataParallel" in i.error for i in report.incidents)


def test_broadcast_keeps_values_and_shapes(group: None) -> None:
    weight, flags = torch.randn(3, 2), torch.tensor([True, False])
    before = weight.clone()
    broadcast_tensors([weight, flags, torch.empty(0)])
    assert torch.equal(weight, before) and flags.tolist() == [True, False]  # rank 0 of one: its own values


def test_the_writer_is_rank_0_from_torchrun_env_when_no_group(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "1")
    assert process_rank() == 1 and not is_writer()
    monkeypatch.setenv("RANK", "0")
    assert is_writer()
    monkeypatch.delenv("RANK")
    assert is_writer()


FSDP_SCRIPT = """
import sys
import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.fsdp import fully_shard

dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{sys.argv[1]}", rank=0, world_size=1)
model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
fully_shard(model)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for _ in range(3):
    opt.zero_grad()
    model(torch.randn(5, 4)).sum().backward()
    opt.step()
dist.destroy_process_group()
print("trained")
"""


@pytest.mark.slow
def test_gradmedic_run_on_an_fsdp_script_runs_it_unwatched_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "train_fsdp.py"
    script.write_text(FSDP_SCRIPT)
    report_path = tmp_path / "report.json"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = run(str(script), [str(_port())], RunOptions(json_path=str(report_path), quiet=True))
    assert code == 0
    assert "trained" in capsys.readouterr().out
    incidents = json.loads(report_path.read_text())["incidents"]
    assert [i["error"] for i in incidents] == [FSDP_UNSUPPORTED]  # not also "no training step was watched"


@pytest.mark.slow
def test_only_a_module_that_ddp_wraps_is_a_replica(group: None) -> None:
    inner, alone = nn.Linear(4, 2), nn.Linear(4, 2)
    ddp = nn.parallel.DistributedDataParallel(inner)
    assert wrapped_by_ddp(inner)
    assert not wrapped_by_ddp(alone)  # model or pipeline parallel pieces never exchange records or weights
    assert not wrapped_by_ddp(ddp)


def test_same_draws_are_the_same_and_leave_the_callers_generator_alone() -> None:
    from gradmedic.distributed import same_draws

    model = nn.Linear(3, 3)
    torch.manual_seed(5)
    expected_next = torch.rand(4)
    torch.manual_seed(5)
    with same_draws(model, seed=12):
        first = torch.randn(6)
    with same_draws(model, seed=12):
        second = torch.randn(6)
    assert torch.equal(first, second)
    assert torch.equal(torch.rand(4), expected_next)  # the script's own sequence goes on as if nothing happened
