"""Test layers: each test file is marked by what it costs, so ``make test-fast`` runs the unit layer alone.

- ``integration``: runs gradmedic end to end in subprocesses (``gradmedic run``/``check``/``report``) or
  against real third-party frameworks;
- ``slow``: trains real models for many steps (scenarios, treatment, the checkup suite);
- ``browser``: drives headless Chromium.

A file not listed here is the unit layer. The real-script suite runs only in ``make real``. New slow tests may also mark themselves with ``pytest.mark``.

``make test`` runs the suite on two pytest-xdist workers (``-n 2 --dist loadfile``). Each worker keeps torch
to one thread, so two workers fill two cores without oversubscribing them. Each test file runs whole on one
worker, its tests one after another: a file's module caches serve all its tests, and tests that must not
overlap (signals sent to a child process, a fixed port, torchrun ranks) belong in one file. (``--dist
loadgroup`` would honour ``pytest.mark.xdist_group``, but pytest-xdist 3.8 cannot tag node ids under pytest
9.2, so its groups are split across workers.)
"""

from __future__ import annotations

import os

import pytest

# The suite of real public scripts (tests/real/test_real.py, about 15 minutes) runs in `make real`, which
# sets GRADMEDIC_REAL=1; `make test` keeps its checks of the suite's labels (tests/real/test_oracle_labels.py).
collect_ignore = [] if os.environ.get("GRADMEDIC_REAL") else ["real/test_real.py"]

INTEGRATION = {
    "test_run_scripts.py",
    "test_runner.py",
    "test_check_script.py",
    "test_signals.py",
    "test_without_torch.py",
    "test_benchmarks.py",
    "test_full_disk.py",
}
SLOW = {
    "test_run_scripts.py",
    "test_check_script.py",
    "test_scenarios.py",
    "test_treatment.py",
    "test_checkup.py",
    "test_full_disk.py",
}
BROWSER = {"test_browser.py"}


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ["OMP_NUM_THREADS"] = "1"  # for this worker's torch and the scripts it starts
        import torch

        torch.set_num_threads(1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        name = item.path.name
        if name in INTEGRATION:
            item.add_marker(pytest.mark.integration)
        if name in SLOW:
            item.add_marker(pytest.mark.slow)
        if name in BROWSER:
            item.add_marker(pytest.mark.browser)
