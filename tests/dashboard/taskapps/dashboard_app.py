"""Tasks the dashboard's tests run in real peons."""

from __future__ import annotations

import time

from workcraft import Workcraft

app = Workcraft()


@app.task("add")
def add(a: int, b: int) -> int:
    return a + b


@app.task("boom")
def boom(n: int) -> None:
    raise ValueError(f"dashboard boom {n}")


@app.task("nap")
def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@app.periodic("dashboard-tick", every=3600)
@app.task("tick")
def tick() -> str:
    return "tick"
