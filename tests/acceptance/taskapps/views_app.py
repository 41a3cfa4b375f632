"""Tasks for the CLI view tests: one that fails on its first attempt only, so that a
retry by hand is what makes it succeed."""

from __future__ import annotations

from workcraft import Workcraft, current_task

app = Workcraft()


@app.task("fails_first")
def fails_first(x: int) -> int:
    if current_task().attempt == 1:
        raise ValueError(f"the first attempt at {x} fails")
    return 2 * x
