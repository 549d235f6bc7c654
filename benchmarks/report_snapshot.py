"""Every demo scenario's reports as one canonical JSON file, to show that a change left behaviour alone.

Each scenario is trained untreated and with ``treat=True`` under ``gradmedic.watch`` (default settings, seed 0,
one thread), and checked before training (``gradmedic.checkup`` on its first 128 examples). Run it on two
commits and compare the files: equal files mean the same diagnoses, evidence, messages, treatments and final
losses. It takes about ten minutes on one CPU core.

    .venv/bin/python benchmarks/report_snapshot.py before.json
    .venv/bin/python benchmarks/report_snapshot.py after.json && cmp before.json after.json
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import torch

import gradmedic
from gradmedic.demo import data
from gradmedic.demo.scenarios import SCENARIOS, train


def snapshot(names: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in names:
        scenario = SCENARIOS[name]
        for treat in (False, True):
            result, report = train(scenario, watch=gradmedic.watch, console=False, treat=treat)
            out[f"{name}/{'treat' if treat else 'plain'}"] = {
                "result": [result.final_loss, result.accuracy],
                "report": report.to_dict(),
            }
        torch.manual_seed(0)
        model = scenario.build()
        if scenario.setup is not None:
            scenario.setup(model)
        x, y = data.digits() if scenario.task == "digits" else data.sequences(length=scenario.length, seed=0)
        out[f"{name}/checkup"] = gradmedic.checkup(model, x[:128], y[:128]).to_dict()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", help="the JSON file to write")
    parser.add_argument("--only", nargs="+", default=list(SCENARIOS), help="scenario names (default: all)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with open(args.out, "w") as f:
        json.dump(snapshot(args.only), f, indent=1, sort_keys=True, default=str)


if __name__ == "__main__":
    main()
