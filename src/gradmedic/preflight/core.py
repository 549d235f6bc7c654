"""``gradmedic.checkup``: one forward and one backward pass on a sample batch, and a verdict before training.

Flow: state.py sets the modes and restores everything afterwards -> measure.py runs and measures the pass
-> detectors/init_rules.py judges the per-layer records (no torch) -> advice.explain -> a CheckupReport.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ..advice import explain
from ..config import Config
from ..detectors.init_rules import judge
from ..probe.layers import check_model
from ..probe.recurrent_weights import RecurrenceProbe
from ..records import SEVERITY_RANK, CheckupReport
from .batch import Call, LossFn, as_call, model_device, to_device
from .measure import measure
from .state import preserved, set_pass_modes


def checkup(
    model: nn.Module,
    inputs: Any,
    targets: Any = None,
    loss_fn: LossFn | None = None,
    *,
    config: Config | None = None,
    seed: int = 0,
) -> CheckupReport:
    """Diagnose ``model`` before training, from one forward and one backward pass on ``inputs``.

    ``inputs`` is a tensor (``model(x)``), a tuple (``model(*inputs)``) or a dict (``model(**inputs)``), ideally
    a training batch of 64 or more examples. ``loss_fn(output, targets)`` (or ``loss_fn(output)`` without targets)
    gives the loss; without it, integer targets get cross-entropy, float targets mean squared error, and no
    targets a fixed random projection of the output. No optimizer step is taken; the model's parameters,
    buffers, ``.grad`` and train/eval modes, and the global random state, are left as they were.

    Returns a Report (``steps`` 0; every diagnosis has ``first_step`` 0) whose ``checkup`` holds the
    per-layer measurements.
    """
    return run_checkup(model, as_call(inputs), targets=targets, loss_fn=loss_fn, config=config, seed=seed)


def run_checkup(
    model: nn.Module,
    call: Call,
    *,
    targets: Any = None,
    loss_fn: LossFn | None = None,
    config: Config | None = None,
    seed: int = 0,
    loss_name: str | None = None,
) -> CheckupReport:
    """The checkup on positional and keyword arguments (``gradmedic check`` replays a captured call)."""
    check_model(model)
    cfg = config or Config()
    device = model_device(model)
    if device is not None:
        call, targets = to_device(call, device), to_device(targets, device)
    recurrence = RecurrenceProbe(model, track_hidden=True)
    try:
        with preserved(model):
            set_pass_modes(model)
            measured = measure(model, call, targets, loss_fn, cfg, seed=seed, loss_name=loss_name)
        recurrent = list(recurrence.measure().values())
    finally:
        recurrence.remove()
    findings = judge(measured.layers, cfg, measured.nonfinite, recurrent)
    infos = {info.name: info for info in measured.infos}
    depth = {layer.name: i for i, layer in enumerate(measured.layers)}
    diagnoses = sorted(
        (explain(f, infos) for f in findings),
        key=lambda d: (-SEVERITY_RANK[d.severity], min((depth.get(n, len(depth)) for n in d.layers), default=0)),
    )
    return CheckupReport(
        steps=0,
        layers=measured.infos,
        diagnoses=diagnoses,
        checkup=measured.layers,
        batch_size=measured.batch_size,
        loss=measured.loss,
    )
