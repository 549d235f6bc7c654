"""Step-time overhead of gradmedic.keras.GradmedicCallback at its defaults, against plain ``model.fit``.

One model instance trains in blocks (one ``fit`` of ``--steps`` steps each) that alternate between
plain and watched, so drift in the machine's speed hits both alike; the watched blocks share one
callback, so sampling runs at its steady-state rate (every 10th step after the first 20). Both
compiled functions are traced in a warm-up block first. Prints the per-step medians and the ratio,
with an A/A row (plain against plain) as the noise floor. Never asserted in tests: timings are noisy.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/overhead_keras.py
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/overhead_keras.py --rounds 20 --steps 100 --width 512
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=12, help="blocks of each kind")
    parser.add_argument("--steps", type=int, default=60, help="training steps per block")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

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

    def block(watched: bool) -> tuple[float, float]:
        """(wall, CPU) seconds per step: on a shared machine this process's CPU time is the steadier."""
        wall, cpu = time.perf_counter(), time.process_time()
        callbacks = [callback] if watched else []
        model.fit(x, y, batch_size=args.batch, epochs=1, verbose=0, shuffle=False, callbacks=callbacks)
        return (time.perf_counter() - wall) / args.steps, (time.process_time() - cpu) / args.steps

    block(False), block(True), block(True)  # warm-up: trace both functions, leave the dense first steps behind
    plain: list[tuple[float, float]] = []
    plain_b: list[tuple[float, float]] = []
    watched: list[tuple[float, float]] = []
    for r in range(args.rounds):
        order = [(plain, False), (watched, True), (plain_b, False)]
        for times, is_watched in order if r % 2 == 0 else order[::-1]:
            times.append(block(is_watched))
    print(
        f"model: MLP 784-{args.width}x{args.depth}-10, batch {args.batch}, Adam; {args.rounds} rounds of {args.steps} steps"
    )
    print(
        f"watched steps: {callback.report.steps}, sampled every {callback.config.every} after the first {callback.config.warmup_steps}"
    )
    print("| run | median wall ms/step | ratio | median CPU ms/step | ratio |")
    print("| --- | --- | --- | --- | --- |")
    base = [statistics.median(t[k] for t in plain) * 1e3 for k in (0, 1)]
    for name, times in (("plain", plain), ("plain again (A/A)", plain_b), ("gradmedic defaults", watched)):
        m = [statistics.median(t[k] for t in times) * 1e3 for k in (0, 1)]
        print(f"| {name} | {m[0]:.3f} | {m[0] / base[0]:.3f} | {m[1]:.3f} | {m[1] / base[1]:.3f} |")


if __name__ == "__main__":
    main()
