"""Where workcraft gets its settings from.

Two kinds of configuration, two sources:

* :class:`DBConfig` says how to reach the database. It comes from ``WK_DB_*``
  environment variables, a ``.env`` file in the working directory, a URL, or plain
  arguments.
* :class:`Settings` says how the system behaves (heartbeats, polling, maintenance
  intervals). It comes from ``workcraft.config.json`` in the working directory, or
  the file named by ``WK_CONFIG_FILE``.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from dotenv import dotenv_values, find_dotenv

__all__ = [
    "CONFIG_FILE_ENV",
    "CONFIG_FILE_NAME",
    "ConfigError",
    "DBConfig",
    "Settings",
    "get_db_config",
    "load_settings",
]

# Where `python -m workcraft devdb` keeps its private server, unless told otherwise.
DEV_DB_DIR = ".workcraft/db"

CONFIG_FILE_NAME = "workcraft.config.json"
CONFIG_FILE_ENV = "WK_CONFIG_FILE"

_DB_ENV_KEYS = (
    "WK_DB_HOST",
    "WK_DB_PORT",
    "WK_DB_USER",
    "WK_DB_PASS",
    "WK_DB_NAME",
    "WK_DB_USE_SSL",
    "WK_DB_SSL_PATH",
)
# Database names end up in DDL, where they cannot be bound as parameters: this
# pattern is the one gate every such name passes.
_DATABASE_NAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


class ConfigError(ValueError):
    """A setting is missing or wrong. The message names the setting and the fix."""


@dataclass(frozen=True)
class DBConfig:
    """How to reach the database. The password never appears in ``repr``."""

    host: str = "127.0.0.1"
    port: int = 3306
    user: str = "root"
    password: str | None = field(default=None, repr=False)
    database: str = "workcraft"
    use_ssl: bool = False
    ssl_path: str | None = None

    def __post_init__(self) -> None:
        if not _DATABASE_NAME.match(self.database):
            raise ConfigError(
                f"database name {self.database!r} is not allowed: use 1-64 letters, "
                "digits or underscores (WK_DB_NAME / db_name)"
            )
        if not isinstance(self.port, int) or not 0 < self.port < 65536:
            raise ConfigError(f"port {self.port!r} is not a TCP port (WK_DB_PORT / db_port)")
        if not self.host:
            raise ConfigError("database host is empty (WK_DB_HOST / db_host)")
        if self.ssl_path and not Path(self.ssl_path).exists():
            raise ConfigError(
                f"WK_DB_SSL_PATH / db_ssl_path {self.ssl_path!r} does not exist: point it "
                "at the CA certificate file, or at a folder holding ca.pem"
            )

    def __repr__(self) -> str:
        secret = "None" if self.password is None else "'***'"
        return (
            f"DBConfig(host={self.host!r}, port={self.port}, user={self.user!r}, "
            f"password={secret}, database={self.database!r}, use_ssl={self.use_ssl}, "
            f"ssl_path={self.ssl_path!r})"
        )

    def describe(self) -> str:
        """``user@host:port/database``: safe for logs and error messages."""
        return f"{self.user}@{self.host}:{self.port}/{self.database}"

    def with_database(self, database: str) -> DBConfig:
        return replace(self, database=database)

    @classmethod
    def from_url(cls, url: str) -> DBConfig:
        """Parse ``mysql://user:pass@host:port/db?ssl_ca=/path`` (any ``mysql+driver``)."""
        parts = urlsplit(url)
        if not parts.scheme.startswith(("mysql", "mariadb")):
            raise ConfigError(
                "database URL must start with mysql:// or mysql+pymysql:// "
                f"(got scheme {parts.scheme!r})"
            )
        query = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p)
        ssl_path = unquote(query["ssl_ca"]) if "ssl_ca" in query else None
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 3306,
            user=unquote(parts.username or "root"),
            password=unquote(parts.password) if parts.password is not None else None,
            database=parts.path.lstrip("/") or "workcraft",
            use_ssl=ssl_path is not None or _parse_bool(query.get("ssl", ""), "ssl"),
            ssl_path=ssl_path,
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str | None] | None = None) -> DBConfig:
        """Read ``WK_DB_*`` from ``env`` (default: ``.env`` in the cwd, then the process env).

        Values from the process environment win over the ``.env`` file, so a deployment
        can override one key without editing the file.
        """
        values = _read_env() if env is None else dict(env)
        present = [k for k in _DB_ENV_KEYS if values.get(k) is not None]
        if not present:
            raise ConfigError(
                "no database settings found: create a .env file in the working directory "
                "with WK_DB_HOST, WK_DB_PORT, WK_DB_USER, WK_DB_PASS and WK_DB_NAME, export "
                "them, or pass the connection as arguments (read_from_env=False)"
            )
        if values.get("WK_DB_PASS") is None:
            raise ConfigError(
                "WK_DB_PASS is missing from .env and the environment: add WK_DB_PASS=... "
                "(write WK_DB_PASS= with nothing after it for an account without a password)"
            )
        port_text = values.get("WK_DB_PORT") or "3306"
        try:
            port = int(port_text)
        except ValueError:
            raise ConfigError(f"WK_DB_PORT must be a number, got {port_text!r}") from None
        return cls(
            host=values.get("WK_DB_HOST") or "127.0.0.1",
            port=port,
            user=values.get("WK_DB_USER") or "root",
            password=values.get("WK_DB_PASS"),
            database=values.get("WK_DB_NAME") or "workcraft",
            use_ssl=_parse_bool(values.get("WK_DB_USE_SSL") or "", "WK_DB_USE_SSL"),
            ssl_path=values.get("WK_DB_SSL_PATH") or None,
        )


def get_db_config() -> DBConfig:
    """The connection settings from ``.env`` in the working directory and ``WK_DB_*``."""
    return DBConfig.from_env()


def _read_env() -> dict[str, str | None]:
    # find_dotenv() without usecwd searches from the *calling file's* folder, so an
    # installed package would never see the user's .env: search from the cwd.
    path = find_dotenv(usecwd=True)
    values: dict[str, str | None] = dict(dotenv_values(path)) if path else {}
    values.update({k: v for k, v in os.environ.items() if k.startswith("WK_")})
    return values


def _parse_bool(text: str, name: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false (or empty), got {text!r}")


@dataclass(frozen=True)
class Settings:
    """Behaviour settings, as written in ``workcraft.config.json``.

    Each field's ``key`` is the JSON key. ``DB_SETUP_*`` settings are baked into the
    database's procedures and events by ``setup_database_tables``; the others are read
    by each peon at start.
    """

    peon_heartbeat_interval: float = field(
        default=5.0, metadata={"key": "DB_PEON_HEARTBEAT_INTERVAL", "min": 0.05}
    )
    polling_interval: float = field(
        default=1.0, metadata={"key": "DB_POLLING_INTERVAL", "min": 0.01}
    )
    # With wake-up hints on, an idle peon polls this seldom: the hints bring new work at
    # once, and this poll only catches a hint that was lost.
    fallback_polling_interval: float = field(
        default=5.0, metadata={"key": "DB_PEON_FALLBACK_POLLING_INTERVAL", "min": 0.01}
    )
    wake_hints: bool = field(default=True, metadata={"key": "DB_PEON_WAKE_HINTS"})
    # Where a peon listens for hints, as senders should reach it: "" (the address this
    # host uses to reach the database, any free port), "HOST", or "HOST:PORT".
    wake_address: str = field(default="", metadata={"key": "DB_PEON_WAKE_ADDRESS"})
    peon_shutdown_grace_seconds: float = field(
        default=30.0, metadata={"key": "DB_PEON_SHUTDOWN_GRACE_SECONDS", "min": 0.0}
    )
    task_timeout_seconds: float = field(
        default=0.0, metadata={"key": "DB_PEON_TASK_TIMEOUT_SECONDS", "min": 0.0}
    )
    backoff_multiplier_seconds: float = field(
        default=30.0, metadata={"key": "DB_SETUP_BACKOFF_MULTIPLIER_SECONDS", "min": 0.0}
    )
    backoff_max_seconds: float = field(
        default=3600.0, metadata={"key": "DB_SETUP_BACKOFF_MAX_SECONDS", "min": 0.0}
    )
    self_correct_interval: float = field(
        default=10.0, metadata={"key": "DB_SETUP_RUN_SELF_CORRECT_TASK_INTERVAL", "min": 1.0}
    )
    reopen_failed_interval: float = field(
        default=10.0, metadata={"key": "DB_SETUP_RUN_REOPEN_FAILED_TASK_INTERVAL", "min": 1.0}
    )
    dead_peon_timeout: float = field(
        default=60.0,
        metadata={"key": "DB_SETUP_WAIT_TIME_BEFORE_WORKER_DECLARED_DEAD", "min": 0.1},
    )
    check_dead_peon_interval: float = field(
        default=10.0, metadata={"key": "DB_SETUP_CHECK_DEAD_WORKER_INTERVAL", "min": 1.0}
    )
    retention_success_days: float = field(
        default=0.0, metadata={"key": "DB_SETUP_RETENTION_SUCCESS_DAYS", "min": 0.0}
    )
    retention_failure_days: float = field(
        default=0.0, metadata={"key": "DB_SETUP_RETENTION_FAILURE_DAYS", "min": 0.0}
    )
    purge_interval: float = field(
        default=60.0, metadata={"key": "DB_SETUP_RUN_PURGE_HISTORY_INTERVAL", "min": 1.0}
    )
    max_peon_deaths_per_task: int = field(
        default=5, metadata={"key": "DB_SETUP_MAX_PEON_DEATHS_PER_TASK", "min": 1}
    )

    @classmethod
    def keys(cls) -> dict[str, str]:
        """JSON key -> field name."""
        return {f.metadata["key"]: f.name for f in fields(cls)}

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str = "settings") -> Settings:
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: expected a JSON object of settings")
        keys = cls.keys()
        unknown = [k for k in data if k not in keys]
        if unknown:
            hints = []
            for key in unknown:
                close = difflib.get_close_matches(str(key), keys, n=1)
                hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            raise ConfigError(
                f"{source}: unknown setting {', '.join(hints)}; valid settings are "
                + ", ".join(sorted(keys))
            )
        values: dict[str, Any] = {}
        by_name = {f.name: f for f in fields(cls)}
        for key, value in data.items():
            spec = by_name[keys[key]]
            values[spec.name] = _check_setting(
                source, key, value, spec.type, spec.metadata.get("min", 0)
            )
        return cls(**values)

    def to_json_dict(self) -> dict[str, float | int | bool | str]:
        return {f.metadata["key"]: getattr(self, f.name) for f in fields(self)}


def _check_setting(
    source: str, key: str, value: Any, kind: Any, minimum: float
) -> float | int | bool | str:
    if kind in (bool, "bool"):
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: {key} must be true or false, got {value!r}")
        return value
    if kind in (str, "str"):
        if not isinstance(value, str):
            raise ConfigError(f"{source}: {key} must be a string, got {value!r}")
        return value
    wants_int = kind in (int, "int")
    if isinstance(value, bool) or not isinstance(value, int | float):
        expected = "a whole number" if wants_int else "a number of seconds"
        raise ConfigError(f"{source}: {key} must be {expected}, got {value!r}")
    if wants_int and not float(value).is_integer():
        raise ConfigError(f"{source}: {key} must be a whole number, got {value!r}")
    if not math.isfinite(value) or value < minimum:
        raise ConfigError(f"{source}: {key} must be at least {minimum:g}, got {value!r}")
    return int(value) if wants_int else float(value)


def load_settings(path: str | Path | None = None) -> Settings:
    """Read settings from ``path``, else ``$WK_CONFIG_FILE``, else ``./workcraft.config.json``.

    A missing default file means "all defaults"; a missing file that was asked for
    by name is an error.
    """
    explicit = path if path is not None else os.environ.get(CONFIG_FILE_ENV)
    file = Path(explicit) if explicit else Path.cwd() / CONFIG_FILE_NAME
    if not file.exists():
        if explicit:
            raise ConfigError(
                f"settings file {str(file)!r} does not exist (named by "
                f"{'the path argument' if path is not None else CONFIG_FILE_ENV})"
            )
        return Settings()
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{file}: not valid JSON ({exc})") from None
    return Settings.from_mapping(data, source=str(file))
