"""The README's layout section names every module and folder of the package, and nothing that is gone."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "gradmedic"


def _layout_block() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Layout", 1)[1]
    return section.split("```", 2)[1]


def _named(block: str) -> set[str]:
    names: set[str] = set()
    for line in block.splitlines():
        if line.startswith("src/gradmedic/"):
            continue
        code = re.split(r"\s{2,}", line.strip(), maxsplit=1)[0]  # the names column, before the description
        names |= {w for w in code.split() if re.fullmatch(r"[\w.]+\.py|[\w]+/", w)}
    return names


def test_every_module_and_folder_is_named() -> None:
    tree = {p.name for p in PACKAGE.glob("*.py")} | {
        f"{p.name}/" for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()
    }
    named = _named(_layout_block())
    assert tree - named == set(), "README layout misses these: describe them there"
    assert named - tree == set(), "README layout names what the package no longer has"
