"""A periodic task for the acceptance tests: every peon on this app runs the schedule."""

from __future__ import annotations

from workcraft import Workcraft, current_task

app = Workcraft()


@app.periodic("wct-every-second", every=1, task_kwargs={"label": "tick"})
def every_second(label: str) -> str:
    return f"{label} {current_task().id}"
