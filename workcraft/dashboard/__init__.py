"""The web dashboard: ``python -m workcraft dashboard`` (extra ``workcraft[dashboard]``).

Importing this package loads no web framework, so the CLI can check flags and name
the missing extra before anything else; :func:`serve` loads the app itself.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

from workcraft.config import DBConfig, Settings
from workcraft.dashboard.options import (
    TOKEN_ENV,
    DashboardError,
    DashboardOptions,
    parse_flag,
    resolve_token,
)

__all__ = ["TOKEN_ENV", "DashboardError", "DashboardOptions", "serve"]

_EXTRA_MODULES = ("starlette", "uvicorn", "jinja2")


def _require_extra() -> None:
    missing = [m for m in _EXTRA_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise DashboardError(
            f"the dashboard needs its optional dependencies ({', '.join(missing)} not "
            "installed): pip install 'workcraft[dashboard]'"
        )


def serve(
    cfg: DBConfig,
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    actions: bool | str = False,
    token: str | None = None,
    refresh_seconds: float = 5.0,
    interactive: bool = False,
    announce: Callable[[str], None],
) -> None:
    """Serve the dashboard until SIGINT/SIGTERM.

    Arguments come as typed on the command line and are checked here (the CLI stays
    thin). ``announce`` receives the lines a person starting it needs (the address; a
    generated token, once). They are never logged: a token in a log is a leaked token.
    """
    wants_actions = parse_flag(actions, "--actions")
    secret, generated = resolve_token(token, actions=wants_actions, interactive=interactive)
    options = DashboardOptions(
        host=str(host),
        port=port,
        actions=wants_actions,
        token=secret,
        refresh_seconds=refresh_seconds,
    )
    _require_extra()
    from workcraft.dashboard.server import run

    def listening(url: str) -> None:
        mode = "actions ON (token required)" if options.actions else "read-only"
        announce(f"workcraft dashboard on {url} ({mode}) for {cfg.describe()}")
        if generated and options.token is not None:
            announce(f"action token (shown once, not stored): {options.token}")
            announce(f"open with the token filled in: {url}#token={options.token}")

    run(cfg, settings, options, on_listening=listening)
