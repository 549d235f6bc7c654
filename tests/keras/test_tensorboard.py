"""The Keras run's TensorBoard event files and JSONL log, read back with TensorBoard's own reader."""

from __future__ import annotations

import json
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from gradmedic.keras import GradmedicCallback

from .nets import dense_stack, fit


def _scalar_tags(logdir: Path) -> set[str]:
    tags: set[str] = set()
    for events in logdir.glob("events.out.tfevents.*"):
        acc = EventAccumulator(str(events), size_guidance={"tensors": 0, "scalars": 0})
        acc.Reload()
        tags |= set(acc.Tags()["tensors"]) | set(acc.Tags()["scalars"])
    return tags


def test_zero_fraction_of_every_hidden_layer_is_in_tensorboard(tmp_path: Path) -> None:
    model = dense_stack("relu", 3)
    fit(model, GradmedicCallback(logdir=tmp_path, console=False), epochs=1)
    tags = _scalar_tags(tmp_path)
    for layer in ("hidden0", "hidden1", "hidden2"):
        assert f"gradmedic/zero_fraction/{layer}" in tags
        assert f"gradmedic/active_fraction/{layer}" in tags
    for layer in ("hidden0", "hidden1", "hidden2", "out"):
        assert f"gradmedic/grad_norm/{layer}" in tags
        assert f"gradmedic/update_ratio/{layer}" in tags
    assert "gradmedic/zero_fraction/out" not in tags  # a linear output has no activation to measure


def test_zero_fraction_values_read_back_match_the_jsonl_log(tmp_path: Path) -> None:
    model = dense_stack("relu", 2, bias=-5.0)
    callback = GradmedicCallback(logdir=tmp_path, console=False)
    fit(model, callback, epochs=1)
    fit(model, callback, epochs=1)  # a second fit goes on in the same log
    callback.close()
    records = [json.loads(line) for line in (tmp_path / "gradmedic.jsonl").read_text().splitlines()]
    steps = [r for r in records if r["type"] == "step"]
    assert steps and all(s["layers"]["hidden0"]["zero_fraction"] == 1.0 for s in steps)
    assert steps[-1]["step"] > 29  # sampled steps of the second fit
    assert records[-1]["type"] == "report" and records[-1]["steps"] == 2 * 29
    assert not list(tmp_path.glob("gradmedic.*.jsonl"))  # one run, one log
    acc = EventAccumulator(str(tmp_path), size_guidance={"scalars": 0})
    acc.Reload()
    values = [e.value for e in acc.Scalars("gradmedic/zero_fraction/hidden0")]
    assert len(values) == len(steps) and all(v == 1.0 for v in values)
