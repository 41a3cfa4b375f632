"""TaskBatches: bulk-send rows made a batch at a time, replayed on a retry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from workcraft.batches import TaskBatches
from workcraft.models import NewTask


def _make(made: list[int]) -> Any:
    def make(i: int, spec: Mapping[str, Any]) -> NewTask:
        if spec.get("bad"):
            raise ValueError(f"item {i} is bad")
        made.append(i)
        return NewTask(str(i), "t", "DEFAULT", "{}", 0, False, 3, 0, None, None, None, False)

    return make


def test_rows_are_made_only_as_the_batches_are_taken() -> None:
    made: list[int] = []
    batches = iter(TaskBatches(_make(made), ({"n": i} for i in range(25)), size=10))
    assert [r.id for r in next(batches)] == [str(i) for i in range(10)]
    assert made == list(range(10))
    next(batches)
    assert len(made) == 20


def test_a_second_pass_replays_the_batches_made_then_makes_the_rest() -> None:
    made: list[int] = []
    batches = TaskBatches(_make(made), ({"n": i} for i in range(25)), size=10)
    first = iter(batches)
    next(first)  # a retried transaction: the first try took one batch, then failed
    assert [len(b) for b in batches] == [10, 10, 5]
    assert made == list(range(25))  # nothing made twice
    assert [r.id for r in batches.rows()] == [str(i) for i in range(25)]


def test_a_bad_spec_raises_when_its_batch_is_taken() -> None:
    specs: list[dict[str, Any]] = [{} for _ in range(15)]
    specs[12] = {"bad": True}
    batches = iter(TaskBatches(_make([]), specs, size=10))
    next(batches)
    with pytest.raises(ValueError, match="item 12 is bad"):
        next(batches)
