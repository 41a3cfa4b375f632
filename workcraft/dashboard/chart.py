"""The overview's throughput chart as SVG geometry, computed here, drawn by a template.

Server-side SVG needs no chart library, no script and no CDN, and works under the
strict Content-Security-Policy (colours come from classes in the stylesheet).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

__all__ = ["Bar", "Chart", "MinuteCounts", "build_chart"]

WIDTH = 720
HEIGHT = 180
PAD_LEFT = 44
PAD_RIGHT = 44
PAD_TOP = 12
PAD_BOTTOM = 24


@dataclass(frozen=True)
class MinuteCounts:
    minute: datetime
    succeeded: int
    failed: int


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    ok_y: float
    ok_height: float
    failed_y: float
    failed_height: float
    label: str  # tooltip text


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    plot_left: int
    plot_right: int
    plot_top: int
    plot_bottom: int
    bars: list[Bar]
    rate_points: str  # polyline points of the failure rate, 0-100 % on the right axis
    rate_dots: list[tuple[float, float]]  # the same points, drawn so a lone one shows
    y_max: int
    total_succeeded: int
    total_failed: int
    minutes: int
    first_label: str
    last_label: str

    @property
    def per_minute(self) -> float:
        return (self.total_succeeded + self.total_failed) / max(1, self.minutes)

    @property
    def failure_rate(self) -> float | None:
        done = self.total_succeeded + self.total_failed
        return self.total_failed / done if done else None

    @property
    def summary(self) -> str:
        rate = self.failure_rate
        shown = "no tasks finished" if rate is None else f"{rate * 100:.1f} % failed"
        return (
            f"last {self.minutes} min: {self.total_succeeded:,} succeeded, "
            f"{self.total_failed:,} failed ({shown})"
        )


def _nice_max(value: int) -> int:
    """The smallest 1, 2 or 5 times 10^k at or above ``value`` (at least 1)."""
    step = 1
    while True:
        for m in (1, 2, 5):
            if m * step >= value:
                return m * step
        step *= 10


def build_chart(points: Sequence[MinuteCounts]) -> Chart:
    """Stacked bars (succeeded under failed) per minute, and the failure rate as a line."""
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    bottom = PAD_TOP + plot_h
    n = max(1, len(points))
    y_max = _nice_max(max((p.succeeded + p.failed for p in points), default=0))
    slot = plot_w / n
    bars: list[Bar] = []
    dots: list[tuple[float, float]] = []
    for i, p in enumerate(points):
        x = PAD_LEFT + i * slot
        ok_h = plot_h * p.succeeded / y_max
        failed_h = plot_h * p.failed / y_max
        done = p.succeeded + p.failed
        label = f"{p.minute:%H:%M}: {p.succeeded:,} succeeded, {p.failed:,} failed"
        bars.append(
            Bar(
                x=round(x + slot * 0.1, 2),
                width=round(slot * 0.8, 2),
                ok_y=round(bottom - ok_h, 2),
                ok_height=round(ok_h, 2),
                failed_y=round(bottom - ok_h - failed_h, 2),
                failed_height=round(failed_h, 2),
                label=label,
            )
        )
        if done:
            dots.append((round(x + slot / 2, 2), round(bottom - plot_h * (p.failed / done), 2)))
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        plot_left=PAD_LEFT,
        plot_right=WIDTH - PAD_RIGHT,
        plot_top=PAD_TOP,
        plot_bottom=bottom,
        bars=bars,
        rate_points=" ".join(f"{x},{y}" for x, y in dots),
        rate_dots=dots,
        y_max=y_max,
        total_succeeded=sum(p.succeeded for p in points),
        total_failed=sum(p.failed for p in points),
        minutes=len(points),
        first_label=f"{points[0].minute:%H:%M}" if points else "",
        last_label=f"{points[-1].minute:%H:%M}" if points else "",
    )
