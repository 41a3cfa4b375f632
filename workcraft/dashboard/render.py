"""Server-side HTML: one Jinja environment with autoescape always on.

Task arguments, names, queues, errors and results are user data. They reach the
page only through templates of this environment, which escape every value; no
template marks user data ``|safe``.
"""

from __future__ import annotations

import functools
import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.requests import Request
from starlette.responses import HTMLResponse

from workcraft import overview
from workcraft.config import DBConfig, Settings
from workcraft.dashboard import formatting
from workcraft.dashboard.options import DashboardOptions
from workcraft.dashboard.snapshot import Snapshot
from workcraft.overview import QueueStats, last_line

__all__ = ["PACKAGE_DIR", "STATIC_DIR", "DashboardContext", "make_environment", "render"]

PACKAGE_DIR = Path(__file__).resolve().parent
STATIC_DIR = PACKAGE_DIR / "static"
TEMPLATE_DIR = PACKAGE_DIR / "templates"

NAV = (
    ("overview", "/", "Overview"),
    ("peons", "/peons", "Peons"),
    ("tasks", "/tasks", "Tasks"),
    ("schedules", "/schedules", "Schedules"),
)


def _static_versions() -> dict[str, str]:
    """A content hash per static file, for cache-busting URLs."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:12]
        for p in STATIC_DIR.iterdir()
        if p.is_file()
    }


def make_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        age=formatting.age,
        duration=formatting.duration,
        when=formatting.when,
        number=formatting.number,
        percent=formatting.percent,
        pretty_json=formatting.pretty_json,
        short_id=formatting.short_id,
        path_segment=formatting.path_segment,
        seconds_until=formatting.seconds_until,
        last_line=last_line,
    )
    versions = _static_versions()

    def static(name: str) -> str:
        return f"/static/{formatting.path_segment(name)}?v={versions.get(name, '0')}"

    env.globals.update(static=static, nav=NAV)
    return env


@dataclass(frozen=True)
class DashboardContext:
    """What every request handler needs; one per app, kept in ``app.state.ctx``."""

    cfg: DBConfig
    settings: Settings
    options: DashboardOptions
    templates: Environment
    # Background reads (the overview's counts, see snapshot.py).
    readers: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=2, thread_name_prefix="wc-dash")
    )
    queue_counts: Snapshot[list[QueueStats]] = field(init=False)

    def __post_init__(self) -> None:
        refresh = self.options.refresh_seconds
        counts = Snapshot(
            functools.partial(overview.read, self.cfg, overview.queue_stats),
            self.readers,
            # Fresh enough for one refresh of an open page; never older than two.
            fresh_for=min(1.0, refresh),
            max_stale=2 * refresh,
        )
        object.__setattr__(self, "queue_counts", counts)  # a frozen dataclass


def context_of(request: Request) -> DashboardContext:
    ctx: DashboardContext = request.app.state.ctx
    return ctx


def render(
    request: Request,
    template: str,
    *,
    title: str,
    section: str,
    status_code: int = 200,
    **values: Any,
) -> HTMLResponse:
    """A whole page, or with ``?partial=1`` only its live region (for the refresh)."""
    ctx = context_of(request)
    html = ctx.templates.get_template(template).render(
        title=title,
        section=section,
        partial=request.query_params.get("partial") == "1",
        actions=ctx.options.actions,
        refresh_ms=int(ctx.options.refresh_seconds * 1000),
        database=ctx.cfg.database,
        server=f"{ctx.cfg.host}:{ctx.cfg.port}",
        **values,
    )
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})
