"""Wake-up hints: with polling slowed to a minute, only hints can make tasks run at once.

Each test sends work to a peon whose polls are 60 s apart, so a task that runs within
seconds was announced by a hint (after a send's commit, after a transactional
commit, at a delayed task's due time, or for the peon's own retry).
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from tests.helpers import execute, query, scalar, wait_for, wk_env
from tests.peons import PeonProcess
from workcraft import db
from workcraft.config import DBConfig, Settings
from workcraft.core import Workcraft
from workcraft.wakeup import split_address

SLOW_POLL = 60.0
PROMPT = 5.0  # far below SLOW_POLL, far above a hint's milliseconds


@pytest.fixture
def client(db_config: DBConfig) -> Workcraft:
    execute(db_config, "DELETE FROM bountyboard", "DELETE FROM peon")
    return Workcraft(db_config)


def _peon(
    cfg: DBConfig,
    settings: Settings,
    tmp_path: Path,
    worker_id: str,
    args: tuple[str, ...] = (),
    **changes: object,
) -> PeonProcess:
    slow = replace(settings, polling_interval=SLOW_POLL, fallback_polling_interval=SLOW_POLL)
    env = wk_env(cfg, replace(slow, **changes), tmp_path)  # type: ignore[arg-type]
    return PeonProcess(cfg, env, worker_id, tmp_path, workcraft_path="control_app.app", args=args)


@pytest.fixture
def hinted_peon(db_config: DBConfig, test_settings: Settings, tmp_path: Path):  # type: ignore[no-untyped-def]
    peon = _peon(db_config, test_settings, tmp_path, "hinted").start().wait_ready()
    # Its first claim (at start) has happened once it is IDLE; from now on it polls
    # once a minute.
    yield peon
    peon.kill()


def test_sends_run_at_once_though_the_peon_polls_once_a_minute(
    client: Workcraft, db_config: DBConfig, hinted_peon: PeonProcess
) -> None:
    row = query(db_config, "SELECT wake_addr, wake_token FROM peon WHERE id = 'hinted'")[0]
    assert row.wake_addr and len(row.wake_token) == 32
    started = time.monotonic()
    for i in range(5):
        task_id = client.send_task_sync("quick", [i])
        assert client.get_result_sync(task_id, timeout=PROMPT) == i, hinted_peon.log()
    ids = client.send_tasks_sync([{"task_name": "quick", "task_args": [i]} for i in range(20)])
    for i, task_id in enumerate(ids):
        assert client.get_result_sync(task_id, timeout=PROMPT) == i
    assert time.monotonic() - started < SLOW_POLL / 2


def test_delayed_tasks_and_retries_wake_the_peon_when_due(
    client: Workcraft, db_config: DBConfig, hinted_peon: PeonProcess
) -> None:
    sent = time.monotonic()
    task_id = client.send_task_sync("quick", [7], delay=1.0)
    assert client.get_result_sync(task_id, timeout=PROMPT + 1) == 7, hinted_peon.log()
    assert time.monotonic() - sent >= 0.9, "a delayed task must not run early"

    # Retry(after=0.2): the peon that wrote the retry wakes itself for it.
    retried = client.send_task_sync("asks_to_retry")
    assert client.get_result_sync(retried, timeout=PROMPT) == "second time lucky"


def test_transactional_sends_hint_after_the_callers_commit(
    client: Workcraft, db_config: DBConfig, hinted_peon: PeonProcess
) -> None:
    engine = create_engine(db.sqlalchemy_url(db_config))
    try:
        with Session(engine) as session, session.begin():
            in_session = client.send_task_sync("quick", [1], connection=session)
        # A Connection announces its commit just before it lands ("early"): the peon
        # looks again a moment later.
        with engine.begin() as conn:
            in_connection = client.send_task_sync("quick", [2], connection=conn)
        with engine.connect() as conn:
            rolled_back = client.send_task_sync("quick", [3], connection=conn)
            conn.rollback()
    finally:
        engine.dispose()
    assert client.get_result_sync(in_session, timeout=PROMPT) == 1, hinted_peon.log()
    assert client.get_result_sync(in_connection, timeout=PROMPT) == 2, hinted_peon.log()
    assert (
        scalar(db_config, "SELECT COUNT(*) FROM bountyboard WHERE id = :i", {"i": rolled_back}) == 0
    )


def _insert_unannounced(cfg: DBConfig) -> str:
    task_id = str(uuid.uuid4())
    execute(
        cfg,
        "INSERT INTO bountyboard (id, task_name, queue, payload) VALUES (:id, 'quick', "
        "'DEFAULT', :payload)",
        params={"id": task_id, "payload": json.dumps({"task_args": [5], "task_kwargs": {}})},
    )
    return task_id


def _datagram(cfg: DBConfig, token: str | None = None, task_id: str = "") -> None:
    row = query(cfg, "SELECT wake_addr, wake_token FROM peon WHERE id = 'hinted'")[0]
    host, port = split_address(row.wake_addr)
    flags = f"-={task_id}" if task_id else "-"
    message = f"wk1 {token or row.wake_token} {flags} 0 DEFAULT".encode()
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(message, (host, port))


def test_a_hint_without_the_peons_token_is_ignored(
    client: Workcraft, db_config: DBConfig, hinted_peon: PeonProcess
) -> None:
    # Ready is written just before the claim loop's first claim: let one hinted task
    # through first, so the loop is surely asleep on its one-minute poll.
    assert client.get_result_sync(client.send_task_sync("quick", [0]), timeout=PROMPT) == 0
    task_id = _insert_unannounced(db_config)
    _datagram(db_config, token="0" * 32)
    # Nothing may happen: watch for a second (a claim takes milliseconds).
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        status = client.status(task_id)
        assert status is not None and status.value == "PENDING", "a forged hint woke the peon"
        time.sleep(0.05)
    _datagram(db_config)
    assert client.get_result_sync(task_id, timeout=PROMPT) == 5, hinted_peon.log()


def test_a_hint_naming_its_task_claims_just_that_task(
    client: Workcraft, db_config: DBConfig, hinted_peon: PeonProcess
) -> None:
    assert client.get_result_sync(client.send_task_sync("quick", [0]), timeout=PROMPT) == 0
    other = _insert_unannounced(db_config)
    named = _insert_unannounced(db_config)
    _datagram(db_config, task_id=named)
    assert client.get_result_sync(named, timeout=PROMPT) == 5, hinted_peon.log()
    # A plain hint would have had the peon claim both; this one was claimed by its id,
    # and nothing woke the loop for the other (it waits for a poll, a minute away).
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        status = client.status(other)
        assert status is not None and status.value == "PENDING"
        time.sleep(0.05)
    _datagram(db_config)
    assert client.get_result_sync(other, timeout=PROMPT) == 5, hinted_peon.log()


def test_a_hinted_task_runs_in_the_thread_its_claim_came_back_to_while_another_listens(
    client: Workcraft, hinted_peon: PeonProcess, tmp_path: Path
) -> None:
    # The first task runs where its hint was read, without the hand-over to a slot
    # thread; it holds that thread until the flag file exists. Meanwhile the other
    # hint thread must still hear hints: a second task runs at once (polls are a
    # minute apart), handed to a slot thread, as its hint thread is the last one
    # listening.
    assert client.get_result_sync(client.send_task_sync("quick", [0]), timeout=PROMPT) == 0
    flag = tmp_path / "release"  # the client knows the peon now: its sends name their task
    first = client.send_task_sync("thread_name", [str(flag)])
    wait_for(lambda: str(client.status(first)) == "RUNNING", PROMPT, message=hinted_peon.log)
    second = client.send_task_sync("thread_name")
    assert str(client.get_result_sync(second, timeout=PROMPT)).startswith("task-")
    flag.touch()
    assert str(client.get_result_sync(first, timeout=PROMPT)).startswith("hints-")
    # And the thread is back to listening: the next one runs in a hint thread again.
    third = client.send_task_sync("thread_name")
    assert str(client.get_result_sync(third, timeout=PROMPT)).startswith("hints-")


def test_a_busy_peon_hinted_first_leaves_the_task_to_another_at_once(
    client: Workcraft, db_config: DBConfig, test_settings: Settings, tmp_path: Path
) -> None:
    # A send's early hint goes to one peon (taking turns); the others hear of the task,
    # by its id, after the commit. With one slot each and one peon busy, every other
    # send hints the busy one first: the other must still run each task at once.
    peons = [
        _peon(db_config, test_settings, tmp_path, name, args=("--concurrency=1",))
        for name in ("one-slot-a", "one-slot-b")
    ]
    try:
        for peon in peons:
            peon.start()
        for peon in peons:
            peon.wait_ready()
        assert client.get_result_sync(client.send_task_sync("quick", [0]), timeout=PROMPT) == 0
        flag = tmp_path / "release"
        blocker = client.send_task_sync("thread_name", [str(flag)])
        busy = wait_for(
            lambda: (t := client.get_task_sync(blocker)) and t.status == "RUNNING" and t.worker_id,
            PROMPT,
        )
        ran_on = set()
        for i in range(6):
            task_id = client.send_task_sync("quick", [i])
            assert client.get_result_sync(task_id, timeout=PROMPT) == i, peons[0].log()
            task = client.get_task_sync(task_id)
            assert task is not None
            ran_on.add(task.worker_id)
        assert ran_on == {"one-slot-a", "one-slot-b"} - {busy}
        flag.touch()
        assert client.get_result_sync(blocker, timeout=PROMPT)
    finally:
        for peon in peons:
            peon.kill()


def test_hints_off_leaves_polling_alone(
    client: Workcraft, db_config: DBConfig, test_settings: Settings, tmp_path: Path
) -> None:
    peon = _peon(
        db_config,
        test_settings,
        tmp_path,
        "polling",
        wake_hints=False,
        polling_interval=0.05,
    )
    try:
        peon.start().wait_ready()
        row = query(db_config, "SELECT wake_addr, wake_token FROM peon WHERE id = 'polling'")[0]
        assert row.wake_addr is None and row.wake_token is None
        task_id = _insert_unannounced(db_config)
        assert client.get_result_sync(task_id, timeout=PROMPT) == 5, peon.log()
    finally:
        peon.kill()


def test_a_bad_wake_address_stops_the_peon_naming_the_setting(
    db_config: DBConfig, test_settings: Settings, tmp_path: Path
) -> None:
    peon = _peon(db_config, test_settings, tmp_path, "bad-addr", wake_address="nowhere:notaport")
    peon.start()
    assert peon.wait(timeout=30) == 2, peon.log()
    assert "DB_PEON_WAKE_ADDRESS" in peon.log()
    wait_for(lambda: not peon.alive(), 5)
