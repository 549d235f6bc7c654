"""CallbackOptions: every framework callback takes watch()'s options with one signature, checked when made."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import gradmedic
from gradmedic.callback_options import CallbackOptions
from gradmedic.kinds.registry import get_kind


def test_options_are_checked_when_made(tmp_path: Path) -> None:
    assert CallbackOptions(every=7).options.config.every == 7
    with pytest.raises(ValueError, match="every must be >= 1"):
        CallbackOptions(every=0)
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        CallbackOptions(logdir=tmp_path / "a_file")
    with pytest.raises(TypeError, match="console"):
        CallbackOptions(console="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="detectors must be a list"):
        CallbackOptions(detectors=get_kind("dead_units"))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="sinks must hold sink objects"):
        CallbackOptions(sinks=[object()])
    with pytest.raises(TypeError, match="treat must be True, False, or plans"):
        CallbackOptions(treat="always")  # type: ignore[arg-type]


def test_kept_as_given() -> None:
    dead = get_kind("dead_units")
    assert dead is not None
    sink = gradmedic.Sink()
    options = CallbackOptions(detectors=[dead], sinks=[sink], treat=True, console=False).options
    assert options.detectors == (dead,) and options.sinks == (sink,) and options.treat is True


def test_a_callback_sets_itself_up_after_its_options_are_checked() -> None:
    seen: list[int] = []

    class Probe(CallbackOptions):
        def _setup(self) -> None:
            seen.append(self.options.config.every)

    Probe(every=3)
    assert seen == [3]
    with pytest.raises(ValueError):
        Probe(every=-1)
    assert seen == [3]  # not set up with a bad option


@pytest.mark.parametrize("module", ["gradmedic.lightning", "gradmedic.transformers"])
def test_every_callback_has_watchs_options(module: str) -> None:
    pytest.importorskip(module.replace("gradmedic.", "").replace("lightning", "lightning.pytorch"))
    callback = __import__(module, fromlist=["GradmedicCallback"]).GradmedicCallback
    assert inspect.signature(callback) == inspect.signature(CallbackOptions)
    watched = set(inspect.signature(gradmedic.watch).parameters) - {"model", "optimizer"}
    assert set(inspect.signature(CallbackOptions).parameters) <= watched
