"""Tool adapters for the overhead benchmark: one file per tool, and the registry below.

Each entry names the virtual environment the tool runs in: "" is the project's own ``.venv``; the
peers each have one under ``benchmarks/.venvs/`` (made by ``benchmarks/setup_peers.sh``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from .base import Tool


@dataclass(frozen=True)
class ToolSpec:
    name: str
    target: str  # "module:Class", relative to this package
    venv: str  # "" for the project's .venv, else the peer's folder under benchmarks/.venvs

    def cls(self) -> type[Tool]:
        """The adapter class (importing it imports torch only, never the tool itself)."""
        module, name = self.target.split(":")
        cls: type[Tool] = getattr(importlib.import_module(f".{module}", __name__), name)
        return cls


TOOLS: dict[str, ToolSpec] = {
    spec.name: spec
    for spec in [
        ToolSpec("plain", "plain:Plain", ""),
        ToolSpec("gradmedic", "gradmedic_tool:Gradmedic", ""),
        ToolSpec("gradmedic-every1", "gradmedic_tool:GradmedicEveryStep", ""),
        ToolSpec("plain-compiled", "compiled:PlainCompiled", ""),
        ToolSpec("gradmedic-compiled", "compiled:GradmedicCompiled", ""),
        ToolSpec("cockpit", "cockpit_economy:CockpitEconomy", "cockpit"),
        ToolSpec("smdebug", "smdebug_hook:SmdebugHook", "smdebug"),
        ToolSpec("wandb", "wandb_watch:WandbWatch", "wandb"),
        ToolSpec("trainpulse", "trainpulse_hooks:Trainpulse", "trainpulse"),
        ToolSpec("torch-module-monitor", "module_monitor:ModuleMonitor", "torch-module-monitor"),
    ]
}
