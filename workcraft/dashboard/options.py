"""How the dashboard is started: address, read-only or actions, the action token.

Pure Python (no web framework imported), so the CLI can validate flags and explain a
missing extra before anything heavy is loaded.
"""

from __future__ import annotations

import ipaddress
import math
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from workcraft.config import ConfigError

__all__ = [
    "MIN_TOKEN_LENGTH",
    "TOKEN_ENV",
    "DashboardError",
    "DashboardOptions",
    "is_loopback",
    "parse_flag",
    "resolve_token",
]

TOKEN_ENV = "WK_DASHBOARD_TOKEN"
# A token guards writes to the task table over HTTP: short ones are guessable.
MIN_TOKEN_LENGTH = 16
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost"})


class DashboardError(ConfigError):
    """The dashboard cannot start as asked. The message names the problem and the fix."""


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class DashboardOptions:
    """What ``python -m workcraft dashboard`` was asked to do. The token never shows in
    ``repr``."""

    host: str = "127.0.0.1"
    port: int = 8080
    actions: bool = False
    token: str | None = field(default=None, repr=False)
    refresh_seconds: float = 5.0

    def __post_init__(self) -> None:
        if not self.host or any(c.isspace() for c in self.host):
            raise DashboardError(f"--host {self.host!r} is not a host name or address")
        if isinstance(self.port, bool) or not isinstance(self.port, int):
            raise DashboardError(f"--port must be a whole number, got {self.port!r}")
        if not 0 <= self.port < 65536:
            raise DashboardError(f"--port {self.port} is not a TCP port (0-65535; 0 picks one)")
        if not isinstance(self.actions, bool):
            raise DashboardError(f"--actions must be True or False, got {self.actions!r}")
        refresh = self.refresh_seconds
        if isinstance(refresh, bool) or not isinstance(refresh, int | float):
            raise DashboardError(f"--refresh must be a number of seconds, got {refresh!r}")
        if not math.isfinite(refresh) or not 0.2 <= refresh <= 3600:
            raise DashboardError(
                f"--refresh must be between 0.2 and 3600 seconds, got {self.refresh_seconds!r}"
            )
        if self.actions and not self.token:
            raise DashboardError(
                f"--actions needs a token: set {TOKEN_ENV} (or pass --token) to a secret of "
                f"at least {MIN_TOKEN_LENGTH} characters"
            )
        if self.token is not None and len(self.token) < MIN_TOKEN_LENGTH:
            raise DashboardError(
                f"the action token is {len(self.token)} characters long; use at least "
                f"{MIN_TOKEN_LENGTH} (e.g. python -c 'import secrets; "
                "print(secrets.token_urlsafe(24))')"
            )

    def __repr__(self) -> str:
        token = "None" if self.token is None else "'***'"
        return (
            f"DashboardOptions(host={self.host!r}, port={self.port}, actions={self.actions}, "
            f"token={token}, refresh_seconds={self.refresh_seconds})"
        )


def parse_flag(value: object, flag: str) -> bool:
    """A yes/no flag as typed: fire turns ``--actions=false`` into the *string* "false",
    which Python would call true, so strings are read by what they say."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise DashboardError(f"{flag} must be True or False, got {value!r}")


def resolve_token(
    flag: str | None,
    *,
    actions: bool,
    interactive: bool,
    env: Mapping[str, str] | None = None,
) -> tuple[str | None, bool]:
    """The action token and whether it was generated here.

    ``--token`` wins over ``WK_DASHBOARD_TOKEN``. With actions on and neither given,
    a token is generated only when a person watches the terminal (``interactive``):
    under a supervisor the terminal is a log file, and a token must never land in one.
    """
    if not actions:
        return None, False  # read-only: a token lying around in the environment is unused
    values = os.environ if env is None else env
    token = flag if flag not in (None, "") else values.get(TOKEN_ENV) or None
    if token is not None:
        return str(token), False
    if not interactive:
        raise DashboardError(
            f"--actions needs a token and none was given: set {TOKEN_ENV} to a secret of at "
            f"least {MIN_TOKEN_LENGTH} characters (a token is generated and shown only when "
            "the dashboard is started from a terminal)"
        )
    return secrets.token_urlsafe(24), True
