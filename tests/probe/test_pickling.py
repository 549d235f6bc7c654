"""A watched model can be pickled, deep-copied, traced and saved whole mid-run; the copy carries no hook
of ours and loads where gradmedic cannot be imported."""

from __future__ import annotations

import copy
import io
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

import gradmedic
from gradmedic.probe.pickling import ProbeHook


class Tagger(nn.Module):
    """A user's model: an LSTM feeding a ReLU MLP (RNNBase pickles through its own __getstate__)."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.LSTM(4, 8, batch_first=True)
        self.head = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


USER_HOOK_CALLS: list[int] = []


def user_hook(module: nn.Module, args: object, output: object) -> None:
    """The user's own forward hook (module level, so it pickles): the copies keep it."""
    USER_HOOK_CALLS.append(1)


def _probe_hooks(model: nn.Module) -> int:
    return sum(
        isinstance(h, ProbeHook)
        for m in model.modules()
        for hooks in (m._forward_hooks, m._forward_pre_hooks)
        for h in hooks.values()
    )


def _train(model: nn.Module, opt: torch.optim.Optimizer, steps: int) -> None:
    x, y = torch.randn(16, 5, 4), torch.randint(0, 3, (16,))
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()


@pytest.mark.parametrize("steps", [3, 30], ids=["sampled-window", "unsampled-window"])
def test_copies_carry_no_probe_hook_and_the_original_stays_watched(steps: int) -> None:
    torch.manual_seed(0)
    model = Tagger()
    model.head.register_forward_hook(user_hook)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with gradmedic.watch(model, opt, console=False, every=5) as monitor:
        _train(model, opt, steps)
        assert _probe_hooks(model) >= 2  # the root's two, plus the per-layer ones while armed
        buffer = io.BytesIO()
        torch.save(model, buffer)
        copies = [
            copy.deepcopy(model),
            pickle.loads(pickle.dumps(model)),
            torch.load(io.BytesIO(buffer.getvalue()), weights_only=False),
        ]
        for twin in copies:
            assert _probe_hooks(twin) == 0
            assert list(twin.head._forward_hooks.values()) == [user_hook]
            x = torch.randn(2, 5, 4)
            torch.testing.assert_close(twin(x), model(x))
        _train(model, opt, 5)  # the original goes on being watched
    assert monitor.step == steps + 5
    assert len(monitor.report().layers) > 0
    assert _probe_hooks(model) == 0  # and close() removed everything
    assert USER_HOOK_CALLS


def test_state_dict_round_trip_and_trace_of_a_watched_model() -> None:
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x = torch.randn(8, 4)
    with gradmedic.watch(model, opt, console=False):
        for _ in range(4):
            opt.zero_grad()
            model(x).pow(2).mean().backward()
            opt.step()
        fresh = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 2))
        fresh.load_state_dict(model.state_dict())
        traced = torch.jit.trace(model, x)
        torch.testing.assert_close(fresh(x), model(x))
        torch.testing.assert_close(traced(x), model(x))
        saved = io.BytesIO()
        torch.jit.save(traced, saved)


@pytest.mark.slow
def test_a_saved_watched_model_loads_without_gradmedic(tmp_path: Path) -> None:
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    path = tmp_path / "model.pt"
    with gradmedic.watch(model, opt, console=False):
        for _ in range(2):
            opt.zero_grad()
            model(torch.randn(5, 4)).sum().backward()
            opt.step()
        torch.save(model, path)
    code = textwrap.dedent(
        f"""
        import sys
        class NoGradmedic:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "gradmedic":
                    raise ModuleNotFoundError("gradmedic is not installed here")
        sys.meta_path.insert(0, NoGradmedic())
        import torch
        model = torch.load({str(path)!r}, weights_only=False)
        print(tuple(model(torch.zeros(1, 4)).shape))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(1, 2)"
