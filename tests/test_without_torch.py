"""The framework-free half works where torch cannot be imported: run in a subprocess that blocks torch.

This replaces reading each file's own imports: what counts is what importing a module pulls in.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

import gradmedic

# makes `import torch` (and any torch submodule) fail, as on a machine without it
BLOCK_TORCH = textwrap.dedent(
    """
    import sys
    class _NoTorch:
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)")
            return None
    sys.meta_path.insert(0, _NoTorch())
    """
)


def _run_without_torch(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "no_torch.py"
    script.write_text(BLOCK_TORCH + textwrap.dedent(code))
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path)


def _watched_log(logdir: Path) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    x, y = torch.randn(32, 6), torch.randint(0, 3, (32,))
    with gradmedic.watch(model, opt, logdir=logdir, console=False) as monitor:
        for _ in range(25):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            monitor.observe_loss(loss)


def test_report_command_runs_without_torch(tmp_path: Path) -> None:
    logdir = tmp_path / "run"
    _watched_log(logdir)
    page = tmp_path / "page.html"
    done = _run_without_torch(
        f"""
        from gradmedic.cli import main
        code = main(["report", {str(logdir)!r}, "--html", {str(page)!r}])
        assert "torch" not in sys.modules, sorted(m for m in sys.modules if m.startswith("torch"))
        raise SystemExit(code)
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "<html" in page.read_text()[:500].lower()


def test_core_imports_without_torch(tmp_path: Path) -> None:
    done = _run_without_torch(
        """
        import gradmedic
        from gradmedic import Config, Diagnosis, Incident, Report, StepStats
        from gradmedic.advice import explain
        from gradmedic.detectors.engine import Engine
        from gradmedic.pipeline import Pipeline
        from gradmedic.sinks.console import ConsoleSink
        from gradmedic.sinks.jsonl import JsonlSink
        from gradmedic.callback_options import CallbackOptions
        from gradmedic.kinds.registry import registered_kinds
        import gradmedic.report
        assert registered_kinds() and CallbackOptions(every=5).options.config.every == 5
        assert "torch" not in sys.modules
        try:
            gradmedic.watch
        except ImportError as exc:
            print("watch:", exc)
        else:
            raise SystemExit("gradmedic.watch imported without torch")
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "watch: No module named 'torch'" in done.stdout


def test_version_flag_without_torch(tmp_path: Path) -> None:
    done = _run_without_torch(
        """
        from gradmedic.cli import main
        try:
            main(["--version"])
        except SystemExit:
            pass
        assert "torch" not in sys.modules
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert gradmedic.__version__ in done.stdout


@pytest.mark.parametrize("name", sorted(gradmedic.__all__))
def test_lazy_exports_resolve(name: str) -> None:
    assert getattr(gradmedic, name) is not None
    assert name in dir(gradmedic)


def test_report_json_from_a_log_needs_no_torch(tmp_path: Path) -> None:
    logdir = tmp_path / "run"
    _watched_log(logdir)
    last = json.loads((logdir / "gradmedic.jsonl").read_text().splitlines()[-1])
    assert last["type"] == "report" and last["steps"] == 25
