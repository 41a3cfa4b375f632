"""Retry, cancel, pause and resume from the dashboard: POST /api/actions/{action}.

Off unless the dashboard was started with ``--actions`` and a token. Each request
must be a same-origin JSON POST carrying the token in the ``X-Workcraft-Token``
header (see :mod:`workcraft.dashboard.security` for why that stops CSRF). The work
itself is done by the same client calls the CLI and the API use.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from loguru import logger
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from workcraft.core import Workcraft
from workcraft.dashboard.filters import parse_task_id
from workcraft.dashboard.problems import BadRequest, NotFound
from workcraft.dashboard.render import context_of
from workcraft.dashboard.security import TOKEN_HEADER, same_origin, token_matches
from workcraft.payload import check_name

__all__ = ["ACTIONS", "perform"]

_MAX_BODY = 16 * 1024


class Refused(Exception):
    """The action was understood and changed nothing (HTTP 409): the message says why."""


def _refused(status: int, message: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": message}, status_code=status)


def _cancel(app: Workcraft, body: dict[str, Any]) -> str:
    task_id = parse_task_id(_field(body, "task_id"))
    outcome = app.cancel(task_id)
    if outcome == "unknown":
        raise NotFound(f"no task has the id {task_id}")
    if outcome.startswith("finished"):
        status = outcome.partition(": ")[2]
        raise Refused(f"task {task_id} has already finished ({status}): nothing changed")
    if outcome == "stop_requested":
        return f"task {task_id} is running: its peon was asked to stop it"
    return f"task {task_id} cancelled: it will not run"


def _retry(app: Workcraft, body: dict[str, Any]) -> str:
    task_id = parse_task_id(_field(body, "task_id"))
    outcome = app.retry(task_id)
    if outcome == "unknown":
        raise NotFound(f"no task has the id {task_id}")
    if outcome == "refused: unique_key":
        raise Refused(f"task {task_id} not retried: another live task holds its unique_key")
    if outcome.startswith("refused"):
        status = outcome.partition(": ")[2]
        raise Refused(
            f"task {task_id} not retried: it is {status}; only FAILURE, INVALID, "
            "CANCELLED and EXPIRED tasks can be run again"
        )
    return f"task {task_id} requeued: it runs again as soon as a peon is free"


def _queue(body: dict[str, Any]) -> str:
    queue = _field(body, "queue")
    try:
        return check_name("queue", queue)
    except (TypeError, ValueError) as exc:
        raise BadRequest(str(exc)) from None


def _pause(app: Workcraft, body: dict[str, Any]) -> str:
    queue = _queue(body)
    app.pause_queue(queue)
    return f"queue {queue} paused: peons claim nothing from it until it is resumed"


def _resume(app: Workcraft, body: dict[str, Any]) -> str:
    queue = _queue(body)
    app.resume_queue(queue)
    return f"queue {queue} resumed"


ACTIONS: dict[str, Callable[[Workcraft, dict[str, Any]], str]] = {
    "cancel": _cancel,
    "retry": _retry,
    "pause": _pause,
    "resume": _resume,
}


def _field(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str):
        raise BadRequest(f"the request body needs {key!r} as a string")
    return value


async def _json_body(request: Request) -> dict[str, Any]:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise BadRequest("send the action as JSON (Content-Type: application/json)")
    raw = await request.body()
    if len(raw) > _MAX_BODY:
        raise BadRequest(f"the request body is {len(raw):,} bytes; actions take under 16 KiB")
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise BadRequest("the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest('the request body must be a JSON object, e.g. {"task_id": "..."}')
    return body


async def perform(request: Request) -> JSONResponse:
    ctx = context_of(request)
    if not ctx.options.actions or ctx.options.token is None:
        return _refused(
            403,
            "actions are off: this dashboard is read-only (start it with --actions and "
            "WK_DASHBOARD_TOKEN set to allow retry, cancel and pause)",
        )
    if not same_origin(request):
        return _refused(403, "refused: the request comes from a page of another site")
    if not token_matches(request.headers.get(TOKEN_HEADER), ctx.options.token):
        return _refused(403, f"missing or wrong action token (send it in {TOKEN_HEADER})")
    name = request.path_params["action"]
    action = ACTIONS.get(name)
    if action is None:
        return _refused(404, f"no action {name!r}: use one of {', '.join(ACTIONS)}")
    body = await _json_body(request)
    client = Workcraft(db_config=ctx.cfg)
    try:
        message = await run_in_threadpool(action, client, body)
    except Refused as exc:
        return _refused(409, str(exc))
    logger.info("dashboard action {}: {}", name, message)
    return JSONResponse({"ok": True, "message": message})
