"""Periodic tasks on a real database: exactly one task per tick however many schedulers
run, misfire policies, syncing definitions from code, and UTC as the only clock.

Schedulers run here in-process (threads calling ``Scheduler.run``, or one round at a
time with ``fire_due``); tests/acceptance/test_schedule_peons.py runs real peons.
Nothing executes the tasks: a fired tick is a PENDING row in bountyboard.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from tests.helpers import closed_port, execute, query, scalar, wait_for
from workcraft import Workcraft, db, store
from workcraft.config import DBConfig, Settings
from workcraft.db import DatabaseError
from workcraft.schedule import Scheduler, fire_tick

TASK = "scheduled_job"


def _name() -> str:
    return f"wct-sched-{secrets.token_hex(4)}"


def _app(cfg: DBConfig, name: str, **declaration: Any) -> Workcraft:
    app = Workcraft(cfg)
    app.periodic(name, task=declaration.pop("task", TASK), **declaration)
    return app


def _scheduler(app: Workcraft, settings: Settings, owner: str = "wct-owner") -> Scheduler:
    assert app.db_config is not None
    return Scheduler(app.db_config, app, owner, settings)


def _row(cfg: DBConfig, name: str) -> Any:
    (row,) = query(cfg, "SELECT * FROM schedule WHERE name = :n", {"n": name})
    return row


def _ticks(cfg: DBConfig, name: str) -> list[Any]:
    return query(
        cfg, "SELECT * FROM schedule_tick WHERE schedule_name = :n ORDER BY tick_at", {"n": name}
    )


def _tasks(cfg: DBConfig, name: str) -> list[Any]:
    """The tasks fired for this schedule (its ticks name them)."""
    return query(
        cfg,
        "SELECT b.* FROM bountyboard b JOIN schedule_tick t ON t.task_id = b.id "
        "WHERE t.schedule_name = :n ORDER BY b.id",
        {"n": name},
    )


def _set_back(cfg: DBConfig, name: str, seconds: int) -> datetime:
    execute(
        cfg,
        "UPDATE schedule SET next_run_at = next_run_at - INTERVAL :s SECOND WHERE name = :n",
        params={"s": seconds, "n": name},
    )
    return _row(cfg, name).next_run_at  # type: ignore[no-any-return]


def _utc_now(cfg: DBConfig) -> datetime:
    return scalar(cfg, "SELECT UTC_TIMESTAMP(6)")  # type: ignore[no-any-return]


@pytest.fixture
def stop() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


# ------------------------------------------------------------------ exactly once


def test_three_schedulers_fire_each_tick_once(
    db_config: DBConfig, test_settings: Settings, stop: threading.Event
) -> None:
    name = _name()
    app = _app(db_config, name, every=1, task_args=[7])
    schedulers = [_scheduler(app, test_settings, f"wct-peon-{i}") for i in range(3)]
    # all three start at once, as peons restarted together would
    syncs = [threading.Thread(target=s.sync) for s in schedulers]
    for thread in syncs:
        thread.start()
    for thread in syncs:
        thread.join(timeout=30)
    assert scalar(db_config, "SELECT COUNT(*) FROM schedule WHERE name = :n", {"n": name}) == 1

    threads = [threading.Thread(target=s.run, args=(stop,), daemon=True) for s in schedulers]
    for thread in threads:
        thread.start()
    wait_for(
        lambda: len(_ticks(db_config, name)) >= 10,
        30,
        message=lambda: f"only {len(_ticks(db_config, name))} ticks fired",
    )
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
        assert not thread.is_alive()

    ticks = _ticks(db_config, name)
    tasks = query(db_config, "SELECT * FROM bountyboard WHERE task_name = :t", {"t": TASK})
    tasks = [t for t in tasks if t.id in {tick.task_id for tick in ticks}]
    # 10 (or a few more) ticks gave as many tasks: not three times as many
    assert len(ticks) >= 10
    assert len(tasks) == len(ticks)
    assert sorted(t.id for t in tasks) == sorted(tick.task_id for tick in ticks)
    assert all(tick.outcome in ("FIRED", "CAUGHT_UP") for tick in ticks)
    # ticks are whole seconds, each fired once
    assert all(tick.tick_at.microsecond == 0 for tick in ticks)
    assert len({tick.tick_at for tick in ticks}) == len(ticks)
    assert all(json.loads(t.payload)["task_args"] == [7] for t in tasks)
    assert {t.queue for t in tasks} == {"DEFAULT"}
    row = _row(db_config, name)
    assert row.last_task_id == ticks[-1].task_id
    assert row.last_run_at == ticks[-1].tick_at
    assert row.next_run_at > ticks[-1].tick_at


def _due_row(cfg: DBConfig, name: str) -> tuple[store.ScheduleRow, datetime]:
    with db.connect(cfg) as conn:
        return store.schedule_rows(conn, [name], lock=False)[name], store.utc_now(conn)


def test_a_tick_read_twice_fires_once(db_config: DBConfig, test_settings: Settings) -> None:
    """The primary key decides, not the row lock: two peons that both read the due row
    (as two Galera nodes could) fire one task between them."""
    name = _name()
    app = _app(db_config, name, every=3600)
    _scheduler(app, test_settings).sync()
    _set_back(db_config, name, 3600)
    row, now = _due_row(db_config, name)
    stale, _ = _due_row(db_config, name)

    with db.connect(db_config) as conn:
        first = fire_tick(conn, app, row, now, "wct-a")
    assert first is not None and first.task_id is not None
    with db.connect(db_config) as conn:
        assert fire_tick(conn, app, stale, now, "wct-b") is None
    assert [t.id for t in _tasks(db_config, name)] == [first.task_id]

    # without its tick row, the compare-and-set on next_run_at still refuses it
    execute(db_config, "DELETE FROM schedule_tick WHERE schedule_name = :n", params={"n": name})
    with db.connect(db_config) as conn:
        assert fire_tick(conn, app, stale, now, "wct-b") is None
    assert [t.id for t in _tasks(db_config, name)] == []  # its tick row is gone
    assert scalar(db_config, "SELECT COUNT(*) FROM bountyboard WHERE id = :i", {"i": first.task_id})
    assert _ticks(db_config, name) == []


def test_a_second_firer_waits_for_the_first_then_backs_off(
    db_config: DBConfig, test_settings: Settings
) -> None:
    name = _name()
    app = _app(db_config, name, every=3600)
    _scheduler(app, test_settings).sync()
    _set_back(db_config, name, 3600)
    row, now = _due_row(db_config, name)
    results: list[object] = []

    with db.connect(db_config) as first:
        fired = fire_tick(first, app, row, now, "wct-a")
        assert fired is not None

        def second() -> None:
            with db.connect(db_config) as conn:
                results.append(fire_tick(conn, app, row, now, "wct-b"))

        thread = threading.Thread(target=second)
        thread.start()
        # the second insert of the same tick waits on the first's uncommitted key
        wait_for(
            lambda: scalar(
                db_config,
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                "WHERE INFO LIKE 'INSERT INTO schedule_tick%wct-b%'",
            ),
            10,
            message="the second firer never tried to insert the tick",
        )
        assert results == []
        assert thread.is_alive()
    thread.join(timeout=30)  # the first committed when its block ended
    assert results == [None]
    assert [t.task_id for t in _ticks(db_config, name)] == [fired.task_id]
    assert len(_tasks(db_config, name)) == 1


def test_a_row_set_back_to_a_fired_tick_moves_on_without_a_second_task(
    db_config: DBConfig, test_settings: Settings
) -> None:
    name = _name()
    app = _app(db_config, name, every=3600)
    scheduler = _scheduler(app, test_settings)
    scheduler.sync()
    fired_tick = _set_back(db_config, name, 3600)
    scheduler.fire_due()
    assert len(_tasks(db_config, name)) == 1

    execute(
        db_config,
        "UPDATE schedule SET next_run_at = :t WHERE name = :n",
        params={"t": fired_tick, "n": name},
    )
    scheduler.fire_due()
    assert len(_tasks(db_config, name)) == 1
    assert _row(db_config, name).next_run_at > _utc_now(db_config)


# ----------------------------------------------------------------------- misfire


def test_an_on_time_tick_fires_and_moves_on(db_config: DBConfig, test_settings: Settings) -> None:
    name = _name()
    app = _app(db_config, name, every=3600, task_kwargs={"x": 1}, queue="wct-periodic")
    scheduler = _scheduler(app, test_settings)
    scheduler.sync()
    execute(
        db_config,
        "UPDATE schedule SET next_run_at = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND WHERE name = :n",
        params={"n": name},
    )
    scheduler.fire_due()
    (tick,) = _ticks(db_config, name)
    (task,) = _tasks(db_config, name)
    assert (tick.outcome, tick.task_id, tick.fired_by) == ("FIRED", task.id, "wct-owner")
    assert (task.task_name, task.queue, task.status) == (TASK, "wct-periodic", "PENDING")
    assert json.loads(task.payload) == {"task_args": [], "task_kwargs": {"x": 1}}
    assert _row(db_config, name).next_run_at > _utc_now(db_config)


def test_after_downtime_run_once_fires_one_task_for_the_missed_ticks(
    db_config: DBConfig, test_settings: Settings
) -> None:
    name = _name()
    app = _app(db_config, name, every=60)  # the default misfire is run_once
    scheduler = _scheduler(app, test_settings)
    scheduler.sync()
    missed_from = _set_back(db_config, name, 3600)  # an hour of ticks missed

    scheduler.fire_due()
    scheduler.fire_due()

    (tick,) = _ticks(db_config, name)
    (task,) = _tasks(db_config, name)
    assert (tick.outcome, tick.tick_at, tick.task_id) == ("CAUGHT_UP", missed_from, task.id)
    now = _utc_now(db_config)
    row = _row(db_config, name)
    assert now < row.next_run_at <= now + timedelta(seconds=60)
    assert row.last_task_id == task.id


def test_after_downtime_skip_fires_none(db_config: DBConfig, test_settings: Settings) -> None:
    name = _name()
    app = _app(db_config, name, every=60, misfire="skip")
    scheduler = _scheduler(app, test_settings)
    scheduler.sync()
    missed_from = _set_back(db_config, name, 3600)

    scheduler.fire_due()
    scheduler.fire_due()

    (tick,) = _ticks(db_config, name)
    assert (tick.outcome, tick.tick_at, tick.task_id) == ("SKIPPED", missed_from, None)
    assert _tasks(db_config, name) == []
    now = _utc_now(db_config)
    row = _row(db_config, name)
    assert now < row.next_run_at <= now + timedelta(seconds=60)
    assert row.last_task_id is None


def test_a_disabled_schedule_does_not_fire(db_config: DBConfig, test_settings: Settings) -> None:
    name = _name()
    app = _app(db_config, name, every=60, enabled=False)
    scheduler = _scheduler(app, test_settings)
    scheduler.sync()
    _set_back(db_config, name, 3600)
    scheduler.fire_due()
    assert _ticks(db_config, name) == []


# -------------------------------------------------------------------------- sync


def test_the_schedule_row_is_plain_sql(db_config: DBConfig, test_settings: Settings) -> None:
    name = _name()
    app = _app(
        db_config,
        name,
        cron="30 2 * * MON-FRI",
        timezone="Europe/Berlin",
        task_args=[1, "two"],
        task_kwargs={"three": 3.0},
        queue="reports",
        misfire="skip",
    )
    before = _utc_now(db_config)
    _scheduler(app, test_settings).sync()
    (row,) = query(
        db_config,
        "SELECT task_name, queue, cron, every_seconds, timezone, payload, misfire, enabled, "
        "next_run_at, last_run_at, last_task_id, LENGTH(definition_hash) AS hash_length "
        "FROM schedule WHERE name = :n",
        {"n": name},
    )
    assert (row.task_name, row.queue, row.cron, row.every_seconds, row.timezone) == (
        TASK,
        "reports",
        "30 2 * * MON-FRI",
        None,
        "Europe/Berlin",
    )
    assert json.loads(row.payload) == {"task_args": [1, "two"], "task_kwargs": {"three": 3.0}}
    assert (row.misfire, row.enabled, row.last_run_at, row.last_task_id) == ("skip", 1, None, None)
    assert row.hash_length == 64
    # the first tick: the next weekday 02:30 in Berlin, stored in UTC
    first = row.next_run_at.replace(tzinfo=UTC)
    assert before.replace(tzinfo=UTC) < first <= before.replace(tzinfo=UTC) + timedelta(days=4)
    berlin = first.astimezone(ZoneInfo("Europe/Berlin"))
    assert (berlin.hour, berlin.minute, berlin.isoweekday() <= 5) == (2, 30, True)


def test_sync_writes_changed_definitions_and_leaves_unchanged_rows_alone(
    db_config: DBConfig, test_settings: Settings
) -> None:
    name = _name()
    _scheduler(_app(db_config, name, every=60, task_args=[1]), test_settings).sync()
    first = _row(db_config, name)

    # unchanged code: the row is not touched, not even a hand-made pause
    execute(db_config, "UPDATE schedule SET enabled = 0 WHERE name = :n", params={"n": name})
    _scheduler(_app(db_config, name, every=60, task_args=[1]), test_settings).sync()
    assert _row(db_config, name).enabled == 0
    assert _row(db_config, name).updated_at == first.updated_at

    # new arguments: written; the timing did not change, so the next tick stays
    _scheduler(_app(db_config, name, every=60, task_args=[2]), test_settings).sync()
    second = _row(db_config, name)
    assert json.loads(second.payload)["task_args"] == [2]
    assert second.definition_hash != first.definition_hash
    assert second.next_run_at == first.next_run_at
    assert second.enabled == 1  # the code says enabled, and the code changed
    assert second.updated_at > first.updated_at

    # a new timing: the next tick is recomputed from it
    _scheduler(_app(db_config, name, cron="*/5 * * * *", task_args=[2]), test_settings).sync()
    third = _row(db_config, name)
    assert (third.cron, third.every_seconds) == ("*/5 * * * *", None)
    assert third.next_run_at.minute % 5 == 0 and third.next_run_at.second == 0
    assert third.next_run_at > _utc_now(db_config)


def test_sync_leaves_schedules_of_other_apps_alone(
    db_config: DBConfig, test_settings: Settings
) -> None:
    mine, theirs = _name(), _name()
    _scheduler(_app(db_config, theirs, every=60), test_settings).sync()
    before = _row(db_config, theirs)
    _scheduler(_app(db_config, mine, every=60), test_settings).sync()
    assert _row(db_config, theirs) == before


def test_an_app_without_schedules_never_touches_the_database(test_settings: Settings) -> None:
    cfg = DBConfig(host="127.0.0.1", port=closed_port(), password="x", database="nowhere")
    scheduler = Scheduler(cfg, Workcraft(cfg), "wct-owner", test_settings)
    scheduler.sync()
    scheduler.run(threading.Event())  # returns at once


def test_sync_without_the_schedule_table_says_to_run_setup(
    empty_database: DBConfig, test_settings: Settings
) -> None:
    app = _app(empty_database, _name(), every=60)
    # a database set up before 0004_schedule: the error says what to run
    with pytest.raises(DatabaseError, match="setup_database_tables"):
        _scheduler(app, test_settings).sync()


# ------------------------------------------------------------ clocks and errors


@pytest.mark.parametrize("session_zone", ["+09:00", "-09:00"])
def test_due_is_decided_in_utc_whatever_the_session_time_zone(
    db_config: DBConfig, test_settings: Settings, session_zone: str
) -> None:
    due, later = _name(), _name()
    for name in (due, later):
        _scheduler(_app(db_config, name, every=3600), test_settings).sync()
    execute(
        db_config,
        "UPDATE schedule SET next_run_at = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND WHERE name = :n",
        params={"n": due},
    )
    execute(
        db_config,
        "UPDATE schedule SET next_run_at = UTC_TIMESTAMP(6) + INTERVAL 30 MINUTE WHERE name = :n",
        params={"n": later},
    )
    with db.connect(db_config) as conn:
        conn.execute(text("SET SESSION time_zone = :z"), {"z": session_zone})
        waits = store.schedule_waits(conn, [due, later])
        assert waits[due] <= 0 < waits[later] <= 1800
        assert store.lock_due_schedule(conn, later) is None
        locked = store.lock_due_schedule(conn, due)
        assert locked is not None
        conn.rollback()
        conn.execute(text("SET SESSION time_zone = SYSTEM"))


def test_database_errors_never_end_the_scheduler_thread(
    test_settings: Settings, stop: threading.Event
) -> None:
    unreachable = DBConfig(
        host="127.0.0.1", port=closed_port(), user="x", password="x", database="nowhere"
    )
    app = _app(unreachable, _name(), every=1)
    scheduler = _scheduler(app, test_settings)
    thread = threading.Thread(target=scheduler.run, args=(stop,), daemon=True)
    thread.start()
    wait_for(lambda: scheduler._last_problem is not None, 30, message="no round failed")
    assert thread.is_alive()
    stop.set()
    thread.join(timeout=30)
    assert not thread.is_alive()
