"""Real-database fixtures for the whole test-suite.

Where the database comes from, first match wins:

1. ``WK_TEST_DB_URL`` (``mysql+pymysql://root:pw@127.0.0.1:3306/x``): a server you run.
   The account must be allowed to create databases and users.
2. MySQL 8.4 in Docker via testcontainers, when a Docker engine answers.
3. A private MariaDB/MySQL from this machine's binaries (``workcraft.devdb``), kept
   in ``.workcraft/testdb``. A server already running there is reused; a server this
   suite started is stopped when the last test session using it ends.

With none of them available the database tests are skipped, except under CI
(``CI=true``), where they fail: CI must never silently skip the database.

Fixtures: ``db_server`` (session, admin DBConfig), ``test_settings`` (session, fast
Settings), ``db_config`` (module, a fresh set-up database), ``empty_database``
(function, a fresh database with no workcraft schema).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
from loguru import logger
from sqlalchemy import text

from tests.helpers import (
    TEST_DATABASE_PREFIX,
    drop_test_database,
    unique_database_name,
)
from workcraft import db, store
from workcraft.config import ConfigError, DBConfig, Settings
from workcraft.schema import setup_database

REPO_ROOT = Path(__file__).resolve().parent.parent
TEST_DATA_DIR = REPO_ROOT / ".workcraft" / "testdb"
MYSQL_IMAGE = "mysql:8.4"
_DEVDB_START_TIMEOUT = 120.0
_DOCKER_PING_TIMEOUT = 3


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1"}


def _unavailable(reason: str) -> NoReturn:
    if _in_ci():
        pytest.fail(f"no test database under CI: {reason}", pytrace=False)
    pytest.skip(f"no test database: {reason}")


def _check_server(cfg: DBConfig) -> str:
    with db.connect(cfg, with_database=False) as conn:
        return store.server_version(conn)


# ------------------------------------------------------------------------ sources


def _from_url(url: str) -> DBConfig:
    try:
        cfg = DBConfig.from_url(url)
        _check_server(cfg)
    except (ConfigError, db.DatabaseError) as exc:
        # An explicitly configured server that does not work is a mistake to fix,
        # never a reason to skip.
        pytest.fail(f"WK_TEST_DB_URL is set but unusable: {exc}", pytrace=False)
    return cfg


def _docker_answers() -> bool:
    try:
        import docker
    except ImportError:
        return False
    try:
        client = docker.from_env(timeout=_DOCKER_PING_TIMEOUT)
    except Exception:
        return False
    try:
        return bool(client.ping())
    except Exception:
        return False
    finally:
        with contextlib.suppress(Exception):
            client.close()


@contextlib.contextmanager
def _mysql_container() -> Iterator[DBConfig]:
    try:
        from testcontainers.community.mysql import MySqlContainer
    except ImportError:  # older testcontainers
        from testcontainers.mysql import MySqlContainer

    password = f"wct{secrets.token_hex(12)}"
    container = MySqlContainer(
        MYSQL_IMAGE, username="root", password=password, dbname="workcraft"
    ).with_command("--event-scheduler=ON")
    try:
        container.start()
    except Exception as exc:
        _unavailable(f"Docker answers but {MYSQL_IMAGE} did not start: {exc}")
    try:
        cfg = DBConfig(
            host=container.get_container_host_ip(),
            port=int(container.get_exposed_port(3306)),
            user="root",
            password=password,
            database="workcraft",
        )
        _check_server(cfg)
        yield cfg
    finally:
        db.close_pools()
        container.stop()


class _DevDBSessions:
    """Who uses the dev test server, so that only the last session stops it.

    ``sessions/<pid>`` marks a live pytest session; ``started-by-tests`` marks a server
    this suite started (one started by hand is never stopped by the suite). Both are
    read and written under an flock, so two sessions never race start against stop.
    """

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir.parent / f"{data_dir.name}.sessions"
        self.root.mkdir(parents=True, exist_ok=True)
        self.mine = self.root / str(os.getpid())
        self.owner_marker = self.root / "started-by-tests"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        with (self.root / "lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def others_alive(self) -> bool:
        for path in self.root.iterdir():
            if not path.name.isdigit() or path == self.mine:
                continue
            try:
                os.kill(int(path.name), 0)
            except ProcessLookupError:
                path.unlink(missing_ok=True)
                continue
            except PermissionError:
                pass
            return True
        return False


@contextlib.contextmanager
def _dev_database() -> Iterator[DBConfig]:
    try:
        from workcraft import devdb
    except ImportError as exc:
        _unavailable(f"workcraft.devdb cannot be imported ({exc})")

    sessions = _DevDBSessions(TEST_DATA_DIR)
    with sessions.locked():
        running = devdb.status(TEST_DATA_DIR)
        try:
            info = running or devdb.start(TEST_DATA_DIR, timeout=_DEVDB_START_TIMEOUT)
        except devdb.DevDBError as exc:
            _unavailable(f"the private dev database did not start: {exc}")
        if running is None:
            sessions.owner_marker.touch()
        sessions.mine.touch()
        cfg = DBConfig(
            host=info.host,
            port=info.port,
            user=info.user,
            password=info.password,
            database=info.database,
        )
        if not sessions.others_alive():
            _drop_leftover_databases(cfg)
    try:
        yield cfg
    finally:
        db.close_pools()
        with sessions.locked():
            sessions.mine.unlink(missing_ok=True)
            if sessions.owner_marker.exists() and not sessions.others_alive():
                devdb.stop(TEST_DATA_DIR)
                sessions.owner_marker.unlink(missing_ok=True)


def _drop_leftover_databases(admin: DBConfig) -> None:
    """Databases of earlier sessions that were killed before their teardown ran."""
    with db.connect(admin, with_database=False) as conn:
        names = [
            str(r[0])
            for r in conn.execute(
                text(
                    "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE :p"
                ),
                {"p": TEST_DATABASE_PREFIX.replace("_", r"\_") + "%"},
            )
        ]
    for name in names:
        logger.info("dropping leftover test database {}", name)
        drop_test_database(admin, name)


# ----------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def db_server() -> Iterator[DBConfig]:
    """An admin account on the test server; ``.database`` is only a placeholder."""
    url = os.environ.get("WK_TEST_DB_URL", "").strip()
    if url:
        cfg = _from_url(url)
        try:
            yield cfg
        finally:
            db.close_pools()
        return
    source = _mysql_container() if _docker_answers() else _dev_database()
    with source as cfg:
        yield cfg


@pytest.fixture(scope="session")
def test_settings() -> Settings:
    """Small intervals, so that the database's own events act within seconds."""
    return Settings(
        peon_heartbeat_interval=0.2,
        polling_interval=0.05,
        # Wake-up hints stay on, as in production: the suite runs on the fast path,
        # and anything that waits for a poll instead of a hint waits visibly longer.
        fallback_polling_interval=0.5,
        peon_shutdown_grace_seconds=5,
        backoff_multiplier_seconds=0.2,
        backoff_max_seconds=1,
        self_correct_interval=1,
        reopen_failed_interval=1,
        dead_peon_timeout=2,
        check_dead_peon_interval=1,
        purge_interval=1,
        max_peon_deaths_per_task=5,
    )


@pytest.fixture(scope="module")
def db_config(
    request: pytest.FixtureRequest, db_server: DBConfig, test_settings: Settings
) -> Iterator[DBConfig]:
    """A database of its own for each test module, set up with ``test_settings``."""
    cfg = db_server.with_database(unique_database_name(request.module.__name__))
    try:
        setup_database(cfg, test_settings)
        yield cfg
    finally:
        drop_test_database(db_server, cfg.database)


@pytest.fixture
def empty_database(request: pytest.FixtureRequest, db_server: DBConfig) -> Iterator[DBConfig]:
    """A freshly created database with nothing in it (no workcraft schema)."""
    cfg = db_server.with_database(unique_database_name(f"empty_{request.node.name}"))
    try:
        with db.connect(db_server, with_database=False) as conn:
            store.create_database(conn, cfg.database)
        yield cfg
    finally:
        drop_test_database(db_server, cfg.database)


def pytest_report_header(config: Any) -> str:
    if os.environ.get("WK_TEST_DB_URL"):
        return "workcraft test database: WK_TEST_DB_URL"
    return (
        f"workcraft test database: Docker {MYSQL_IMAGE} if it answers, "
        f"else devdb in {TEST_DATA_DIR}"
    )
