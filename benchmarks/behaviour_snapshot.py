"""A snapshot of what gradmedic says about every demo scenario, to show a refactoring changed nothing.

For each scenario of ``gradmedic/demo/scenarios.py``: the checkup's report on the freshly built model (128
examples), the report of the watched run, and for a problem scenario the report of the treated run with its
final loss. Written as one JSON file with sorted keys, so two snapshots compare byte for byte:

    git archive BASE src | tar -x -C /tmp/base           # the code before, beside the code after
    PYTHONPATH=/tmp/base/src .venv/bin/python benchmarks/behaviour_snapshot.py /tmp/before.json
    .venv/bin/python benchmarks/behaviour_snapshot.py /tmp/after.json
    cmp /tmp/before.json /tmp/after.json

About 5 minutes on one thread. Deterministic: two runs of the same code give the same file.
"""

from __future__ import annotations

import json
import sys

import torch

import gradmedic
from gradmedic.demo import data
from gradmedic.demo.scenarios import SCENARIOS, train


def snapshot() -> dict[str, object]:
    out: dict[str, object] = {}
    for name, scenario in SCENARIOS.items():
        torch.manual_seed(0)
        model = scenario.build()
        if scenario.setup is not None:
            scenario.setup(model)
        x, y = data.digits() if scenario.task == "digits" else data.sequences(length=scenario.length, seed=0)
        out[f"checkup/{name}"] = gradmedic.checkup(model, x[:128], y[:128]).to_dict()
        _, report = train(scenario, watch=gradmedic.watch, console=False)
        out[f"watch/{name}"] = report.to_dict()
        if not scenario.healthy:
            result, report = train(scenario, watch=gradmedic.watch, console=False, treat=True)
            out[f"treat/{name}"] = {"report": report.to_dict(), "final_loss": result.final_loss}
        print(name, file=sys.stderr, flush=True)
    return out


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: behaviour_snapshot.py OUT.json")
    torch.set_num_threads(1)
    with open(sys.argv[1], "w") as f:
        json.dump(snapshot(), f, indent=1, sort_keys=True, default=str)
