"""Declaring periodic tasks (@app.periodic) and deciding what a due tick does, without a
database. The firing itself is in tests/integration/test_schedule.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from workcraft import Schedule, Workcraft
from workcraft.schedule import TickPlan, _timing, plan_tick

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def test_the_decorated_function_becomes_the_task_of_that_name() -> None:
    app = Workcraft()

    @app.periodic("cleanup", every=60)
    def cleanup() -> str:
        return "clean"

    assert app.tasks["cleanup"] is cleanup
    schedule = app.schedules["cleanup"]
    assert isinstance(schedule, Schedule)
    assert (schedule.task_name, schedule.every, schedule.cron) == (
        "cleanup",
        timedelta(seconds=60),
        None,
    )
    assert cleanup() == "clean"  # still directly callable


def test_stacked_on_a_task_it_uses_that_task_and_keeps_its_options() -> None:
    app = Workcraft()

    @app.periodic("report-hourly", cron="0 * * * *", task_kwargs={"kind": "hourly"})
    @app.periodic("report-daily", cron="0 6 * * *", task_kwargs={"kind": "daily"})
    @app.task("report", queue="reports", retry_on_failure=True)
    def report(kind: str) -> str:
        return kind

    assert set(app.tasks) == {"report"}
    assert {s.task_name for s in app.schedules.values()} == {"report"}
    assert app.task_options["report"].queue == "reports"
    assert app.task_options["report"].retry_on_failure is True
    # the schedule's queue is the task's own default queue
    assert app.schedules["report-daily"].row_values(app)["queue"] == "reports"


def test_task_names_the_task_to_send() -> None:
    app = Workcraft()

    @app.periodic("nightly", cron="30 2 * * *", task="cleanup", timezone="Europe/Berlin")
    def anything() -> None:
        pass

    assert app.tasks["cleanup"] is anything
    assert app.schedules["nightly"].task_name == "cleanup"


def test_without_a_function_it_schedules_a_task_registered_elsewhere() -> None:
    app = Workcraft()
    app.periodic("ping", every=timedelta(minutes=5), task="ping_remote", task_args=["x"])
    assert app.schedules["ping"].task_name == "ping_remote"
    assert app.tasks == {}
    assert json.loads(app.schedules["ping"].payload) == {"task_args": ["x"], "task_kwargs": {}}


def test_arguments_are_checked_against_the_task() -> None:
    app = Workcraft()
    with pytest.raises(TypeError, match=r"schedule 'bad'.*do not fit task 'add'"):

        @app.periodic("bad", every=10, task_args=[1])
        @app.task("add")
        def add(a: int, b: int) -> int:
            return a + b

    with pytest.raises(TypeError, match="not JSON-serializable"):
        app.periodic("obj", every=10, task="t", task_args=[object()])


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({}, ValueError, "exactly one of cron"),
        ({"cron": "* * * * *", "every": 5}, ValueError, "exactly one of cron"),
        ({"cron": "*/5 * * *"}, ValueError, "4 field(s)"),
        ({"cron": "0 25 * * *"}, ValueError, "hour field '25'"),
        ({"cron": "0 3 * * *", "timezone": "Europe/Berln"}, ValueError, "unknown timezone"),
        ({"every": 60, "timezone": "Europe/Berlin"}, ValueError, "timezone applies to cron"),
        ({"every": 0}, ValueError, "at least 0.1 seconds"),
        ({"every": float("nan")}, ValueError, "at least"),
        ({"every": True}, TypeError, "every must be seconds"),
        ({"every": "60"}, TypeError, "every must be seconds"),
        ({"every": 60, "misfire": "catch_up"}, ValueError, "misfire must be 'run_once'"),
        ({"every": 60, "queue": ""}, ValueError, "queue name"),
        ({"every": 60, "enabled": "yes"}, TypeError, "enabled"),
    ],
)
def test_bad_declarations_fail_at_once(
    kwargs: dict[str, object], error: type[Exception], words: str
) -> None:
    app = Workcraft()
    with pytest.raises(error) as raised:
        app.periodic("s", task="t", **kwargs)  # type: ignore[arg-type]
    assert words in str(raised.value)
    assert app.schedules == {}


def test_a_name_is_declared_once() -> None:
    app = Workcraft()
    app.periodic("s", every=60, task="t")
    app.periodic("s", every=60, task="t")  # the same again (a module imported twice) is fine
    with pytest.raises(ValueError, match="already declared"):
        app.periodic("s", every=30, task="t")


def test_the_definition_hash_follows_the_definition() -> None:
    app = Workcraft()
    app.periodic("a", every=60, task="t", task_args=[1])
    app.periodic("b", every=60, task="t", task_args=[1])
    app.periodic("c", every=60, task="t", task_args=[2])
    app.periodic("d", every=60, task="t", task_args=[1], enabled=False)
    hashes = {name: s.row_values(app)["definition_hash"] for name, s in app.schedules.items()}
    assert hashes["a"] == hashes["b"]  # the name is the key, not part of the definition
    assert len({hashes["a"], hashes["c"], hashes["d"]}) == 3


# ------------------------------------------------------------------ due ticks


def _plan(misfire: str, late: timedelta, every: float = 60, cron: str | None = None) -> TickPlan:
    app = Workcraft()
    if cron is not None:
        app.periodic("s", cron=cron, task="t", misfire=misfire)
    else:
        app.periodic("s", every=every, task="t", misfire=misfire)
    schedule = app.schedules["s"]
    timing = _timing(schedule.cron, schedule.every_us, schedule.timezone)
    return plan_tick(timing, misfire, T0, T0 + late)


@pytest.mark.parametrize("misfire", ["run_once", "skip"])
def test_an_on_time_tick_fires_and_moves_to_the_tick_after_it(misfire: str) -> None:
    plan = _plan(misfire, timedelta(seconds=1))
    assert (plan.outcome, plan.next_run_at) == ("FIRED", T0 + timedelta(minutes=1))


def test_missed_ticks_run_once() -> None:
    plan = _plan("run_once", timedelta(hours=1, seconds=30))
    assert plan.outcome == "CAUGHT_UP"
    assert plan.fires_task
    assert plan.next_run_at == T0 + timedelta(hours=1, minutes=1)


def test_missed_ticks_skipped() -> None:
    plan = _plan("skip", timedelta(hours=1, seconds=30))
    assert plan.outcome == "SKIPPED"
    assert not plan.fires_task
    assert plan.next_run_at == T0 + timedelta(hours=1, minutes=1)


def test_the_grace_is_one_period_or_a_minute_whichever_is_shorter() -> None:
    assert _plan("skip", timedelta(seconds=0.9), every=1).outcome == "FIRED"
    assert _plan("skip", timedelta(seconds=1.5), every=1).outcome == "SKIPPED"
    hourly = "0 * * * *"
    assert _plan("skip", timedelta(seconds=59), cron=hourly).outcome == "FIRED"
    assert _plan("skip", timedelta(seconds=61), cron=hourly).outcome == "SKIPPED"


def test_interval_ticks_are_aligned_to_the_epoch() -> None:
    app = Workcraft()
    app.periodic("m", every=60, task="t")
    app.periodic("h", every=timedelta(hours=1), task="t")
    app.periodic("f", every=1.5, task="t")
    after = datetime(2024, 5, 1, 10, 0, 30, tzinfo=UTC)
    assert app.schedules["m"].next_after(after) == datetime(2024, 5, 1, 10, 1, tzinfo=UTC)
    assert app.schedules["h"].next_after(after) == datetime(2024, 5, 1, 11, tzinfo=UTC)
    assert app.schedules["f"].next_after(after) == datetime(2024, 5, 1, 10, 0, 31, 500000, UTC)


def test_the_readme_example_declares_what_it_says() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Periodic tasks: `@app.periodic`", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    app = namespace["app"]
    assert set(app.schedules) == {"cleanup", "nightly-report"}
    assert set(app.tasks) == {"cleanup", "report"}
    assert app.schedules["nightly-report"].task_name == "report"
    assert app.task_options["report"].retry_on_failure is True
    assert namespace["report"]("daily") == "daily report"
