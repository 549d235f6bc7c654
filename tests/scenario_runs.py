"""The demo scenarios' runs, each trained once per test process and shared by the tests that read it.

A run is fixed by its scenario and mode (seeded, on bundled data), so tests that judge the same run (a
diagnosis, then its details; a healthy twin as a problem's reference and as a run left alone by ``--treat``)
read one training instead of repeating it. Reports are handed out as they are: tests only read them. Under
``make test`` (pytest-xdist, ``--dist loadfile``) each test file runs whole on one worker, so a file's tests
share these caches.
"""

from __future__ import annotations

from functools import cache
from typing import Literal

import gradmedic
from gradmedic.demo.scenarios import SCENARIOS, RunResult, train
from gradmedic.records import Report

Mode = Literal["watched", "treated"]


@cache
def plain(name: str) -> RunResult:
    """The scenario trained without gradmedic."""
    result, _ = train(SCENARIOS[name])
    return result


@cache
def monitored(name: str, mode: Mode) -> tuple[RunResult, Report]:
    """The scenario under ``gradmedic.watch`` (console off), with treatment when ``mode`` is ``treated``."""
    result, report = train(SCENARIOS[name], watch=gradmedic.watch, console=False, treat=mode == "treated")
    return result, report
