"""Bin a long run to a fixed size, so that the page stays small and quick to open.

Heatmaps get at most ``MAX_COLUMNS`` step columns and ``MAX_ROWS`` layer rows; line charts at most
``MAX_POINTS`` bins. The step axis is uniform: a column covers a fixed range of steps, holds the
aggregate of the sampled steps that fall in it, and repeats the last sample when none does.
Norms are averaged on a log scale (geometric mean), fractions arithmetically; a bin holding one
non-finite value is non-finite.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

MAX_COLUMNS = 600
MAX_ROWS = 200
MAX_POINTS = 800

Mode = Literal["log", "mean"]
TINY = 1e-30  # a zero norm is drawn as the bottom of the log scale


@dataclass(frozen=True)
class Grid:
    """A heatmap's cells: ``values[row, column]``; NaN = not measured, +inf = non-finite."""

    values: np.ndarray  # float64[R, C]
    rows: tuple[str, ...]  # a label per row: a layer name, or "first … last" for merged layers
    members: tuple[tuple[str, ...], ...]  # the layers merged into each row
    start: float  # the step at the left edge of column 0
    width: float  # steps per column

    @property
    def stop(self) -> float:
        return self.start + self.width * int(self.values.shape[1])


@dataclass(frozen=True)
class Bins:
    """A line chart's series: per bin, the range and the centre of the finite values."""

    x: np.ndarray  # float64[B]: the bin's mean step
    low: np.ndarray  # float64[B]
    high: np.ndarray  # float64[B]
    mid: np.ndarray  # float64[B]: geometric ("log") or arithmetic mean
    nonfinite: np.ndarray  # float64[K]: steps with a non-finite value, at most one per bin
    merged: bool  # more than one sample per bin somewhere


def step_range(steps: np.ndarray, last_step: int) -> tuple[float, int]:
    """The step axis shared by every chart of a run: ``[first, last + 1)``, and its column count."""
    first = float(steps[0]) if steps.size else 0.0
    span = max(1.0, last_step + 1 - first)
    return first, int(min(MAX_COLUMNS, math.ceil(span)))


def _reduce(values: np.ndarray, starts: np.ndarray, mode: Mode, axis: int) -> np.ndarray:
    """Aggregate consecutive groups along ``axis`` beginning at ``starts``; NaN-aware, inf-sticky."""
    finite = np.isfinite(values)
    if mode == "log":
        data = np.log10(np.clip(np.where(finite, values, 1.0), TINY, None))
    else:
        data = np.where(finite, values, 0.0)
    sums = np.add.reduceat(np.where(finite, data, 0.0), starts, axis=axis)
    counts = np.add.reduceat(finite.astype(np.int32), starts, axis=axis)
    bad = np.add.reduceat(np.isposinf(values).astype(np.int32), starts, axis=axis) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums / counts
    out = np.where(counts > 0, mean, np.nan)
    if mode == "log":
        out = np.power(10.0, out)
    return np.where(bad, np.inf, out)


def grid(
    values: np.ndarray,
    steps: np.ndarray,
    names: tuple[str, ...],
    last_step: int,
    mode: Mode,
    *,
    max_rows: int = MAX_ROWS,
) -> Grid:
    """Bin ``values[layer, sample]`` (samples at ``steps``) into at most MAX_COLUMNS x ``max_rows`` cells."""
    start, columns = step_range(steps, last_step)
    width = max(1.0, (last_step + 1 - start) / columns)
    cells = np.full((values.shape[0], columns), np.nan)
    if steps.size and values.shape[0]:
        column = np.minimum(((steps - start) // width).astype(np.int64), columns - 1)
        firsts = np.flatnonzero(np.r_[True, column[1:] != column[:-1]])
        cells[:, column[firsts]] = _reduce(values, firsts, mode, axis=1)
        # a column with no sample holds the last one before it
        filled = np.zeros(columns, dtype=bool)
        filled[column[firsts]] = True
        source = np.maximum.accumulate(np.where(filled, np.arange(columns), -1))
        hold = (~filled) & (source >= 0)
        cells[:, hold] = cells[:, source[hold]]
    rows, members = _row_groups(names, max_rows)
    if len(rows) < len(names):
        group = math.ceil(len(names) / max_rows)
        cells = _reduce(cells, np.arange(0, len(names), group), mode, axis=0)
    return Grid(values=cells, rows=rows, members=members, start=start, width=width)


def _row_groups(names: tuple[str, ...], max_rows: int) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    if len(names) <= max_rows:
        return names, tuple((n,) for n in names)
    group = math.ceil(len(names) / max_rows)
    members = tuple(names[i : i + group] for i in range(0, len(names), group))
    return tuple(f"{m[0]} … {m[-1]}" if len(m) > 1 else m[0] for m in members), members


def bins(steps: np.ndarray, values: np.ndarray, mode: Mode, *, max_points: int = MAX_POINTS) -> Bins:
    """Bin a series for a line chart: at most ``max_points`` bins of equal step width."""
    if not steps.size:
        empty = np.zeros(0)
        return Bins(empty, empty, empty, empty, empty, False)
    first, last = float(steps[0]), float(steps[-1])
    width = max(1.0, (last + 1 - first) / max_points)
    index = ((steps - first) // width).astype(np.int64)
    firsts = np.flatnonzero(np.r_[True, index[1:] != index[:-1]])
    counts = np.diff(np.r_[firsts, steps.size])
    finite = np.isfinite(values)
    positive = finite & (values > 0) if mode == "log" else finite
    low = np.minimum.reduceat(np.where(positive, values, np.inf), firsts)
    high = np.maximum.reduceat(np.where(positive, values, -np.inf), firsts)
    mid = _reduce(np.where(positive, values, np.nan), firsts, mode, axis=0)
    x = np.add.reduceat(steps.astype(np.float64), firsts) / counts
    bad = ~finite
    bad_bins = np.unique(index[bad])
    bad_steps = np.asarray([steps[bad & (index == b)][0] for b in bad_bins], dtype=np.float64)
    keep = np.isfinite(low) & np.isfinite(high)
    return Bins(x[keep], low[keep], high[keep], mid[keep], bad_steps, bool((counts > 1).any()))


def group_values(
    values: np.ndarray, names: tuple[str, ...], mode: Mode, *, max_rows: int = MAX_ROWS
) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...], np.ndarray]:
    """One value per layer, merged into at most ``max_rows`` groups of adjacent layers."""
    rows, members = _row_groups(names, max_rows)
    if len(rows) == len(names):
        return rows, members, values
    group = math.ceil(len(names) / max_rows)
    return rows, members, _reduce(values, np.arange(0, len(names), group), mode, axis=0)
