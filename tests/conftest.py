"""Test layers: each test file is marked by what it costs, so ``make test-fast`` runs the unit layer alone.

- ``integration``: runs gradmedic end to end in subprocesses (``gradmedic run``/``check``/``report``) or
  against real third-party frameworks;
- ``slow``: trains real models for many steps (scenarios, treatment, the checkup suite);
- ``browser``: drives headless Chromium.

A file not listed here is the unit layer. New slow tests may also mark themselves with ``pytest.mark``.
"""

from __future__ import annotations

import pytest

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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        name = item.path.name
        if name in INTEGRATION:
            item.add_marker(pytest.mark.integration)
        if name in SLOW:
            item.add_marker(pytest.mark.slow)
        if name in BROWSER:
            item.add_marker(pytest.mark.browser)
