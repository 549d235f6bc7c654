"""The HTML report: one self-contained page of the gradient flow, built from the JSONL log alone.

load -> downsample -> plots (SVG, inline PNG cells) + cards -> html. Nothing here imports torch.
"""

from .build import Built, OutputError, build, build_report, default_output
from .html import render
from .index import IndexEntry, index_page
from .load import NotALogError, RunLog, load_log
from .runs import LogNotFoundError, find_logs, select_logs

__all__ = [
    "Built",
    "IndexEntry",
    "LogNotFoundError",
    "NotALogError",
    "OutputError",
    "RunLog",
    "build",
    "build_report",
    "default_output",
    "find_logs",
    "index_page",
    "load_log",
    "render",
    "select_logs",
]
