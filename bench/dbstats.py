"""What a scenario cost the database, from SHOW GLOBAL STATUS deltas.

The bench's own statements (the snapshots, its polls for "done") hit the same
counters; :class:`Probe` counts them so that :func:`cost` can take them out again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pymysql

# The counters the report shows. Questions counts statements sent by clients (not
# those run inside stored programs, so the database's own events do not show up).
COUNTERS = (
    "Questions",
    "Com_select",
    "Com_insert",
    "Com_update",
    "Com_delete",
    "Com_commit",
    "Handler_read_first",
    "Handler_read_key",
    "Handler_read_last",
    "Handler_read_next",
    "Handler_read_prev",
    "Handler_read_rnd",
    "Handler_read_rnd_next",
    "Handler_commit",
    # durability and contention: MariaDB counts the redo log's fsyncs here too, one per
    # durable commit (or per group of commits that share one)
    "Innodb_data_fsyncs",
    "Innodb_row_lock_waits",
)
# MariaDB 10.11 has no Innodb_rows_read: rows read are the storage-engine reads
# (index lookups, index steps, table-scan steps).
ROW_READS = (
    "Handler_read_first",
    "Handler_read_key",
    "Handler_read_last",
    "Handler_read_next",
    "Handler_read_prev",
    "Handler_read_rnd",
    "Handler_read_rnd_next",
)


def rows_read(diff: Mapping[str, int | float]) -> float:
    return float(sum(diff.get(k, 0) for k in ROW_READS))


def parse_status(rows: list[tuple[Any, Any]]) -> dict[str, int]:
    """SHOW GLOBAL STATUS rows -> the numeric counters we keep."""
    out: dict[str, int] = {}
    for name, value in rows:
        if name in COUNTERS:
            try:
                out[str(name)] = int(value)
            except (TypeError, ValueError):
                continue
    return out


def delta(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    """after - before for every counter both snapshots have."""
    return {k: after[k] - before[k] for k in COUNTERS if k in before and k in after}


def subtract_own(
    diff: Mapping[str, int],
    own_selects: int,
    own_shows: int = 0,
    per_show: Mapping[str, int] | None = None,
) -> dict[str, int]:
    """Take the bench's own statements out of a delta.

    ``own_selects`` SELECTs each count one Question and one Com_select; each of
    ``own_shows`` SHOW GLOBAL STATUS costs ``per_show`` (one Question, and a scan of
    the status table that shows up in Handler_read_rnd_next).
    """
    out = dict(diff)
    for key, cost in dict(per_show or {"Questions": 1}).items():
        if key in out:
            out[key] = max(0, out[key] - cost * own_shows)
    if "Questions" in out:
        out["Questions"] = max(0, out["Questions"] - own_selects)
    if "Com_select" in out:
        out["Com_select"] = max(0, out["Com_select"] - own_selects)
    return out


def per_unit(diff: Mapping[str, int], units: float) -> dict[str, float]:
    """Every counter divided by ``units`` (tasks, seconds, claims)."""
    if units <= 0:
        return {k: float("nan") for k in diff}
    return {k: v / units for k, v in diff.items()}


@dataclass
class Probe:
    """A connection of the bench's own that snapshots the counters and polls.

    ``selects`` and ``shows`` count the statements it sent, so a delta can be
    corrected for them.
    """

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    database: str
    selects: int = 0
    shows: int = 0
    # what one SHOW GLOBAL STATUS adds to the counters, measured on first use
    per_show: dict[str, int] | None = None
    _conn: pymysql.Connection | None = field(default=None, repr=False)

    def conn(self) -> pymysql.Connection:
        if self._conn is None or not self._conn.open:
            self._conn = pymysql.connect(
                host=self.host,
                port=self.port,
                user=self.user,
                password=self.password,
                database=self.database,
                autocommit=True,
            )
        return self._conn

    def _show(self) -> dict[str, int]:
        with self.conn().cursor() as cur:
            cur.execute("SHOW GLOBAL STATUS")
            rows = list(cur.fetchall())
        self.shows += 1
        return parse_status(rows)

    def snapshot(self) -> dict[str, int]:
        if self.per_show is None:
            # two back to back: the difference is one SHOW's own cost (the server is
            # private, but other clients may still run: keep the smallest of three)
            costs = []
            for _ in range(3):
                a, b = self._show(), self._show()
                costs.append(delta(a, b))
            self.per_show = {k: min(c.get(k, 0) for c in costs) for k in COUNTERS}
        return self._show()

    def query(self, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
        """A read of the bench's own, counted as one SELECT."""
        with self.conn().cursor() as cur:
            cur.execute(sql, args)
            rows = list(cur.fetchall())
        self.selects += 1
        return rows

    def execute(self, sql: str, args: Any = None) -> int:
        """Setup/teardown statements (not counted: never inside a measured window)."""
        with self.conn().cursor() as cur:
            return int(cur.execute(sql, args))

    def counted(self) -> tuple[int, int]:
        return self.selects, self.shows

    def close(self) -> None:
        if self._conn is not None and self._conn.open:
            self._conn.close()
        self._conn = None


@dataclass
class Window:
    """A measured window: counters before and after, minus the probe's own statements."""

    probe: Probe
    before: dict[str, int] = field(default_factory=dict)
    _marks: tuple[int, int] = (0, 0)

    def __enter__(self) -> Window:
        self.before = self.probe.snapshot()
        # the snapshot above was counted at its start, so it is not inside the window
        self._marks = self.probe.counted()
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def close(self) -> dict[str, int]:
        selects0, shows0 = self._marks
        after = self.probe.snapshot()
        selects1, shows1 = self.probe.counted()
        # the closing SHOW is counted by the server in the "after" snapshot
        diff = subtract_own(
            delta(self.before, after), selects1 - selects0, shows1 - shows0, self.probe.per_show
        )
        diff["rows_read"] = int(rows_read(diff))
        return diff
