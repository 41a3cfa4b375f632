"""Bad input at the sender: ``send_task_sync`` refuses it with an error that names the
problem and the fix, before the database is touched, and nothing is inserted."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.badinput.support import BADINPUT_APP, MIB, assert_peon_healthy, row
from tests.helpers import closed_port, scalar
from tests.peons import PeonFactory
from workcraft import Workcraft, core
from workcraft.config import DBConfig
from workcraft.payload import DEFAULT_MAX_BYTES, TooLarge


@pytest.fixture
def nowhere(monkeypatch: pytest.MonkeyPatch) -> Iterator[DBConfig]:
    """A database nobody listens for, and a tripwire on the client's connect(): a call
    that reaches the database would fail loudly instead of retrying for 30 s."""

    def touched(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("send_task_sync touched the database before refusing the input")

    monkeypatch.setattr(core, "connect", touched)
    yield DBConfig(host="127.0.0.1", port=closed_port(), password="x", database="nowhere")


def _sender(cfg: DBConfig, **kwargs: Any) -> Workcraft:
    """A sender that registered ``add`` itself, so it can check the signature."""
    app = Workcraft(db_config=cfg, **kwargs)

    @app.task("add")
    def add(a: int, b: int) -> int:
        return a + b

    return app


def _count(cfg: DBConfig) -> int:
    return int(scalar(cfg, "SELECT COUNT(*) FROM bountyboard"))


@pytest.mark.parametrize(
    ("args", "kwargs", "complaint"),
    [
        ([1, 2, 3], None, "too many positional arguments"),
        ([1], None, "missing a required argument: 'b'"),
        ([], None, "missing a required argument: 'a'"),
        ([1, 2], {"c": 3}, "got an unexpected keyword argument 'c'"),
        ([1], {"a": 2}, "multiple values for argument 'a'"),
    ],
)
def test_wrong_arguments_for_a_task_the_sender_registered_are_a_type_error(
    nowhere: DBConfig, args: list[int], kwargs: dict[str, int] | None, complaint: str
) -> None:
    with pytest.raises(TypeError) as info:
        _sender(nowhere).send_task_sync("add", args, kwargs)
    assert "cannot send task 'add'" in str(info.value)
    assert complaint in str(info.value)


@pytest.mark.parametrize(
    ("args", "kwargs", "where"),
    [
        ([{1, 2}], None, "task_args[0] (set)"),
        ([1, object()], None, "task_args[1] (object)"),
        ([b"bytes"], None, "task_args[0] (bytes)"),
        ([datetime.now(UTC)], None, "task_args[0] (datetime)"),
        ([math.nan], None, "task_args[0] (float)"),
        ([math.inf], None, "task_args[0] (float)"),
        ([], {"when": timedelta(seconds=1)}, "task_kwargs['when'] (timedelta)"),
        ([[1, {"deep": {3}}]], None, "task_args[0] (list)"),
    ],
)
def test_arguments_that_are_not_json_are_refused_before_the_database(
    nowhere: DBConfig, args: list[Any], kwargs: dict[str, Any] | None, where: str
) -> None:
    # An unregistered task too: serializability does not depend on the registry.
    for app in (_sender(nowhere), Workcraft(db_config=nowhere)):
        with pytest.raises(TypeError) as info:
            app.send_task_sync("add", args, kwargs)
        message = str(info.value)
        assert where in message, message
        assert "not JSON-serializable" in message
        assert "send plain data" in message  # the fix


@pytest.mark.parametrize(
    ("args", "kwargs", "complaint"),
    [
        ("ab", None, "task_args for 'add' must be a list or tuple, got str"),
        ({"a": 1}, None, "task_args for 'add' must be a list or tuple, got dict"),
        (7, None, "task_args for 'add' must be a list or tuple, got int"),
        ([], {1: 2}, "task_kwargs for 'add' must be a dict with str keys"),
        ([], [("a", 1)], "task_kwargs for 'add' must be a dict with str keys"),
    ],
)
def test_arguments_of_the_wrong_container_type_are_refused(
    nowhere: DBConfig, args: Any, kwargs: Any, complaint: str
) -> None:
    with pytest.raises(TypeError) as info:
        Workcraft(db_config=nowhere).send_task_sync("add", args, kwargs)
    assert complaint in str(info.value)


def test_a_ten_megabyte_payload_is_refused_naming_the_limit_and_the_setting(
    nowhere: DBConfig, db_config: DBConfig
) -> None:
    big = "x" * (10 * MIB)
    with pytest.raises(TooLarge) as info:
        Workcraft(db_config=nowhere).send_task_sync("length", [big])
    error = info.value
    assert isinstance(error, ValueError)
    message = str(error)
    assert f"the limit is {DEFAULT_MAX_BYTES:,}" in message  # 1,048,576: 1 MiB
    assert "Workcraft(max_payload_bytes=...)" in message  # the fix
    assert "10,485,7" in message  # the size it was
    assert "'length'" in message

    # Against the real database too: nothing was inserted.
    before = _count(db_config)
    with pytest.raises(TooLarge):
        Workcraft(db_config=db_config).send_task_sync("length", [], {"text": big})
    assert _count(db_config) == before


def test_a_raised_limit_lets_a_two_megabyte_payload_through_and_it_runs(
    db_config: DBConfig, peons: PeonFactory
) -> None:
    text = "é" * (MIB + 1000)  # 2 MB as UTF-8: the limit counts bytes, not characters
    with pytest.raises(TooLarge):
        Workcraft(db_config=db_config).send_task_sync("length", [text], queue="big")

    roomy = Workcraft(db_config=db_config, max_payload_bytes=4 * MIB)
    peon = peons("big-payload", "--queues=big", workcraft_path=BADINPUT_APP)
    task_id = roomy.send_task_sync("length", [text], queue="big")
    assert roomy.get_result_sync(task_id, timeout=30) == len(text)
    assert len(str(row(db_config, task_id)["payload"]).encode()) > 2 * 10**6
    assert_peon_healthy(roomy, peon, queue="big")


@pytest.mark.parametrize(
    ("kind", "name", "error", "complaint"),
    [
        ("task", "", ValueError, "task name must not be empty"),
        ("task", "   ", ValueError, "task name must not be empty"),
        ("task", "two\nlines", ValueError, "contains control characters"),
        ("task", " padded", ValueError, "leading or trailing spaces"),
        ("task", "t" * 256, ValueError, "the limit is 255"),
        ("task", 42, TypeError, "task name must be a str, got int"),
        ("queue", "", ValueError, "queue name must not be empty"),
        ("queue", "tab\there", ValueError, "contains control characters"),
        ("queue", "q" * 256, ValueError, "the limit is 255"),
        ("queue", 7, TypeError, "queue name must be a str, got int"),
    ],
)
def test_names_nobody_could_type_are_refused(
    nowhere: DBConfig, kind: str, name: Any, error: type[Exception], complaint: str
) -> None:
    app = Workcraft(db_config=nowhere)
    with pytest.raises(error) as info:
        if kind == "task":
            app.send_task_sync(name, [1, 2])
        else:
            app.send_task_sync("add", [1, 2], queue=name)
    assert complaint in str(info.value)


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        ({"retry_limit": -1}, "retry_limit must be a whole number >= 0, got -1"),
        ({"retry_limit": 2.5}, "retry_limit must be a whole number >= 0"),
        ({"retry_limit": True}, "retry_limit must be a whole number >= 0"),
        ({"priority": 2**31}, "priority must be a 32-bit whole number"),
        ({"priority": -(2**31) - 1}, "priority must be a 32-bit whole number"),
        ({"priority": "high"}, "priority must be a 32-bit whole number"),
        ({"delay": math.nan}, "delay must be a finite number of seconds"),
        ({"delay": math.inf}, "delay must be a finite number of seconds"),
        ({"run_at": datetime(2030, 1, 1)}, "run_at must be timezone-aware"),
        ({"delay": 1, "run_at": datetime.now(UTC)}, "give delay or run_at, not both"),
    ],
)
def test_options_out_of_range_are_refused(
    nowhere: DBConfig, options: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(ValueError) as info:
        Workcraft(db_config=nowhere).send_task_sync("add", [1, 2], **options)
    assert complaint in str(info.value)
