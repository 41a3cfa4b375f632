"""Pure helpers for the figures: percentiles and median (min-max) summaries."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], pct: float) -> float:
    """The ``pct``-th percentile (0-100) with linear interpolation between ranks.

    The same definition as numpy's default ("linear"), so p50 of an even count is the
    mean of the two middle values.
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0.0 <= pct <= 100.0:
        raise ValueError(f"percentile must be within 0-100, got {pct}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100.0
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return float(ordered[low])
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Summary:
    """A figure measured several times: its median and range."""

    median: float
    low: float
    high: float
    n: int

    def fmt(self, digits: int = 0, unit: str = "") -> str:
        """``1,234 (1,200-1,300)``; a single repeat shows no range."""
        main = _num(self.median, digits)
        if self.n < 2:
            return f"{main}{unit}"
        return f"{main}{unit} ({_num(self.low, digits)}-{_num(self.high, digits)})"

    def to_json(self) -> dict[str, float]:
        return {"median": self.median, "min": self.low, "max": self.high, "n": self.n}


def summarize(values: Sequence[float]) -> Summary:
    if not values:
        raise ValueError("summary of no values")
    return Summary(
        float(statistics.median(values)), float(min(values)), float(max(values)), len(values)
    )


def _num(value: float, digits: int) -> str:
    if math.isnan(value):
        return "n/a"
    return f"{value:,.{digits}f}"


def fmt_num(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else _num(value, digits)
