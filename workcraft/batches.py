"""The tasks of one bulk send, checked and made into rows a batch at a time."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from workcraft.models import NewTask

BATCH_SIZE = 1000


class TaskBatches:
    """Rows made from a bulk send's task specs as the INSERTs consume them, so that
    checking and encoding batch n+1 overlaps the server's insert of batch n.

    A bad spec raises while earlier batches may already be in the (uncommitted)
    transaction: only iterate lazily where that transaction is rolled back on error;
    :meth:`rows` makes them all first. Batches made are kept, so iterating again (a
    retried transaction) replays them before making more.
    """

    def __init__(
        self,
        make: Callable[[int, Mapping[str, Any]], NewTask],
        specs: Iterable[Mapping[str, Any]],
        size: int = BATCH_SIZE,
    ) -> None:
        self._make = make
        self._specs = enumerate(specs)
        self._size = size
        self._made: list[list[NewTask]] = []

    def __iter__(self) -> Iterator[list[NewTask]]:
        done = 0
        while True:
            if done < len(self._made):
                yield self._made[done]
                done += 1
                continue
            batch = [self._make(i, spec) for i, spec in itertools.islice(self._specs, self._size)]
            if not batch:
                return
            self._made.append(batch)

    def rows(self) -> list[NewTask]:
        """Every row, in the order sent (making any not made yet)."""
        return [row for batch in self for row in batch]
