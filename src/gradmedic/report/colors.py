"""Colour scales for the heatmaps: value -> RGB, with fixed colours for "not measured" and "NaN/Inf".

Each scale is a few anchor colours, interpolated linearly in RGB. A log scale maps log10(value).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MISSING = (232, 232, 232)  # not measured for this layer
NONFINITE = (255, 0, 200)  # NaN or Inf

# dark blue (gradient gone) -> teal -> yellow (large): perceptually ordered, readable in grey
FLOW = ((30, 16, 70), (59, 62, 140), (38, 120, 142), (40, 170, 125), (140, 205, 70), (250, 230, 35))
# pale (no zeros) -> orange -> dark red (all zeros)
ZEROS = ((255, 250, 235), (253, 212, 140), (245, 140, 70), (210, 60, 40), (130, 10, 30))
# pale -> lilac -> deep purple (saturated)
SATURATION = ((250, 248, 255), (210, 190, 235), (150, 110, 200), (90, 40, 150), (45, 0, 80))


@dataclass(frozen=True)
class Scale:
    """A colour scale over ``[low, high]``; ``log`` scales map log10 of the value."""

    anchors: tuple[tuple[int, int, int], ...]
    low: float
    high: float
    log: bool = False

    def position(self, values: np.ndarray) -> np.ndarray:
        """Where each value sits on the scale, in [0, 1] (NaN where it is not a finite number)."""
        v = np.asarray(values, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.log:
                lo, hi = math.log10(self.low), math.log10(self.high)
                v = np.log10(np.where(v > 0, v, self.low))
            else:
                lo, hi = self.low, self.high
            return np.clip((v - lo) / (hi - lo), 0.0, 1.0)

    def rgb(self, values: np.ndarray) -> np.ndarray:
        """``uint8[..., 3]`` colours; NaN is MISSING and +-inf is NONFINITE."""
        v = np.asarray(values, dtype=np.float64)
        t = np.nan_to_num(self.position(v), nan=0.0, posinf=1.0, neginf=0.0)
        anchors = np.asarray(self.anchors, dtype=np.float64)
        x = t * (len(anchors) - 1)
        i = np.minimum(np.floor(x).astype(np.int64), len(anchors) - 2)
        f = (x - i)[..., None]
        out = anchors[i] * (1.0 - f) + anchors[i + 1] * f
        out[np.isnan(v)] = MISSING
        out[np.isinf(v)] = NONFINITE
        rgb: np.ndarray = np.round(out).astype(np.uint8)
        return rgb

    def css(self, t: float) -> str:
        """The colour at position ``t`` in [0, 1], as ``#rrggbb``."""
        anchors = self.anchors
        x = min(max(t, 0.0), 1.0) * (len(anchors) - 1)
        i = min(int(x), len(anchors) - 2)
        f = x - i
        r, g, b = (round(a * (1 - f) + c * f) for a, c in zip(anchors[i], anchors[i + 1]))
        return f"#{r:02x}{g:02x}{b:02x}"


def log_scale(values: np.ndarray, anchors: tuple[tuple[int, int, int], ...] = FLOW) -> Scale:
    """A log scale spanning the finite positive values, widened to whole decades; robust to outliers
    at the bottom (the lowest 0.5 % are clipped), never narrower than one decade, never wider than 16."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v) & (v > 0)]
    if not v.size:
        return Scale(anchors, 1e-3, 1.0, log=True)
    hi = math.ceil(math.log10(float(v.max())))
    lo = math.floor(math.log10(float(np.quantile(v, 0.005))))
    lo = min(max(lo, hi - 16), hi - 1)
    return Scale(anchors, 10.0**lo, 10.0**hi, log=True)


def fraction_scale(anchors: tuple[tuple[int, int, int], ...]) -> Scale:
    return Scale(anchors, 0.0, 1.0)
