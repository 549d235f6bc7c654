"""The sinks stay framework-free: they take plain records, and TensorBoard is written without torch."""

from __future__ import annotations

import ast
from pathlib import Path

import gradmedic.sinks


def test_sinks_do_not_import_torch() -> None:
    root = Path(gradmedic.sinks.__file__).parent
    files = sorted(root.glob("*.py"))
    assert {"base.py", "jsonl.py", "tensorboard.py", "console.py"} <= {f.name for f in files}
    for path in files:
        tree = ast.parse(path.read_text())
        imported = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, (ast.Import, ast.ImportFrom))
            for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])
        }
        assert "torch" not in imported, path
