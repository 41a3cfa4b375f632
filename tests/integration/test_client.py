"""The app-side API (send, read, wait, list) against a real database, in-process.

No peon runs here: rows are moved between statuses by hand, so every assertion is
about what the client writes and how it reads what it finds. The database's own
maintenance events are disabled for this module's database so that nothing moves a
row behind a test's back.
"""

from __future__ import annotations

import functools
import itertools
import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import text

from tests.helpers import closed_port, execute, query, scalar, wait_for
from workcraft import core, db, store
from workcraft.config import DBConfig
from workcraft.core import Workcraft, new_task_id
from workcraft.errors import ResultTimeout, TaskFailed, WorkcraftError
from workcraft.models import Task, TaskStatus

# ------------------------------------------------------------------- fixtures


@pytest.fixture
def app() -> Workcraft:
    app = Workcraft()

    @app.task("simple_task")
    def simple_task(a: int, b: int, c: int) -> int:
        return a + b + c

    return app


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> DBConfig:
    """A DBConfig nobody answers at; any attempt to reach it fails at once.

    ``send_task_sync`` retries connection errors for 30 s; here it gives up after the
    first, so a call that wrongly touches the database fails fast with DatabaseError
    instead of the input error the test expects.
    """
    monkeypatch.setattr(core, "retry_transient", functools.partial(db.retry_transient, deadline=0))
    return DBConfig(
        host="127.0.0.1", port=closed_port(), user="nobody", password="x", database="wct_none"
    )


def _row(cfg: DBConfig, task_id: str) -> dict[str, Any]:
    rows = query(cfg, "SELECT * FROM bountyboard WHERE id = :id", {"id": task_id})
    assert len(rows) == 1, f"expected one row for {task_id}, found {len(rows)}"
    return dict(rows[0]._mapping)


def _db_now(cfg: DBConfig) -> datetime:
    value = scalar(cfg, "SELECT NOW(6)")
    assert isinstance(value, datetime)
    return value


def _set(cfg: DBConfig, task_id: str, **columns: Any) -> None:
    assignments = ", ".join(f"{name} = :{name}" for name in columns)
    changed = execute(
        cfg,
        f"UPDATE bountyboard SET {assignments} WHERE id = :id",
        params={**columns, "id": task_id},
    )
    assert changed == 1


def _uuid7_millis(task_id: str) -> int:
    return uuid.UUID(task_id).int >> 80


# ------------------------------------------------------------------- sending


def test_send_task_sync_as_the_seed_readme_calls_it(cfg: DBConfig, app: Workcraft) -> None:
    task_id = app.send_task_sync(
        "simple_task", [11, 22], task_kwargs={"c": 33}, retry_on_failure=True, db_config=cfg
    )
    assert isinstance(task_id, str)
    row = _row(cfg, task_id)
    assert row["status"] == "PENDING"
    assert row["queue"] == "DEFAULT"
    assert row["task_name"] == "simple_task"
    assert json.loads(row["payload"]) == {"task_args": [11, 22], "task_kwargs": {"c": 33}}
    assert row["retry_on_failure"] == 1
    assert row["retry_limit"] == 3
    assert row["retry_count"] == 0
    assert row["attempt"] == 0
    assert row["priority"] == 0
    assert row["worker_id"] is None
    assert row["result"] is None
    assert row["error"] is None
    assert row["started_at"] is None


def test_send_defaults_without_retry(cfg: DBConfig, app: Workcraft) -> None:
    task_id = app.send_task_sync("simple_task", [1, 2, 3], db_config=cfg)
    row = _row(cfg, task_id)
    assert row["retry_on_failure"] == 0
    assert json.loads(row["payload"]) == {"task_args": [1, 2, 3], "task_kwargs": {}}


def test_ids_are_uuid7_stamped_with_the_time_of_sending(cfg: DBConfig, app: Workcraft) -> None:
    before = time.time_ns() // 1_000_000
    ids = [app.send_task_sync("simple_task", [i, 0, 0], db_config=cfg) for i in range(20)]
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == 20
    for task_id in ids:
        parsed = uuid.UUID(task_id)
        assert str(parsed) == task_id  # canonical lowercase 36-char form
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122
        assert before <= _uuid7_millis(task_id) <= after
    stamps = [_uuid7_millis(i) for i in ids]
    assert stamps == sorted(stamps)
    # ids that differ in their millisecond sort in the order they were made
    assert all(a < b for a, b in itertools.pairwise(ids) if a[:13] != b[:13])


def test_new_task_id_is_monotonic_within_a_millisecond() -> None:
    ids = [new_task_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)


def test_db_config_from_the_constructor(cfg: DBConfig) -> None:
    app = Workcraft(db_config=cfg)
    task_id = app.send_task_sync("anything", [1], task_kwargs={"k": "v"})
    task = app.get_task_sync(task_id)
    assert task is not None
    assert (task.args, task.kwargs) == ([1], {"k": "v"})
    assert app.status(task_id) == TaskStatus.PENDING


def test_db_config_from_configure(cfg: DBConfig, offline: DBConfig) -> None:
    app = Workcraft()
    app.configure(cfg)
    task_id = app.send_task_sync("anything", [2])
    assert _row(cfg, task_id)["task_name"] == "anything"
    assert app.pending()[0].id == task_id
    # an explicit db_config still wins over the configured one
    app.configure(offline)
    task = app.get_task_sync(task_id, db_config=cfg)
    assert task is not None and task.args == [2]
    with pytest.raises(db.DatabaseError):
        app.get_task_sync(task_id)


def test_priority_is_stored(cfg: DBConfig, app: Workcraft) -> None:
    high = app.send_task_sync("t", priority=7, db_config=cfg)
    low = app.send_task_sync("t", priority=-3, db_config=cfg)
    top = app.send_task_sync("t", priority=2**31 - 1, db_config=cfg)
    assert _row(cfg, high)["priority"] == 7
    assert _row(cfg, low)["priority"] == -3
    assert _row(cfg, top)["priority"] == 2**31 - 1


def test_smallest_int_priority_is_accepted(cfg: DBConfig, app: Workcraft) -> None:
    task_id = app.send_task_sync("t", priority=-(2**31), db_config=cfg)
    assert _row(cfg, task_id)["priority"] == -(2**31)


def test_without_delay_run_at_is_now_on_the_database_clock(cfg: DBConfig, app: Workcraft) -> None:
    before = _db_now(cfg)
    row = _row(cfg, app.send_task_sync("t", db_config=cfg))
    after = _db_now(cfg)
    assert before <= row["run_at"] <= after
    assert row["run_at"] == row["created_at"]


@pytest.mark.parametrize("delay", [60, 60.0, timedelta(seconds=60)])
def test_delay_sets_run_at_on_the_database_clock(
    cfg: DBConfig, app: Workcraft, delay: float | timedelta
) -> None:
    before = _db_now(cfg)
    task_id = app.send_task_sync("t", delay=delay, db_config=cfg)
    after = _db_now(cfg)
    row = _row(cfg, task_id)
    assert before + timedelta(seconds=60) <= row["run_at"] <= after + timedelta(seconds=60)
    assert row["created_at"] <= after


def test_fractional_delay_keeps_microseconds(cfg: DBConfig, app: Workcraft) -> None:
    task_id = app.send_task_sync("t", delay=0.25, db_config=cfg)
    row = _row(cfg, task_id)
    assert row["run_at"] - row["created_at"] == timedelta(microseconds=250_000)


@pytest.mark.parametrize("tz", [UTC, timezone(timedelta(hours=9)), timezone(timedelta(hours=-7))])
def test_aware_run_at_is_honoured_in_any_timezone(
    cfg: DBConfig, app: Workcraft, tz: timezone
) -> None:
    before = _db_now(cfg)
    run_at = (datetime.now(UTC) + timedelta(hours=1)).astimezone(tz)
    task_id = app.send_task_sync("t", run_at=run_at, db_config=cfg)
    after = _db_now(cfg)
    got = _row(cfg, task_id)["run_at"]
    # the host and the database share a clock here; allow a little drift all the same
    slack = timedelta(seconds=2)
    assert before + timedelta(hours=1) - slack <= got <= after + timedelta(hours=1) + slack


def test_run_at_in_the_past_means_now(cfg: DBConfig, app: Workcraft) -> None:
    before = _db_now(cfg)
    task_id = app.send_task_sync("t", run_at=datetime.now(UTC) - timedelta(days=1), db_config=cfg)
    after = _db_now(cfg)
    assert before <= _row(cfg, task_id)["run_at"] <= after


# ---------------------------------------------------------- input checking


def test_offline_fixture_really_fails_when_the_database_is_touched(
    app: Workcraft, offline: DBConfig
) -> None:
    # the control for every test below: valid input does reach for the database
    with pytest.raises(db.DatabaseError, match="cannot reach the database"):
        app.send_task_sync("simple_task", [1, 2], task_kwargs={"c": 3}, db_config=offline)


@pytest.mark.parametrize(
    ("args", "kwargs", "where"),
    [
        ([1, object()], {}, r"task_args\[1\] \(object\)"),
        ([1, 2], {"c": {1, 2}}, r"task_kwargs\['c'\] \(set\)"),
        ([datetime(2024, 1, 1, tzinfo=UTC)], {}, r"task_args\[0\] \(datetime\)"),
        ([[1, {"deep": b"bytes"}]], {}, r"task_args\[0\] \(list\)"),
        ([float("nan")], {}, r"task_args\[0\] \(float\)"),
    ],
)
def test_non_json_argument_is_a_type_error_naming_its_position(
    offline: DBConfig, args: list[Any], kwargs: dict[str, Any], where: str
) -> None:
    app = Workcraft()  # not registered: only serializability is checked
    with pytest.raises(TypeError, match=where) as info:
        app.send_task_sync("remote_task", args, task_kwargs=kwargs, db_config=offline)
    message = str(info.value)
    assert "'remote_task'" in message
    assert "is not JSON-serializable" in message
    assert "send plain data: str, int, float, bool, None, lists and dicts" in message


@pytest.mark.parametrize("task_args", ["ab", b"ab", {"a": 1, "b": 2}, {1, 2}])
def test_task_args_that_is_not_a_list_is_a_type_error(
    app: Workcraft, offline: DBConfig, task_args: Any
) -> None:
    with pytest.raises(TypeError, match="task_args for 'simple_task' must be a list or tuple"):
        app.send_task_sync("simple_task", task_args, task_kwargs={"c": 3}, db_config=offline)


def test_task_args_as_tuple_is_accepted(cfg: DBConfig, app: Workcraft) -> None:
    task_id = app.send_task_sync("simple_task", (1, 2), task_kwargs={"c": 3}, db_config=cfg)
    assert json.loads(_row(cfg, task_id)["payload"])["task_args"] == [1, 2]


@pytest.mark.parametrize("kwargs", [{1: "x"}, {("a",): 1}, {None: 1}])
def test_kwargs_with_non_str_keys_is_a_type_error(
    offline: DBConfig, kwargs: dict[Any, Any]
) -> None:
    with pytest.raises(TypeError, match="task_kwargs for 'remote' must be a dict with str keys"):
        Workcraft().send_task_sync("remote", [], task_kwargs=kwargs, db_config=offline)


@pytest.mark.parametrize(
    ("queue", "problem"),
    [
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("\t \n", "must not be empty"),
        ("q" * 256, "256 characters; the limit is 255"),
        ("队" * 256, "256 characters; the limit is 255"),
        ("a\nb", "control characters"),
        ("a\x00b", "control characters"),
        ("a\x1bb", "control characters"),
        ("a\x7fb", "control characters"),
        (" emails", "leading or trailing spaces"),
        ("emails ", "leading or trailing spaces"),
        ("emails\u00a0", "leading or trailing spaces"),
    ],
)
def test_bad_queue_name_is_a_value_error(offline: DBConfig, queue: str, problem: str) -> None:
    with pytest.raises(ValueError, match="queue name") as info:
        Workcraft().send_task_sync("t", [], queue=queue, db_config=offline)
    assert problem in str(info.value)


@pytest.mark.parametrize("name", ["", " t", "t\n", "x" * 256])
def test_bad_task_name_is_a_value_error(offline: DBConfig, name: str) -> None:
    with pytest.raises(ValueError, match="task name"):
        Workcraft().send_task_sync(name, [], db_config=offline)


@pytest.mark.parametrize("queue", [5, b"bytes"])
def test_queue_name_that_is_not_a_str_is_a_type_error(offline: DBConfig, queue: Any) -> None:
    with pytest.raises(TypeError, match="queue name must be a str"):
        Workcraft().send_task_sync("t", [], queue=queue, db_config=offline)


@pytest.mark.parametrize("retry_limit", [-1, -100, 1.5, "3", True])
def test_bad_retry_limit_is_a_value_error(offline: DBConfig, retry_limit: Any) -> None:
    with pytest.raises(ValueError, match="retry_limit must be a whole number >= 0"):
        Workcraft().send_task_sync("t", [], retry_limit=retry_limit, db_config=offline)


@pytest.mark.parametrize("priority", [2**31, -(2**40), 1.0, True])
def test_bad_priority_is_a_value_error(offline: DBConfig, priority: Any) -> None:
    with pytest.raises(ValueError, match="priority must be a 32-bit whole number"):
        Workcraft().send_task_sync("t", [], priority=priority, db_config=offline)


@pytest.mark.parametrize(
    ("args", "kwargs", "detail"),
    [
        ([1], {}, "missing a required argument: 'b'"),
        ([1, 2, 3, 4], {}, "too many positional arguments"),
        ([1, 2], {"c": 3, "d": 4}, "unexpected keyword argument 'd'"),
        ([1, 2, 3], {"a": 1}, "multiple values for argument 'a'"),
    ],
)
def test_registered_task_with_wrong_arguments_is_a_type_error_naming_it(
    app: Workcraft,
    offline: DBConfig,
    args: list[Any],
    kwargs: dict[str, Any],
    detail: str,
) -> None:
    with pytest.raises(TypeError, match="cannot send task 'simple_task'") as info:
        app.send_task_sync("simple_task", args, task_kwargs=kwargs, db_config=offline)
    assert detail in str(info.value)


def test_delay_and_run_at_together_is_a_value_error(offline: DBConfig) -> None:
    with pytest.raises(ValueError, match="give delay or run_at, not both"):
        Workcraft().send_task_sync(
            "t", [], delay=5, run_at=datetime.now(UTC) + timedelta(1), db_config=offline
        )


def test_naive_run_at_is_a_value_error(offline: DBConfig) -> None:
    with pytest.raises(ValueError, match="run_at must be timezone-aware"):
        Workcraft().send_task_sync(
            "t", [], run_at=datetime.now() + timedelta(hours=1), db_config=offline
        )


# ------------------------------------------------------------- odd names


ODD_NAMES = [
    "q'; DROP TABLE bountyboard; --",
    "Robert'); DROP TABLE peon;--",
    "队列",
    '"x"',
    "`tick` back\\slash \\' \\\\",
    "100% :name %(x)s %s ?",
    "🐉 dragon 🐉",
    "a;b;c",
    "é" * 255,
]


@pytest.mark.parametrize("name", ODD_NAMES)
def test_odd_names_are_stored_byte_for_byte(cfg: DBConfig, name: str) -> None:
    app = Workcraft(db_config=cfg)
    task_id = app.send_task_sync(name, ["payload with ' and \""], queue=name)

    task = app.get_task_sync(task_id)
    assert task is not None
    assert task.queue == name
    assert task.task_name == name
    assert task.args == ["payload with ' and \""]

    expected_hex = name.encode("utf-8").hex().upper()
    hex_queue, hex_name = query(
        cfg,
        "SELECT HEX(queue), HEX(task_name) FROM bountyboard WHERE id = :id",
        {"id": task_id},
    )[0]
    assert (hex_queue, hex_name) == (expected_hex, expected_hex)

    assert [t.id for t in app.pending(queue=name)] == [task_id]
    assert scalar(cfg, "SELECT COUNT(*) FROM bountyboard WHERE queue = :q", {"q": name}) == 1
    with db.connect(cfg) as conn:
        assert {"bountyboard", "peon", "logs"} <= store.table_names(conn)
    assert scalar(cfg, "SELECT COUNT(*) FROM bountyboard") == 1


def test_queue_names_are_case_sensitive(cfg: DBConfig) -> None:
    app = Workcraft(db_config=cfg)
    upper = app.send_task_sync("t", queue="Emails")
    lower = app.send_task_sync("t", queue="emails")
    assert [t.id for t in app.pending(queue="Emails")] == [upper]
    assert [t.id for t in app.pending(queue="emails")] == [lower]


# ----------------------------------------------------------------- reading


def test_get_task_sync_decodes_the_row(cfg: DBConfig, app: Workcraft) -> None:
    before = _db_now(cfg)
    task_id = app.send_task_sync(
        "simple_task",
        [1, 2],
        task_kwargs={"c": {"nested": ["x", None, 1.5]}},
        queue="reports",
        retry_on_failure=True,
        retry_limit=5,
        db_config=cfg,
        priority=4,
    )
    after = _db_now(cfg)
    task = app.get_task_sync(task_id, db_config=cfg)
    assert isinstance(task, Task)
    assert task.id == task_id
    assert task.task_name == "simple_task"
    assert task.status is TaskStatus.PENDING
    assert task.queue == "reports"
    assert task.priority == 4
    assert task.args == [1, 2]
    assert task.kwargs == {"c": {"nested": ["x", None, 1.5]}}
    assert task.result is None
    assert task.error is None
    assert task.worker_id is None
    assert task.attempt == 0
    assert task.retry_on_failure is True
    assert (task.retry_count, task.retry_limit, task.requeue_count) == (0, 5, 0)
    assert before <= task.created_at <= after
    assert before <= task.updated_at <= after
    assert task.run_at == task.created_at
    assert task.started_at is None
    assert task.finished_at is None
    assert task.finished is False
    assert task.duration is None


def test_get_task_sync_reads_result_and_timestamps_of_a_finished_row(
    cfg: DBConfig, app: Workcraft
) -> None:
    task_id = app.send_task_sync("t", db_config=cfg)
    execute(
        cfg,
        "UPDATE bountyboard SET status = 'SUCCESS', result = '[1, \"two\"]', worker_id = 'w', "
        "attempt = 1, started_at = '2030-01-01 00:00:00', "
        "finished_at = '2030-01-01 00:00:02.500000' WHERE id = :id",
        params={"id": task_id},
    )
    task = app.get_task_sync(task_id, db_config=cfg)
    assert task is not None
    assert task.status is TaskStatus.SUCCESS
    assert task.result == [1, "two"]
    assert task.worker_id == "w"
    assert task.attempt == 1
    assert task.started_at == datetime(2030, 1, 1)
    assert task.finished_at == datetime(2030, 1, 1, 0, 0, 2, 500000)
    assert task.duration == 2.5
    assert task.finished is True


def test_get_task_sync_unknown_id_is_none(cfg: DBConfig, app: Workcraft) -> None:
    assert app.get_task_sync(new_task_id(), db_config=cfg) is None
    assert app.get_task_sync("not even a uuid", db_config=cfg) is None


def test_status(cfg: DBConfig, app: Workcraft) -> None:
    task_id = app.send_task_sync("t", db_config=cfg)
    assert app.status(task_id, db_config=cfg) is TaskStatus.PENDING
    _set(cfg, task_id, status="RUNNING", worker_id="w1")
    assert app.status(task_id, db_config=cfg) is TaskStatus.RUNNING
    _set(cfg, task_id, status="CANCELLED")
    assert app.status(task_id, db_config=cfg) is TaskStatus.CANCELLED
    assert app.status(new_task_id(), db_config=cfg) is None


# ------------------------------------------------------------------ results


def test_get_result_of_success(cfg: DBConfig, app: Workcraft) -> None:
    task_id = app.send_task_sync("t", db_config=cfg)
    _set(cfg, task_id, status="SUCCESS", result='{"x": 1}')
    assert app.get_result_sync(task_id, db_config=cfg) == {"x": 1}
    assert app.get_result_sync(task_id, timeout=0, db_config=cfg) == {"x": 1}


def test_get_result_of_success_with_null_result(cfg: DBConfig, app: Workcraft) -> None:
    task_id = app.send_task_sync("t", db_config=cfg)
    _set(cfg, task_id, status="SUCCESS")
    assert app.get_result_sync(task_id, timeout=1, db_config=cfg) is None


TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "tasks.py", line 12, in simple_task\n'
    "    raise ValueError('kaput')\n"
    "ValueError: kaput\n"
)


def test_get_result_of_final_failure_raises_task_failed(cfg: DBConfig, app: Workcraft) -> None:
    task_id = app.send_task_sync("t", db_config=cfg)
    _set(cfg, task_id, status="FAILURE", error=TRACEBACK)
    with pytest.raises(TaskFailed) as info:
        app.get_result_sync(task_id, timeout=5, db_config=cfg)
    failed = info.value
    assert isinstance(failed, WorkcraftError)
    assert failed.task_id == task_id
    assert failed.status == "FAILURE"
    assert failed.remote_traceback == TRACEBACK
    assert TRACEBACK.rstrip() in str(failed)
    assert f"task {task_id} ended FAILURE: ValueError: kaput" in str(failed)


def test_get_result_of_failure_with_retries_used_up_is_final(cfg: DBConfig, app: Workcraft) -> None:
    task_id = app.send_task_sync("t", retry_on_failure=True, retry_limit=2, db_config=cfg)
    _set(cfg, task_id, status="FAILURE", retry_count=2, error=TRACEBACK)
    with pytest.raises(TaskFailed, match="ValueError: kaput"):
        app.get_result_sync(task_id, timeout=5, db_config=cfg)


def test_failure_with_retries_left_is_not_final(cfg: DBConfig, app: Workcraft) -> None:
    task_id = app.send_task_sync("t", retry_on_failure=True, db_config=cfg)
    _set(cfg, task_id, status="FAILURE", retry_count=1, error=TRACEBACK)
    started = time.monotonic()
    with pytest.raises(ResultTimeout) as info:
        app.get_result_sync(task_id, timeout=0.3, db_config=cfg)
    elapsed = time.monotonic() - started
    assert isinstance(info.value, TimeoutError)
    assert "still FAILURE" in str(info.value)
    assert 0.3 <= elapsed < 10


def test_get_result_of_pending_times_out(cfg: DBConfig, app: Workcraft) -> None:
    task_id = app.send_task_sync("t", db_config=cfg)
    started = time.monotonic()
    with pytest.raises(TimeoutError) as info:
        app.get_result_sync(task_id, timeout=0.3, db_config=cfg)
    elapsed = time.monotonic() - started
    assert isinstance(info.value, ResultTimeout)
    assert task_id in str(info.value)
    assert "PENDING" in str(info.value)
    assert 0.3 <= elapsed < 10


def test_get_result_waits_for_a_task_finished_meanwhile(cfg: DBConfig, app: Workcraft) -> None:
    task_id = app.send_task_sync("t", db_config=cfg)
    reading = threading.Event()
    real_get = app.get_task_sync

    def counting_get(*a: Any, **k: Any) -> Task | None:
        reading.set()
        return real_get(*a, **k)

    app.get_task_sync = counting_get  # type: ignore[method-assign]
    results: list[Any] = []
    waiter = threading.Thread(
        target=lambda: results.append(app.get_result_sync(task_id, timeout=30, db_config=cfg))
    )
    waiter.start()
    assert reading.wait(10)
    _set(cfg, task_id, status="SUCCESS", result='"done"')
    waiter.join(30)
    assert not waiter.is_alive()
    assert results == ["done"]


def test_get_result_unknown_id_is_key_error(cfg: DBConfig, app: Workcraft) -> None:
    unknown = new_task_id()
    with pytest.raises(KeyError, match=unknown):
        app.get_result_sync(unknown, timeout=1, db_config=cfg)


@pytest.mark.parametrize("status", ["INVALID", "CANCELLED", "EXPIRED"])
def test_get_result_of_other_final_states_raises_task_failed(
    cfg: DBConfig, app: Workcraft, status: str
) -> None:
    task_id = app.send_task_sync("t", retry_on_failure=True, db_config=cfg)
    reason = f"payload task_args must be a JSON array ({status})"
    _set(cfg, task_id, status=status, error=reason)
    with pytest.raises(TaskFailed) as info:
        app.get_result_sync(task_id, timeout=5, db_config=cfg)
    assert info.value.status == status
    assert info.value.remote_traceback == reason
    assert reason in str(info.value)


def test_task_failed_without_error_text_says_so(cfg: DBConfig, app: Workcraft) -> None:
    task_id = app.send_task_sync("t", db_config=cfg)
    _set(cfg, task_id, status="CANCELLED")
    with pytest.raises(TaskFailed, match="ended CANCELLED: no error recorded") as info:
        app.get_result_sync(task_id, timeout=5, db_config=cfg)
    assert info.value.remote_traceback is None


# -------------------------------------------------------------------- lists


@pytest.fixture
def listed(cfg: DBConfig) -> dict[str, str]:
    """Tasks in two queues and every status, with created_at set one second apart."""
    app = Workcraft(db_config=cfg)
    plan = [
        ("p1", "L1", "PENDING"),
        ("r1", "L1", "RUNNING"),
        ("f1", "L1", "FAILURE"),
        ("p2", "L2", "PENDING"),
        ("s1", "L1", "SUCCESS"),
        ("i1", "L1", "INVALID"),
        ("p3", "L1", "PENDING"),
        ("c1", "L1", "CANCELLED"),
        ("s2", "L2", "SUCCESS"),
        ("f2", "L2", "FAILURE"),
        ("r2", "L2", "RUNNING"),
        ("p4", "L1", "PENDING"),
        ("s3", "L1", "SUCCESS"),
        ("i2", "L2", "INVALID"),
        ("e1", "L1", "EXPIRED"),
    ]
    ids: dict[str, str] = {}
    base = datetime(2031, 1, 1)
    for n, (label, queue, status) in enumerate(plan):
        task_id = app.send_task_sync(f"task_{label}", [label], queue=queue)
        worker = "w1" if status == "RUNNING" else None
        _set(cfg, task_id, status=status, worker_id=worker, created_at=base + timedelta(seconds=n))
        ids[label] = task_id
    return ids


def _labels(tasks: list[Task]) -> list[str]:
    return [t.args[0] for t in tasks]


def test_pending_lists_newest_first(cfg: DBConfig, listed: dict[str, str]) -> None:
    app = Workcraft(db_config=cfg)
    assert _labels(app.pending()) == ["p4", "p3", "p2", "p1"]
    assert _labels(app.pending(queue="L1")) == ["p4", "p3", "p1"]
    assert _labels(app.pending(queue="L2")) == ["p2"]
    assert _labels(app.pending(limit=2)) == ["p4", "p3"]
    assert _labels(app.pending(queue="L1", limit=1)) == ["p4"]
    assert app.pending(queue="nope") == []
    assert all(t.status is TaskStatus.PENDING for t in app.pending())


def test_running_lists_newest_first(cfg: DBConfig, listed: dict[str, str]) -> None:
    app = Workcraft(db_config=cfg)
    running = app.running()
    assert _labels(running) == ["r2", "r1"]
    assert {t.worker_id for t in running} == {"w1"}
    assert _labels(app.running(queue="L1")) == ["r1"]
    assert _labels(app.running(limit=1)) == ["r2"]


def test_finished_lists_successes_newest_first(cfg: DBConfig, listed: dict[str, str]) -> None:
    app = Workcraft(db_config=cfg)
    assert _labels(app.finished()) == ["s3", "s2", "s1"]
    assert _labels(app.finished(queue="L1")) == ["s3", "s1"]
    assert _labels(app.finished(queue="L2", limit=5)) == ["s2"]
    assert _labels(app.finished(limit=2)) == ["s3", "s2"]


def test_failed_includes_invalid_newest_first(cfg: DBConfig, listed: dict[str, str]) -> None:
    app = Workcraft(db_config=cfg)
    failed = app.failed()
    assert _labels(failed) == ["i2", "f2", "i1", "f1"]
    assert [t.status for t in failed] == [
        TaskStatus.INVALID,
        TaskStatus.FAILURE,
        TaskStatus.INVALID,
        TaskStatus.FAILURE,
    ]
    assert _labels(app.failed(queue="L1")) == ["i1", "f1"]
    assert _labels(app.failed(queue="L2")) == ["i2", "f2"]
    assert _labels(app.failed(limit=3)) == ["i2", "f2", "i1"]
    assert _labels(app.failed(queue="L2", limit=1)) == ["i2"]


def test_lists_leave_out_cancelled_and_expired(cfg: DBConfig, listed: dict[str, str]) -> None:
    app = Workcraft(db_config=cfg)
    everything = app.pending() + app.running() + app.finished() + app.failed()
    assert len(everything) == len({t.id for t in everything}) == 13
    assert listed["c1"] not in {t.id for t in everything}
    assert listed["e1"] not in {t.id for t in everything}


# ------------------------------------------------------------ transient errors


def _connections_to(admin: DBConfig, database: str) -> set[int]:
    with db.connect(admin, with_database=False) as conn:
        rows = conn.execute(
            text(
                "SELECT ID FROM information_schema.PROCESSLIST "
                "WHERE DB = :db AND ID <> CONNECTION_ID()"
            ),
            {"db": database},
        )
        return {int(r[0]) for r in rows}


def test_send_survives_a_connection_killed_by_the_server(
    cfg: DBConfig, db_server: DBConfig, app: Workcraft
) -> None:
    first = app.send_task_sync("t", [1], db_config=cfg)
    with db.connect(cfg) as conn:
        pooled_id = int(conn.execute(text("SELECT CONNECTION_ID()")).scalar_one())
    # every idle connection of the pool to this database, the one just used among them
    victims = _connections_to(db_server, cfg.database)
    assert pooled_id in victims
    with db.connect(db_server, with_database=False) as admin:
        for victim in sorted(victims):
            admin.execute(text(f"KILL {int(victim)}"))
    wait_for(
        lambda: not (victims & _connections_to(db_server, cfg.database)),
        timeout=10,
        message="the killed connections are still listed",
    )

    second = app.send_task_sync("t", [2], db_config=cfg)
    assert second != first
    assert _row(cfg, second)["status"] == "PENDING"
    assert json.loads(_row(cfg, second)["payload"])["task_args"] == [2]
    with db.connect(cfg) as conn:
        now_id = int(conn.execute(text("SELECT CONNECTION_ID()")).scalar_one())
    assert now_id not in victims
    assert scalar(cfg, "SELECT COUNT(*) FROM bountyboard") == 2
