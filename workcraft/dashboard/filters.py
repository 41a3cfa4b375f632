"""The task list's query string, checked: every wrong value is a 400 that says why.

Times are read as the database stores them (its own clock, no zone), the same
times the pages show, so a range typed from what is on screen means what it says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from workcraft.dashboard.problems import BadRequest
from workcraft.models import TaskStatus

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "TaskQuery", "parse_task_id", "parse_task_query"]

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_TEXT = 255
MAX_ID = 64
_KNOWN = frozenset({"queue", "status", "name", "since", "until", "after", "limit", "partial"})
_STATUSES = ", ".join(s.value for s in TaskStatus)


@dataclass(frozen=True)
class TaskQuery:
    queue: str | None = None
    status: TaskStatus | None = None
    name: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after: str | None = None  # the opaque keyset cursor of the page before
    limit: int = DEFAULT_LIMIT

    @property
    def filtered(self) -> bool:
        return any(v is not None for v in (self.queue, self.status, self.name))

    def query_string(self, *, after: str | None = None) -> str:
        """This filter as a query string, on the page after ``after`` (None: the first)."""
        values: dict[str, str] = {}
        if self.queue is not None:
            values["queue"] = self.queue
        if self.status is not None:
            values["status"] = self.status.value
        if self.name is not None:
            values["name"] = self.name
        if self.since is not None:
            values["since"] = self.since.isoformat(timespec="seconds")
        if self.until is not None:
            values["until"] = self.until.isoformat(timespec="seconds")
        if self.limit != DEFAULT_LIMIT:
            values["limit"] = str(self.limit)
        if after is not None:
            values["after"] = after
        return urlencode(values)


def _text(params: Mapping[str, str], key: str, label: str) -> str | None:
    value = params.get(key, "")
    if value.strip() == "":
        return None
    if len(value) > MAX_TEXT:
        raise BadRequest(f"{label} is {len(value)} characters long; names have at most {MAX_TEXT}")
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in value):
        raise BadRequest(f"{label} contains control characters; no task or queue name has any")
    return value


def _time(params: Mapping[str, str], key: str) -> datetime | None:
    value = params.get(key, "").strip()
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadRequest(
            f"{key}={value!r} is not a time: write it as 2026-01-31, 2026-01-31T14:30 "
            "or 2026-01-31 14:30:00"
        ) from None
    if parsed.tzinfo is not None:
        raise BadRequest(
            f"{key}={value!r} has a time zone: give the time without one, in the "
            "database's clock, as the pages show it"
        )
    return parsed


def _status(params: Mapping[str, str]) -> TaskStatus | None:
    value = params.get("status", "").strip()
    if not value:
        return None
    try:
        return TaskStatus(value.upper())
    except ValueError:
        raise BadRequest(f"status={value!r} is not a task status: use one of {_STATUSES}") from None


def _limit(params: Mapping[str, str]) -> int:
    value = params.get("limit", "").strip()
    if not value:
        return DEFAULT_LIMIT
    if not value.isdigit() or not 1 <= int(value) <= MAX_LIMIT:
        raise BadRequest(f"limit={value!r}: give a whole number of rows from 1 to {MAX_LIMIT}")
    return int(value)


def parse_task_query(params: Mapping[str, str]) -> TaskQuery:
    unknown = sorted(k for k in params if k not in _KNOWN and k != "id")
    if unknown:
        raise BadRequest(
            f"unknown filter {', '.join(repr(k) for k in unknown)}: the task list filters by "
            "queue, status, name, since, until (and pages with after, limit)"
        )
    since, until = _time(params, "since"), _time(params, "until")
    if since is not None and until is not None and since > until:
        raise BadRequest(
            f"since ({since.isoformat(sep=' ')}) is after until ({until.isoformat(sep=' ')}): "
            "swap them"
        )
    after = params.get("after", "").strip() or None
    if after is not None and len(after) > 512:
        raise BadRequest("after= is not a page cursor from this dashboard: start from page one")
    return TaskQuery(
        queue=_text(params, "queue", "queue"),
        status=_status(params),
        name=_text(params, "name", "task name"),
        since=since,
        until=until,
        after=after,
        limit=_limit(params),
    )


def parse_task_id(value: str) -> str:
    """A task id typed into the search box: trimmed, printable, of a sane length."""
    task_id = value.strip()
    if not task_id:
        raise BadRequest("the task id is empty: paste an id such as 0190f0a6-…")
    if len(task_id) > MAX_ID or not task_id.isprintable():
        raise BadRequest(
            f"{task_id[:80]!r} is not a task id: ids are 36 characters like "
            "0190f0a6-7c1e-7d3a-8b2c-4f5e6a7b8c9d"
        )
    return task_id
