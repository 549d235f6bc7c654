"""Step-time overhead of gradmedic.keras.GradmedicCallback at its defaults, against plain ``model.fit``.

One model instance trains in blocks (one ``fit`` of ``--steps`` steps each) that take turns within
each round (plain, watched, plain again; reversed every other round), so drift in the machine's
speed hits them alike; the watched blocks share one callback, so sampling runs at its steady-state
rate (every 10th step after the first 20). Both compiled functions are traced in a warm-up first.

Each round gives a ratio per row (its block over the round's plain block, in wall and in CPU time);
the table shows the median ratio over rounds with its interquartile range, and the per-step medians.
"plain again" (A/A) is the noise floor. ``--extra`` adds an empty callback (what Keras itself costs
once any callback has per-batch hooks). ``--profile`` prints where the watched blocks' time goes
(cProfile). Never asserted in tests: timings are noisy.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/overhead_keras.py
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/overhead_keras.py --rounds 30 --extra
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/overhead_keras.py --rounds 4 --profile
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

PLAIN, AGAIN, WATCHED, EMPTY = "plain", "plain again (A/A)", "gradmedic defaults", "empty callback"


def quartiles(values: list[float]) -> tuple[float, float, float]:
    """(first quartile, median, third quartile)."""
    if len(values) < 2:
        v = values[0] if values else float("nan")
        return v, v, v
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def summarize(times: dict[str, list[tuple[float, float]]]) -> list[dict[str, Any]]:
    """Per row: the median per-step wall and CPU ms, and the quartiles of its per-round ratios to plain."""
    rows = []
    for name, blocks in times.items():
        row: dict[str, Any] = {"run": name, "rounds": len(blocks)}
        for k, clock in enumerate(("wall", "cpu")):
            row[f"{clock}_ms"] = statistics.median(b[k] for b in blocks) * 1e3
            ratios = [b[k] / p[k] for b, p in zip(blocks, times[PLAIN])]
            row[f"{clock}_ratio"] = quartiles(ratios)
        rows.append(row)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| run | wall ms/step | wall ratio (IQR) | CPU ms/step | CPU ratio (IQR) |",
        "| --- | ---: | --- | ---: | --- |",
    ]
    for r in rows:
        cells = [r["run"]]
        for clock in ("wall", "cpu"):
            q1, q2, q3 = r[f"{clock}_ratio"]
            cells += [f"{r[f'{clock}_ms']:.2f}", f"**{q2:.3f}** ({q1:.3f}-{q3:.3f})"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    import keras
    import numpy as np
    import tensorflow as tf

    from gradmedic.keras import GradmedicCallback

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    n = args.steps * args.batch
    x = rng.standard_normal((n, 784)).astype("float32")
    y = rng.integers(0, 10, n)
    layers = [keras.Input((784,))]
    layers += [keras.layers.Dense(args.width, activation="relu") for _ in range(args.depth)]
    layers += [keras.layers.Dense(10)]
    model = keras.Sequential(layers)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    callback = GradmedicCallback(console=False)

    class Empty(keras.callbacks.Callback):
        """Per-batch hooks that do nothing: Keras then calls its callbacks synchronously."""

        def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
            pass

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            pass

    callbacks = {PLAIN: [], AGAIN: [], WATCHED: [callback], EMPTY: [Empty()]}

    def block(name: str) -> tuple[float, float]:
        """(wall, CPU) seconds per step: on a shared machine this process's CPU time is the steadier."""
        wall, cpu = time.perf_counter(), time.process_time()
        model.fit(x, y, batch_size=args.batch, epochs=1, verbose=0, shuffle=False, callbacks=callbacks[name])
        return (time.perf_counter() - wall) / args.steps, (time.process_time() - cpu) / args.steps

    names = [PLAIN, WATCHED, AGAIN] + ([EMPTY] if args.extra else [])
    for name in [PLAIN, WATCHED, WATCHED] + names[3:]:  # warm-up: trace both functions, pass the dense first steps
        block(name)
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    for r in range(args.rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            if profiler is not None and name == WATCHED:
                profiler.enable()
            times[name].append(block(name))
            if profiler is not None:
                profiler.disable()
    if profiler is not None:
        import pstats

        print("Where the watched blocks' time goes (cumulative, gradmedic and Keras' callback dispatch):")
        stats = pstats.Stats(profiler, stream=sys.stdout)
        stats.sort_stats("cumulative").print_stats(r"gradmedic|callback_list", 30)
    return {
        "model": f"MLP 784-{args.width}x{args.depth}-10, batch {args.batch}, Adam",
        "rounds": args.rounds,
        "steps": args.steps,
        "threads": args.threads,
        "watched_steps": callback.report.steps,
        "every": callback.config.every,
        "warmup_steps": callback.config.warmup_steps,
        "rows": summarize(times),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=16, help="blocks of each kind")
    parser.add_argument("--steps", type=int, default=60, help="training steps per block")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--extra", action="store_true", help="add a row with an empty per-batch callback")
    parser.add_argument("--profile", action="store_true", help="cProfile the watched blocks")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    result = measure(args)
    print(f"model: {result['model']}; {args.rounds} rounds of {args.steps} steps, {args.threads} thread(s)")
    print(
        f"watched steps: {result['watched_steps']}, sampled every {result['every']} "
        f"after the first {result['warmup_steps']}"
    )
    print(table(result["rows"]))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
