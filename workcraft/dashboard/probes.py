"""Endpoints for machines: ``/metrics`` (Prometheus text format) and ``/healthz``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from workcraft import metrics
from workcraft.dashboard.render import context_of
from workcraft.db import connect

__all__ = ["healthz", "metrics_endpoint", "no_icon"]


def metrics_endpoint(request: Request) -> Response:
    ctx = context_of(request)
    with connect(ctx.cfg) as conn:
        body = metrics.render_prometheus(conn, ctx.settings)
    return Response(
        body,
        media_type=None,
        headers={"Content-Type": metrics.CONTENT_TYPE, "Cache-Control": "no-store"},
    )


def healthz(request: Request) -> Response:
    """The process answers; the database is checked by the pages themselves."""
    return PlainTextResponse("ok", headers={"Cache-Control": "no-store"})


def no_icon(request: Request) -> Response:
    """Browsers ask for one on every page; an empty answer keeps 404s out of consoles."""
    return Response(status_code=204, headers={"Cache-Control": "max-age=86400"})
