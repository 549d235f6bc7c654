"""Config: every threshold in one place, with bad values refused when it is made."""

from __future__ import annotations

import dataclasses

import pytest

from gradmedic.config import Config
from gradmedic.remedies.snapshots import Snapshots


def test_treatment_thresholds_live_in_config() -> None:
    names = {f.name for f in dataclasses.fields(Config)}
    treat = {n for n in names if n.startswith("treat_")}
    assert {"treat_lr_factor", "treat_lr_floor", "treat_stuck_steps", "treat_recurrent_radius"} <= treat
    assert "snapshot_every" in names


def test_one_snapshot_interval() -> None:
    import torch

    model = torch.nn.Linear(2, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    assert Snapshots(model, [opt]).every == Config().snapshot_every


@pytest.mark.parametrize("bad", [{"snapshot_every": 0}, {"treat_lr_factor": 1.0}, {"treat_lr_factor": 0.0}])
def test_bad_treatment_settings_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        Config(**bad)  # type: ignore[arg-type]


def test_one_resolution_of_config_and_every_for_monitors_and_callbacks() -> None:
    from gradmedic.config import resolve_config

    assert resolve_config() == Config()
    assert resolve_config(Config(window=8, persist=6), 5) == Config(window=8, persist=6, every=5)
    with pytest.raises(TypeError, match="config must be a gradmedic.Config"):
        resolve_config({"every": 5})
    with pytest.raises(TypeError, match="every must be a whole number"):
        resolve_config(None, 2.5)
    with pytest.raises(ValueError, match="every must be >= 1"):
        resolve_config(None, 0)
