"""What the templates show, built from the read model's answers (pure functions).

The read model (:mod:`workcraft.overview`) says what is in the database; this module
decides how it reads on a page: which peon needs attention, a queue's rates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from workcraft.dashboard.chart import MinuteCounts
from workcraft.overview import PeonView, QueueStats, ThroughputPoint

__all__ = [
    "PeonRow",
    "PeonSummary",
    "QueueRow",
    "late_after",
    "minute_counts",
    "peon_rows",
    "queue_rows",
    "summarize_peons",
]

# overview.PeonView.late: silent for more than this many heartbeat intervals.
LATE_AFTER_HEARTBEATS = 2


@dataclass(frozen=True)
class QueueRow:
    queue: str
    counts: dict[str, int]
    oldest_pending_age: float | None
    paused: bool
    per_minute: float
    failure_rate: float | None


@dataclass(frozen=True)
class PeonRow:
    id: str
    status: str
    # "ok"; "late" (missed heartbeats); "dead" (silent past the dead-peon timeout, not
    # yet declared OFFLINE by the database); "offline" (stopped, or declared dead)
    health: str
    host: str
    pid: int
    queues: list[str]
    concurrency: int
    pool: str
    current_task: str | None
    heartbeat_age: float
    started_at: datetime
    tasks_done: int


@dataclass(frozen=True)
class PeonSummary:
    alive: int
    late: int
    dead: int
    offline: int


def late_after(heartbeat_interval: float) -> float:
    return LATE_AFTER_HEARTBEATS * heartbeat_interval


def minute_counts(points: Sequence[ThroughputPoint]) -> list[MinuteCounts]:
    return [MinuteCounts(p.minute, p.succeeded, p.failed) for p in points]


def queue_rows(
    stats: Sequence[QueueStats], rates: dict[str, tuple[int, int]], minutes: int
) -> list[QueueRow]:
    """One row per queue; ``rates`` maps a queue to (succeeded, failed) over ``minutes``."""
    rows = []
    for s in stats:
        succeeded, failed = rates.get(s.queue, (0, 0))
        done = succeeded + failed
        rows.append(
            QueueRow(
                queue=s.queue,
                counts=s.counts,
                oldest_pending_age=s.oldest_pending_age,
                paused=s.paused,
                per_minute=done / max(1, minutes),
                failure_rate=failed / done if done else None,
            )
        )
    return rows


def health(peon: PeonView) -> str:
    if peon.status == "OFFLINE":
        return "offline"
    if not peon.alive:
        return "dead"
    return "late" if peon.late else "ok"


_ORDER = {"dead": 0, "late": 1, "ok": 2, "offline": 3}


def peon_rows(peons: Sequence[PeonView]) -> list[PeonRow]:
    """Trouble first (dead, late), then the working peons, the stopped ones last."""
    rows = [
        PeonRow(
            id=p.id,
            status=p.status,
            health=health(p),
            host=p.host,
            pid=p.pid,
            queues=p.queues,
            concurrency=p.concurrency,
            pool=p.pool,
            current_task=p.current_task,
            heartbeat_age=p.heartbeat_age,
            started_at=p.started_at,
            tasks_done=p.tasks_done,
        )
        for p in peons
    ]
    return sorted(rows, key=lambda r: (_ORDER[r.health], r.id))


def summarize_peons(rows: Sequence[PeonRow]) -> PeonSummary:
    def count(*states: str) -> int:
        return sum(1 for r in rows if r.health in states)

    return PeonSummary(
        alive=count("ok", "late"), late=count("late"), dead=count("dead"), offline=count("offline")
    )
