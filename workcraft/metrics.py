"""Prometheus metrics, in the text exposition format 0.0.4.

``render_prometheus(conn, settings)`` returns the body of a scrape; serve it with
:data:`CONTENT_TYPE` (the dashboard does at ``/metrics``), or write it to a file for
node_exporter's textfile collector (``python -m workcraft metrics``).

What a scrape costs: five statements. The counts by queue and status read the
covering index (status, queue, id) once, about a tenth of a second per million rows
kept (history retention bounds it); everything else reads small ranges: the PENDING
part of the claim index, the paused queues, the peon table, and the
(status, finished_at) range of the last ``window_minutes``. A 15-second scrape
interval is cheap for the database unless the table keeps tens of millions of rows.

``workcraft_task_duration_seconds`` describes the tasks that finished within the
window, not all since some start: read it directly
(``histogram_quantile(0.95, workcraft_task_duration_seconds_bucket)``); ``rate()``
would read its falls as counter resets.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from workcraft import overview
from workcraft.config import Settings
from workcraft.link import Link
from workcraft.models import PeonStatus, TaskStatus

__all__ = ["CONTENT_TYPE", "escape_label_value", "format_value", "render_prometheus"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DEFAULT_WINDOW_MINUTES = 5.0


def render_prometheus(
    conn: Link, settings: Settings, *, window_minutes: float = DEFAULT_WINDOW_MINUTES
) -> str:
    """The metrics as one text exposition (ends with a newline)."""
    stats = overview.queue_stats(conn)
    peon_views = overview.peons(conn, settings)
    histograms = overview.duration_histograms(conn, window_minutes)
    out: list[str] = []

    _family(out, "workcraft_tasks", "gauge", "Tasks in the bountyboard table by queue and status.")
    for q in stats:
        for status in TaskStatus:
            out.append(
                _sample("workcraft_tasks", {"queue": q.queue, "status": status}, q.counts[status])
            )

    _family(
        out,
        "workcraft_queue_oldest_pending_seconds",
        "gauge",
        "Seconds the oldest due PENDING task of the queue has waited (0 when none waits).",
    )
    for q in stats:
        age = q.oldest_pending_age or 0.0
        out.append(_sample("workcraft_queue_oldest_pending_seconds", {"queue": q.queue}, age))

    _family(out, "workcraft_queue_paused", "gauge", "1 when the queue is paused, else 0.")
    for q in stats:
        out.append(_sample("workcraft_queue_paused", {"queue": q.queue}, int(q.paused)))

    _family(out, "workcraft_peons", "gauge", "Peon rows by status (OFFLINE rows are kept a week).")
    for peon_status in PeonStatus:
        n = sum(1 for p in peon_views if p.status == peon_status)
        out.append(_sample("workcraft_peons", {"status": peon_status}, n))

    _family(
        out,
        "workcraft_peons_alive",
        "gauge",
        "Peons not OFFLINE whose heartbeat is within the dead-peon timeout.",
    )
    out.append(_sample("workcraft_peons_alive", {}, sum(1 for p in peon_views if p.alive)))

    _family(
        out,
        "workcraft_task_duration_seconds",
        "histogram",
        f"Run time of tasks that finished SUCCESS or FAILURE in the last {window_minutes:g} "
        "minutes, by queue (a window, not a running total: do not rate() it).",
    )
    for h in histograms:
        _histogram(out, "workcraft_task_duration_seconds", {"queue": h.queue}, h)
    return "\n".join(out) + "\n"


def _family(out: list[str], name: str, kind: str, help_text: str) -> None:
    out.append(f"# HELP {name} {_escape_help(help_text)}")
    out.append(f"# TYPE {name} {kind}")


def _histogram(
    out: list[str], name: str, labels: dict[str, str], h: overview.DurationHistogram
) -> None:
    for bound, n in zip(h.bounds, h.cumulative, strict=True):
        out.append(_sample(f"{name}_bucket", {**labels, "le": format_value(bound)}, n))
    out.append(_sample(f"{name}_bucket", {**labels, "le": "+Inf"}, h.count))
    out.append(_sample(f"{name}_sum", labels, h.sum))
    out.append(_sample(f"{name}_count", labels, h.count))


def _sample(name: str, labels: dict[str, str], value: float) -> str:
    return f"{name}{_labels(labels.items())} {format_value(value)}"


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    inner = ",".join(f'{k}="{escape_label_value(str(v))}"' for k, v in pairs)
    return f"{{{inner}}}" if inner else ""


def escape_label_value(value: str) -> str:
    """A label value as the 0.0.4 format writes it: backslash, double quote and line
    feed escaped (queue names are any text, quotes included)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    """A sample value: whole numbers without a fraction, +Inf, -Inf, NaN as the format
    spells them."""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)
