"""render_prometheus on a real database: the values, per queue and status, and the
text format around them (parsed back as a Prometheus server would)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import Connection

from tests.helpers import execute
from workcraft import db, metrics
from workcraft.config import DBConfig, Settings
from workcraft.core import Workcraft, new_task_id

_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})? (?P<value>\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)')
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(exposition: str) -> tuple[Samples, dict[str, str]]:
    """Samples and each family's TYPE; fails on anything the 0.0.4 format does not allow."""
    assert exposition.endswith("\n")
    samples: Samples = {}
    types: dict[str, str] = {}
    helped: set[str] = set()
    for line in exposition.splitlines():
        if line.startswith("# HELP "):
            helped.add(line.split(" ")[2])
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert name in helped, f"TYPE before HELP: {line}"
            types[name] = kind
            continue
        match = _SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name = match["name"]
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in types or family in types, f"sample before its TYPE: {line}"
        labels_text = match["labels"] or ""
        labels = _LABEL.findall(labels_text)
        rebuilt = ",".join(f'{k}="{v}"' for k, v in labels)
        assert rebuilt == labels_text, f"unparsable labels: {labels_text!r}"
        decoded = frozenset(
            (k, re.sub(r"\\\\|\\\"|\\n", lambda m: _UNESCAPE[m[0]], v)) for k, v in labels
        )
        key = (name, decoded)
        assert key not in samples, f"duplicate sample {line}"
        samples[key] = float(match["value"])
    return samples, types


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


@pytest.fixture
def conn(cfg: DBConfig) -> Iterator[Connection]:
    execute(cfg, "DELETE FROM queue_state", "DELETE FROM task_attempts")
    with db.connect(cfg) as connection:
        yield connection


def _task(cfg: DBConfig, queue: str, status: str, ran_us: int | None = None) -> None:
    times = ", NOW(6) - INTERVAL :us MICROSECOND, NOW(6)" if ran_us is not None else ", NULL, NULL"
    execute(
        cfg,
        "INSERT INTO bountyboard (id, task_name, queue, status, started_at, finished_at, run_at) "
        f"VALUES (:id, 't', :queue, :status{times}, NOW(6) - INTERVAL 10 SECOND)",
        params={"id": new_task_id(), "queue": queue, "status": status, "us": ran_us},
    )


def test_metrics_show_tasks_queues_peons_and_durations(cfg: DBConfig, conn: Connection) -> None:
    odd = 'we"ird\\queue\nname'  # rows written by hand may hold any text
    for status in ("PENDING", "PENDING", "RUNNING"):
        _task(cfg, "A", status)
    _task(cfg, "A", "SUCCESS", ran_us=3_000)  # 0.003 s
    _task(cfg, "A", "SUCCESS", ran_us=700_000)  # 0.7 s
    _task(cfg, "A", "FAILURE", ran_us=45_000_000)  # 45 s
    _task(cfg, odd, "SUCCESS", ran_us=20_000)
    Workcraft(db_config=cfg).pause_queue("paused-empty")
    execute(
        cfg,
        "INSERT INTO peon (id, status, last_heartbeat) VALUES "
        "('p1', 'IDLE', NOW(6)), ('p2', 'WORKING', NOW(6)), "
        "('p3', 'WORKING', NOW(6) - INTERVAL 1 HOUR), ('p4', 'OFFLINE', NOW(6))",
    )

    text = metrics.render_prometheus(conn, Settings(dead_peon_timeout=60))
    samples, types = parse(text)

    assert types == {
        "workcraft_tasks": "gauge",
        "workcraft_queue_oldest_pending_seconds": "gauge",
        "workcraft_queue_paused": "gauge",
        "workcraft_peons": "gauge",
        "workcraft_peons_alive": "gauge",
        "workcraft_task_duration_seconds": "histogram",
    }
    assert value(samples, "workcraft_tasks", queue="A", status="PENDING") == 2
    assert value(samples, "workcraft_tasks", queue="A", status="EXPIRED") == 0
    assert value(samples, "workcraft_tasks", queue=odd, status="SUCCESS") == 1
    assert value(samples, "workcraft_tasks", queue="paused-empty", status="PENDING") == 0
    assert 10 <= value(samples, "workcraft_queue_oldest_pending_seconds", queue="A") < 70
    assert value(samples, "workcraft_queue_oldest_pending_seconds", queue=odd) == 0
    assert value(samples, "workcraft_queue_paused", queue="paused-empty") == 1
    assert value(samples, "workcraft_queue_paused", queue="A") == 0
    peons = {s: value(samples, "workcraft_peons", status=s) for s in ("IDLE", "WORKING")}
    assert peons == {"IDLE": 1, "WORKING": 2}
    assert value(samples, "workcraft_peons", status="OFFLINE") == 1
    assert value(samples, "workcraft_peons_alive") == 2  # p3 is silent for an hour

    def bucket(queue: str, le: str) -> float:
        return value(samples, "workcraft_task_duration_seconds_bucket", queue=queue, le=le)

    assert [bucket("A", le) for le in ("0.005", "0.5", "1", "30", "60", "+Inf")] == [
        1,
        1,
        2,
        2,
        3,
        3,
    ]
    assert value(samples, "workcraft_task_duration_seconds_count", queue="A") == 3
    assert value(samples, "workcraft_task_duration_seconds_sum", queue="A") == pytest.approx(45.703)
    assert bucket(odd, "0.025") == 1
    # each queue's buckets rise to its count
    for queue in ("A", odd):
        les = sorted(
            (float(dict(labels)["le"]), v)
            for (name, labels), v in samples.items()
            if name == "workcraft_task_duration_seconds_bucket" and dict(labels)["queue"] == queue
        )
        counts = [v for _, v in les]
        assert counts == sorted(counts)
        assert les[-1] == (
            float("inf"),
            value(samples, "workcraft_task_duration_seconds_count", queue=queue),
        )
    assert 'queue="we\\"ird\\\\queue\\nname"' in text


def test_metrics_of_an_empty_database_are_well_formed(conn: Connection) -> None:
    samples, types = parse(metrics.render_prometheus(conn, Settings()))
    assert "workcraft_task_duration_seconds" in types
    assert value(samples, "workcraft_peons_alive") == 0
    assert not [k for k in samples if k[0] == "workcraft_tasks"]
