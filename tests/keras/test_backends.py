"""Keras 3 on the torch backend: the callback says it watches nothing, and ``fit`` trains on unaffected.

The probe's compiled twin is TensorFlow's; on torch (or JAX) its wrappers would see other tensors
(docs/keras.md, "Known limits", says what fails). Run in a fresh interpreter: the backend is chosen at
``import keras``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.integration]  # a fresh interpreter on the torch backend

SCRIPT = textwrap.dedent(
    """
    import json, warnings
    import keras, numpy as np
    from gradmedic.keras import GradmedicCallback

    keras.utils.set_random_seed(0)
    x = np.random.rand(128, 8).astype("float32")
    y = np.random.randint(0, 3, 128)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3)])
    model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    callback = GradmedicCallback(console=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=[callback])
        model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[callback])
    said = [str(w.message) for w in caught if "gradmedic" in str(w.message)]
    report = callback.report
    print(json.dumps({
        "backend": keras.backend.backend(),
        "losses": len(history.history["loss"]),
        "said": said,
        "healthy": report.healthy,
        "incidents": [i.error for i in report.incidents],
        "layers": len(report.layers),
    }))
    """
)


def test_torch_backend_is_refused_with_one_warning_and_an_incident() -> None:
    env = {**os.environ, "KERAS_BACKEND": "torch", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=240, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["backend"] == "torch"
    assert out["losses"] == 2  # the user's fit trained on
    assert len(out["said"]) == 1 and "KERAS_BACKEND=tensorflow" in out["said"][0]
    assert not out["healthy"] and out["layers"] == 0
    assert len(out["incidents"]) == 1 and "'torch'" in out["incidents"][0]
