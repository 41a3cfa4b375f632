"""The HTML pages. Each handler reads through :mod:`workcraft.overview` on one
connection and renders one template; with ``?partial=1`` only the live region, which
the page's script fetches to refresh itself in place.

Handlers are sync functions, which Starlette runs in its thread pool.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from workcraft import overview
from workcraft.dashboard import views
from workcraft.dashboard.chart import build_chart
from workcraft.dashboard.filters import DEFAULT_LIMIT, parse_task_id, parse_task_query
from workcraft.dashboard.problems import BadRequest, NotFound
from workcraft.dashboard.render import context_of, render
from workcraft.db import connect
from workcraft.models import TaskStatus

__all__ = ["overview_page", "peons", "schedules", "task", "tasks"]

STATUSES = [s.value for s in TaskStatus]
# A task in one of these may be put back to PENDING by hand (the retry action).
RETRYABLE = ("FAILURE", "INVALID", "CANCELLED", "EXPIRED")
CHART_MINUTES = 60


def _no_params(request: Request) -> None:
    unknown = sorted(k for k in request.query_params if k != "partial")
    if unknown:
        raise BadRequest(f"this page takes no parameters (got {', '.join(unknown)})")


def overview_page(request: Request) -> Response:
    _no_params(request)
    ctx = context_of(request)
    # The counts read a whole index (about 0.1 s per million rows): shared by all
    # tabs, refreshed in the background (see snapshot.py).
    with connect(ctx.cfg) as conn:
        points = overview.throughput(conn, CHART_MINUTES)
        rates = overview.finished_by_queue(conn, CHART_MINUTES)
        peon_views = overview.peons(conn, ctx.settings)
    stats = ctx.queue_counts.get()
    queues = views.queue_rows(stats, rates, CHART_MINUTES)
    totals = {s: sum(q.counts.get(s, 0) for q in queues) for s in STATUSES}
    ages = [q.oldest_pending_age for q in queues if q.oldest_pending_age is not None]
    return render(
        request,
        "overview.html",
        title="Overview",
        section="overview",
        statuses=STATUSES,
        queues=queues,
        totals=totals,
        oldest_pending=max(ages) if ages else None,
        chart=build_chart(views.minute_counts(points)),
        peon_summary=views.summarize_peons(views.peon_rows(peon_views)),
    )


def peons(request: Request) -> Response:
    _no_params(request)
    ctx = context_of(request)
    with connect(ctx.cfg) as conn:
        peon_views = overview.peons(conn, ctx.settings)
    return render(
        request,
        "peons.html",
        title="Peons",
        section="peons",
        peons=views.peon_rows(peon_views),
        late_after=views.late_after(ctx.settings.peon_heartbeat_interval),
        dead_after=ctx.settings.dead_peon_timeout,
    )


def tasks(request: Request) -> Response:
    if "id" in request.query_params:
        # The id search box: straight to the task's page (404 there if unknown).
        task_id = parse_task_id(request.query_params["id"])
        return RedirectResponse(f"/tasks/{quote(task_id, safe='')}", status_code=303)
    q = parse_task_query(request.query_params)
    ctx = context_of(request)
    flt = overview.TaskFilter(
        queue=q.queue,
        status=q.status.value if q.status is not None else None,
        name=q.name,
        since=q.since,
        until=q.until,
    )
    with connect(ctx.cfg) as conn:
        page = overview.list_tasks(conn, flt, cursor=q.after, limit=q.limit)
    return render(
        request,
        "tasks.html",
        title="Tasks",
        section="tasks",
        q=q,
        statuses=STATUSES,
        default_limit=DEFAULT_LIMIT,
        page=page,
    )


def task(request: Request) -> Response:
    _no_params(request)
    task_id = parse_task_id(request.path_params["task_id"])
    ctx = context_of(request)
    with connect(ctx.cfg) as conn:
        detail = overview.task_detail(conn, task_id)
    if detail is None:
        raise NotFound(
            f"no task has the id {task_id}: it never existed, or it was deleted "
            "(delete_on_success, or history retention)"
        )
    return render(
        request,
        "task.html",
        title=f"Task {detail.task_name}",
        section="tasks",
        t=detail,
        retryable=RETRYABLE,
    )


def schedules(request: Request) -> Response:
    _no_params(request)
    ctx = context_of(request)
    with connect(ctx.cfg) as conn:
        rows = overview.schedules(conn)
    return render(
        request,
        "schedules.html",
        title="Schedules",
        section="schedules",
        schedules=rows,
    )
