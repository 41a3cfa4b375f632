"""How the CLI shows the read model: aligned tables, colour on terminals, JSON.

Colour only when the output is a terminal and NO_COLOR is unset or empty
(https://no-color.org). ``--json`` output is one JSON document; datetimes are ISO 8601
(naive ones are the database's clock, as stored).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any, TextIO

from workcraft.overview import (
    STATUSES,
    PeonView,
    QueueStats,
    ScheduleView,
    TaskDetail,
    TaskPage,
)
from workcraft.tables import format_table

__all__ = [
    "Painter",
    "peon_table",
    "queue_table",
    "schedule_table",
    "task_table",
    "task_text",
    "to_json",
    "use_colour",
]

_RESET = "\033[0m"
_COLOURS = {
    "PENDING": "\033[33m",  # yellow
    "RUNNING": "\033[36m",  # cyan
    "SUCCESS": "\033[32m",  # green
    "FAILURE": "\033[31m",  # red
    "INVALID": "\033[31m",
    "CANCELLED": "\033[2m",  # dim
    "EXPIRED": "\033[2m",
    "IDLE": "\033[32m",
    "WORKING": "\033[36m",
    "PREPARING": "\033[33m",
    "OFFLINE": "\033[2m",
    "paused": "\033[1;33m",  # bold yellow
    "dead": "\033[31m",
    "late": "\033[33m",
    "bold": "\033[1m",
}


def use_colour(stream: TextIO) -> bool:
    return stream.isatty() and not os.environ.get("NO_COLOR")


class Painter:
    """Wraps words in ANSI colours, or leaves them alone when colour is off."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, key: str | None = None) -> str:
        code = _COLOURS.get(key if key is not None else text)
        return f"{code}{text}{_RESET}" if self.enabled and code and text else text


def to_json(value: Any) -> str:
    return json.dumps(_plain(value), indent=2, ensure_ascii=False)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, Enum):
        return value.value
    return value


def _styled(
    painter: Painter, columns: dict[int, Callable[[str], str | None]]
) -> Callable[[int, str], str]:
    """A format_table style: ``columns`` maps a column to the colour key of a cell's text
    (None: plain)."""

    def style(column: int, text: str) -> str:
        pick = columns.get(column)
        key = pick(text) if pick else None
        return painter(text, key) if key else text

    return style


def _age(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{seconds / 60:.1f}m"
    if seconds < 86_400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86_400:.1f}d"


def _time(value: datetime | None) -> str:
    return "" if value is None else value.isoformat(sep=" ", timespec="seconds")


def queue_table(stats: Sequence[QueueStats], painter: Painter) -> str:
    if not stats:
        return "no tasks yet, and no paused queues"
    paused = any(q.paused for q in stats)
    headers = ["queue", *STATUSES, "total", "oldest pending", *(["state"] if paused else [])]
    rows = [
        [
            q.queue,
            *(q.counts[s] or "" for s in STATUSES),
            q.total,
            _age(q.oldest_pending_age),
            *(["paused" if q.paused else ""] if paused else []),
        ]
        for q in stats
    ]
    return format_table(headers, rows, style=_styled(painter, {len(headers) - 1: _itself}))


def _itself(text: str) -> str:
    return text


def task_table(page: TaskPage, painter: Painter) -> str:
    if not page.rows:
        return "no tasks match"
    headers = ["id", "task", "queue", "status", "created", "took", "try", "worker", "error"]
    rows = [
        [
            t.id,
            t.task_name,
            t.queue,
            t.status,
            _time(t.created_at),
            _age((t.finished_at - t.started_at).total_seconds())
            if t.started_at and t.finished_at
            else "",
            t.attempt,
            t.worker_id,
            _clip(t.error_line, 60),
        ]
        for t in page.rows
    ]
    text = format_table(headers, rows, style=_styled(painter, {3: _itself}))
    if page.next_cursor:
        text += f"\nmore: --cursor={page.next_cursor}"
    return text


def _clip(text: str | None, width: int) -> str:
    if not text:
        return ""
    return text if len(text) <= width else text[: width - 1] + "…"


def task_text(task: TaskDetail, painter: Painter) -> str:
    fields: list[tuple[str, object]] = [
        ("id", task.id),
        ("task", task.task_name),
        ("status", painter(task.status)),
        ("queue", task.queue),
        ("priority", task.priority),
        ("args", json.dumps(task.args, ensure_ascii=False)),
        ("kwargs", json.dumps(task.kwargs, ensure_ascii=False)),
    ]
    if task.payload_error:
        fields.append(("payload", f"unreadable: {task.payload_error}"))
    if task.status == "SUCCESS":
        fields.append(("result", json.dumps(task.result, ensure_ascii=False)))
    fields += [
        ("created", _time(task.created_at)),
        ("due", _time(task.run_at)),
        ("started", _time(task.started_at)),
        ("finished", _time(task.finished_at)),
        ("waited", _age(task.wait)),
        ("ran", _age(task.duration)),
        ("worker", task.worker_id or ""),
        ("attempt", task.attempt),
        (
            "retries",
            f"{task.retry_count} of {task.retry_limit}"
            + ("" if task.retry_on_failure else " (retry_on_failure off)")
            + (", stopped" if task.retry_stopped else ""),
        ),
        ("requeued", f"{task.requeue_count} (its peon died)" if task.requeue_count else ""),
        ("expires", _time(task.expires_at)),
        ("timeout", f"{task.timeout_seconds:g}s" if task.timeout_seconds else ""),
        ("unique key", task.unique_key or ""),
        ("cancel", "requested" if task.cancel_requested else ""),
    ]
    shown = [(k, v) for k, v in fields if v != ""]
    width = max(len(k) for k, _ in shown)
    lines = [f"{k.ljust(width)}  {v}" for k, v in shown]
    if task.attempts:
        lines += ["", painter("attempts", "bold")]
        lines.append(
            format_table(
                ["#", "outcome", "worker", "finished", "error"],
                [
                    [
                        a.attempt,
                        a.outcome,
                        a.worker_id,
                        _time(a.finished_at),
                        _clip(_last(a.error), 70),
                    ]
                    for a in task.attempts
                ],
                style=_styled(painter, {1: _itself}),
            )
        )
    if task.error:
        lines += ["", painter("error (latest)", "bold"), task.error.rstrip()]
    return "\n".join(lines)


def _last(error: str | None) -> str:
    lines = [line.strip() for line in (error or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""


def peon_table(views: Sequence[PeonView], painter: Painter) -> str:
    if not views:
        return "no peons have registered"
    headers = ["id", "host", "pid", "status", "health", "heartbeat", "queues", "slots", "done"]
    headers += ["current task", "version", "started"]
    rows = [
        [
            p.id,
            p.host,
            p.pid,
            p.status,
            ("late" if p.late else "ok") if p.alive else "dead" if p.status != "OFFLINE" else "",
            _age(p.heartbeat_age) + " ago",
            ",".join(p.queues),
            f"{p.concurrency} {p.pool}",
            p.tasks_done,
            p.current_task,
            p.version,
            _time(p.started_at),
        ]
        for p in views
    ]
    return format_table(headers, rows, style=_styled(painter, {3: _itself, 4: _itself}))


def schedule_table(views: Sequence[ScheduleView], painter: Painter) -> str:
    if not views:
        return "no schedules"
    headers = ["name", "task", "queue", "when", "tz", "next run (UTC)", "in", "last tick"]
    rows = [
        [
            s.name,
            s.task_name,
            s.queue,
            s.spec,
            s.timezone,
            _time(s.next_run_at.replace(tzinfo=None)),
            "disabled" if not s.enabled else _age(s.due_in) if s.due_in > 0 else "due",
            " ".join(
                x
                for x in (
                    s.last_outcome,
                    _time(s.last_fired_at.replace(tzinfo=None)) if s.last_fired_at else None,
                )
                if x
            ),
        ]
        for s in views
    ]
    return format_table(
        headers, rows, style=_styled(painter, {6: lambda t: "dead" if t == "disabled" else None})
    )
