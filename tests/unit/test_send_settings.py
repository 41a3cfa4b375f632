"""A send's settings: its own options over the task's declared ones. Sends without
options of their own reuse what the declaration came to; a changed declaration must
show in the next send."""

from __future__ import annotations

from typing import Any

import pytest

from workcraft import Workcraft
from workcraft.models import NewTask, TaskOptions


def _row(app: Workcraft, task_name: Any, **own: Any) -> NewTask:
    options = ("queue", "retry_on_failure", "retry_limit", "priority")
    later = ("delay", "run_at", "expires", "timeout", "unique_key", "delete_on_success")
    return app._new_task(
        task_name,
        own.pop("task_args", None),
        None,
        *(own.pop(name, None) for name in options),
        *(own.pop(name, None) for name in later),
    )


def test_sends_without_options_follow_the_declaration_and_its_changes() -> None:
    app = Workcraft()

    @app.task("report", queue="reports", priority=5, retry_on_failure=True)
    def report() -> None: ...

    first, second = _row(app, "report"), _row(app, "report")
    assert (first.queue, first.priority, first.retry_on_failure) == ("reports", 5, True)
    assert (second.queue, second.priority, second.retry_on_failure) == ("reports", 5, True)
    assert first.id != second.id

    app.task_options["report"] = TaskOptions(queue="urgent", priority=9)
    changed = _row(app, "report")
    assert (changed.queue, changed.priority, changed.retry_on_failure) == ("urgent", 9, False)


def test_own_options_win_over_remembered_defaults() -> None:
    app = Workcraft()

    @app.task("report", queue="reports")
    def report() -> None: ...

    assert _row(app, "report").queue == "reports"
    assert _row(app, "report", queue="adhoc", priority=-1).queue == "adhoc"
    assert _row(app, "report").queue == "reports"


@pytest.mark.parametrize("bad", [["report"], None, 7])
def test_a_task_name_that_is_not_text_is_refused_by_name(bad: Any) -> None:
    app = Workcraft()
    with pytest.raises(TypeError, match="task name must be a str"):
        _row(app, bad)


def test_bad_own_options_are_refused_even_after_good_sends() -> None:
    app = Workcraft()
    _row(app, "report")
    with pytest.raises(ValueError, match="retry_limit must be a whole number"):
        _row(app, "report", retry_limit=-1)
