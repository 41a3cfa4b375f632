"""The dashboard as an ASGI app: routes, middleware, error pages.

Page handlers are plain (sync) functions: Starlette runs them in its thread pool,
where the synchronous SQLAlchemy calls of the read model belong.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from workcraft.config import DBConfig, Settings
from workcraft.dashboard import actions, pages, probes
from workcraft.dashboard.options import DashboardOptions
from workcraft.dashboard.problems import exception_handlers
from workcraft.dashboard.render import STATIC_DIR, DashboardContext, make_environment
from workcraft.dashboard.security import SecurityHeaders, allowed_hosts

__all__ = ["create_app"]


def create_app(cfg: DBConfig, settings: Settings, options: DashboardOptions) -> Starlette:
    routes = [
        Route("/", pages.overview_page, name="overview"),
        Route("/peons", pages.peons, name="peons"),
        Route("/tasks", pages.tasks, name="tasks"),
        # :path, because ids written into the table by hand may contain a '/'
        Route("/tasks/{task_id:path}", pages.task, name="task"),
        Route("/schedules", pages.schedules, name="schedules"),
        Route("/metrics", probes.metrics_endpoint, name="metrics"),
        Route("/healthz", probes.healthz, name="healthz"),
        Route("/favicon.ico", probes.no_icon, name="favicon"),
        Route("/api/actions/{action}", actions.perform, methods=["POST"], name="action"),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    middleware = [
        Middleware(SecurityHeaders),
        Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(options.host)),
    ]
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers=exception_handlers,
    )
    app.state.ctx = DashboardContext(
        cfg=cfg, settings=settings, options=options, templates=make_environment()
    )
    return app
