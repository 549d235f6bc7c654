"""What does a sampled step cost the sinks? The TensorBoard sink (our event file, one event per step, written
from the training thread) against the ``torch.utils.tensorboard`` way it replaced (one ``add_scalar`` per value,
a writer thread), side by side on the same synthetic steps; and the JSONL sink.

    OMP_NUM_THREADS=1 python benchmarks/sink_cost.py [--layers 50] [--steps 200] [--rounds 3]

Prints milliseconds per sampled step (the best of the rounds, rounds alternating between writers) and the ratio.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

from gradmedic.records import ActivationStats, LayerInfo, LayerStats, Report, StepStats
from gradmedic.sinks.base import layer_scalars
from gradmedic.sinks.jsonl import JsonlSink
from gradmedic.sinks.tensorboard import TensorBoardSink, tag


def steps(layers: int, count: int) -> tuple[dict[str, LayerInfo], list[StepStats]]:
    rng = np.random.default_rng(0)
    infos = {
        f"blocks.{i}.fc": LayerInfo(f"blocks.{i}.fc", "Linear", i, activation="ReLU", units=64) for i in range(layers)
    }
    out = []
    for n in range(count):
        stats = {
            name: LayerStats(
                grad_norm=float(rng.random()),
                grad_rms=float(rng.random()),
                bias_grad_norm=float(rng.random()),
                weight_norm=float(rng.random()),
                update_ratio=float(rng.random()),
                activation=ActivationStats("relu", float(rng.random()), None, rng.random(64) > 0.3),
            )
            for name in infos
        }
        out.append(StepStats(n, stats, 1.0, loss=1.0, losses={n: 1.0}))
    return infos, out


def ours(folder: Path, infos: dict[str, LayerInfo], records: list[StepStats]) -> None:
    sink = TensorBoardSink(folder)
    for stats in records:
        sink.write_step(stats, infos)
    sink.close(Report(steps=len(records), layers=[], diagnoses=[]))


def torch_writer(folder: Path, infos: dict[str, LayerInfo], records: list[StepStats]) -> None:
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(folder), flush_secs=30)
    for stats in records:
        for name, layer in stats.layers.items():
            for stat, value in layer_scalars(layer).items():
                writer.add_scalar(tag(stat, name), value, stats.step)
        writer.add_scalar("gradmedic/global/grad_norm", stats.global_grad_norm, stats.step)
    writer.flush()
    writer.close()


def jsonl(folder: Path, infos: dict[str, LayerInfo], records: list[StepStats]) -> None:
    sink = JsonlSink(folder)
    for stats in records:
        sink.write_step(stats, infos)
    sink.close(Report(steps=len(records), layers=[], diagnoses=[]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=50)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    infos, records = steps(args.layers, args.steps)
    writers: dict[str, Callable[[Path, dict[str, LayerInfo], list[StepStats]], None]] = {
        "tensorboard (ours)": ours,
        "tensorboard (torch SummaryWriter)": torch_writer,
        "jsonl": jsonl,
    }
    best = dict.fromkeys(writers, float("inf"))
    for _ in range(args.rounds):
        for name, write in writers.items():
            with tempfile.TemporaryDirectory() as folder:
                start = time.perf_counter()
                write(Path(folder), infos, records)
                best[name] = min(best[name], (time.perf_counter() - start) / args.steps * 1e3)
    for name, ms in best.items():
        print(f"{name:36s} {ms:7.2f} ms per sampled step ({args.layers} layers)")
    ratio = best["tensorboard (ours)"] / best["tensorboard (torch SummaryWriter)"]
    print(f"ours / torch SummaryWriter: {ratio:.2f}")


if __name__ == "__main__":
    main()
