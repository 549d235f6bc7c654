"""How numbers read in messages and advice: one short scientific form (``1.2e-07``) everywhere."""

from __future__ import annotations

import math


def sci(value: object, infinite: str = "") -> str:
    """A number in short scientific form; ``infinite`` (when given) in place of an infinite one; anything
    that is not a number as its text."""
    if not isinstance(value, (int, float)):
        return str(value)
    if infinite and math.isinf(value):
        return infinite
    return f"{float(value):.1e}"
