"""``import gradmedic.keras`` brings in TensorFlow and Keras, never torch (checked in a fresh interpreter)."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_importing_the_keras_adapter_does_not_import_torch() -> None:
    code = textwrap.dedent(
        """
        import sys
        import gradmedic.keras
        from gradmedic.keras import GradmedicCallback, checkup
        print("torch" in sys.modules, "keras" in sys.modules)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]
