"""Typed values and records from a log's JSON, which may be anything: each reader returns a value of the
promised type or raises ``BadField`` (a ``ValueError``) saying what was wrong.
"""

from __future__ import annotations

import math
from typing import Any

from ..records import SEVERITY_RANK, Diagnosis, Incident, LayerInfo, Remedy, Treatment

MAX_COUNT = 2**53  # step numbers and counts above this come from no real run, and do not fit an int64 axis


class BadField(ValueError):
    """A value in the log has the wrong type or is out of range."""


def _show(value: Any) -> str:
    """A value for an error message, short whatever it is."""
    if isinstance(value, str):
        return repr(value[:40])
    if isinstance(value, float):
        return repr(value)
    return f"a {type(value).__name__}"


def count(value: Any, *, low: int = 0, what: str = "number") -> int:
    """A whole number in ``[low, 2**53]``: an int, an integral float, or a string of digits."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise BadField(f"{what} {_show(value)} is not a whole number")
    if isinstance(value, float) and not value.is_integer():
        raise BadField(f"{what} {_show(value)} is not a whole number")
    try:
        n = int(value)
    except ValueError as exc:
        raise BadField(f"{what} {_show(value)} is not a whole number") from exc
    if not low <= n <= MAX_COUNT:
        raise BadField(f"{what} out of range [{low}, 2**53]")
    return n


def step(value: Any) -> int:
    return count(value, what="step")


def number(value: Any) -> float:
    """A float; None is NaN (not measured); "nan", "inf", "-inf" are how non-finite values are written."""
    if value is None:
        return math.nan
    if isinstance(value, (bool, int, float, str)):
        try:
            return float(value)
        except OverflowError:  # an integer too large for a float
            return math.inf if int(value) > 0 else -math.inf
        except ValueError as exc:
            raise BadField(f"{_show(value)} is not a number") from exc
    raise BadField(f"{type(value).__name__} is not a number")


def text(value: Any) -> str:
    """A string; numbers and booleans are written out, None is empty, collections are refused."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, float)) or (isinstance(value, int) and abs(value) < 10**30):
        return str(value)
    raise BadField(f"{type(value).__name__} is not text")


def flag(value: Any, default: bool = False) -> bool:
    if value is None:
        return default
    if isinstance(value, (bool, int, float)):
        return bool(value)
    raise BadField(f"{_show(value)} is not true or false")


def mapping(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    raise BadField(f"{type(value).__name__} is not an object")


def items(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    raise BadField(f"{type(value).__name__} is not a list")


def layer_info(item: Any) -> LayerInfo:
    item = mapping(item)
    if "name" not in item:
        raise BadField("a layer without a name")
    return LayerInfo(
        name=text(item["name"]),
        type=text(item.get("type")),
        order=count(item.get("order", 0), what="order"),
        num_params=count(item.get("num_params", 0), what="num_params"),
        has_weights=flag(item.get("has_weights"), default=True),
        activation=text(item.get("activation")),
        activation_module=text(item.get("activation_module")),
        units=count(item.get("units", 0), what="units"),
        is_output=flag(item.get("is_output")),
    )


def remedy(item: Any) -> Remedy:
    item = mapping(item)
    return Remedy(
        name=text(item.get("name")),
        summary=text(item.get("summary")),
        snippet=text(item.get("snippet")),
        rank=count(item.get("rank", 0), what="rank"),
        applied=flag(item.get("applied")),
    )


def diagnosis(item: Any) -> Diagnosis:
    item = mapping(item)
    if "kind" not in item:
        raise BadField("a diagnosis without a kind")
    severity = item.get("severity", "info")
    last = item.get("last_step")
    return Diagnosis(
        kind=text(item["kind"]),
        severity=severity if severity in SEVERITY_RANK else "info",
        layers=tuple(text(n) for n in items(item.get("layers"))),
        first_step=step(item.get("first_step", 0)),
        message=text(item.get("message")),
        evidence={text(k): v for k, v in mapping(item.get("evidence")).items()},
        remedies=tuple(remedy(r) for r in items(item.get("remedies"))),
        last_step=step(last) if last is not None else None,
        outcome=text(item.get("outcome")),
    )


def treatment(item: Any) -> Treatment:
    item = mapping(item)
    return Treatment(
        step=step(item.get("step", 0)),
        kind=text(item.get("kind")),
        action=text(item.get("action")),
        reason=text(item.get("reason")),
        before=mapping(item.get("before")),
        after=mapping(item.get("after")),
        reverse=text(item.get("reverse")),
        remedy=text(item.get("remedy")),
        outcome=text(item.get("outcome")),
    )


def incident(item: Any) -> Incident:
    item = mapping(item)
    return Incident(
        step=count(item.get("step", -1), low=-1, what="step"),
        component=text(item.get("component")) or "?",
        error=text(item.get("error")),
    )
