"""Keras tests run on the TensorFlow backend, on the CPU; they skip in one line when TensorFlow is absent."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

pytest.importorskip("tensorflow", reason="tensorflow is not installed (pip install 'gradmedic[keras]')")
pytest.importorskip("keras", reason="keras 3 is not installed (pip install 'gradmedic[keras]')")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here trains or runs real TensorFlow: the integration layer (tests/conftest.py)."""
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.path).startswith(here + os.sep):
            item.add_marker(pytest.mark.integration)
