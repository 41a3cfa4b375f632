"""Errors a request can end in, and the pages (or JSON) that explain them.

Every message says what is wrong and what to do. None may carry a secret: database
errors are shown through :func:`workcraft.db.explain`'s password-free wording.
"""

from __future__ import annotations

import pymysql
from loguru import logger
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from workcraft.dashboard.render import context_of, render
from workcraft.db import DatabaseError, explain
from workcraft.overview import FilterError

__all__ = ["BadRequest", "NotFound", "exception_handlers"]


class BadRequest(ValueError):
    """A filter, cursor or form value is wrong (HTTP 400)."""


class NotFound(LookupError):
    """No such task, or no such page (HTTP 404)."""


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _problem(request: Request, status: int, heading: str, message: str) -> Response:
    if _wants_json(request):
        return JSONResponse({"ok": False, "error": message}, status_code=status)
    return render(
        request,
        "error.html",
        title=heading,
        section="",
        status_code=status,
        heading=heading,
        message=message,
    )


def _bad_request(request: Request, exc: Exception) -> Response:
    return _problem(request, 400, "Bad request", str(exc))


def _not_found(request: Request, exc: Exception) -> Response:
    return _problem(request, 404, "Not found", str(exc))


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return _problem(
            request, 404, "Not found", f"there is no page at {request.url.path}: use the menu"
        )
    if exc.status_code == 405:
        return _problem(request, 405, "Method not allowed", f"{request.method} is not used here")
    return _problem(request, exc.status_code, "Error", str(exc.detail))


def _database_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, DatabaseError):
        exc = explain(exc, context_of(request).cfg)
    logger.warning("dashboard: {} {}: {}", request.method, request.url.path, exc)
    return _problem(request, 503, "Database unavailable", str(exc))


exception_handlers = {
    BadRequest: _bad_request,
    FilterError: _bad_request,
    NotFound: _not_found,
    HTTPException: _http_error,
    DatabaseError: _database_error,
    pymysql.err.Error: _database_error,
}
