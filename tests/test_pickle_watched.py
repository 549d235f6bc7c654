"""A watched model still pickles (torch.save(model), copy.deepcopy), and the file loads without gradmedic.

Found by tests/real: pytorch/examples' word_language_model saves the whole model mid-run.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import gradmedic


@pytest.mark.slow
def test_watched_model_saves_deepcopies_and_loads_without_gradmedic(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(16, 4), torch.randint(0, 2, (16,))
    path = tmp_path / "model.pt"
    with gradmedic.watch(model, optimizer, console=False) as monitor:
        for _ in range(3):  # sampled steps: the per-layer hooks are armed while it saves
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
        torch.save(model, path)
        twin = copy.deepcopy(model)
        assert torch.equal(twin(x), model(x))
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    assert monitor.step == 4
    assert not any("gradmedic" in repr(h) for m in twin.modules() for h in m._forward_hooks.values())
    probe = (
        "import sys, torch; sys.modules['gradmedic'] = None\n"  # importing gradmedic would fail
        "from torch import nn\n"
        "with torch.serialization.safe_globals([nn.Sequential, nn.Linear, nn.ReLU]):\n"  # as the script does
        f"    m = torch.load({str(path)!r})\n"
        "print(m(torch.randn(2, 4)).shape)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "torch.Size([2, 2])" in out.stdout
