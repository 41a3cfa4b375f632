"""Fixtures for the dashboard's tests: the dashboard as a real subprocess, real peons,
and a real headless Chromium (Debian's /usr/bin/chromium) driven by Playwright.

Without chromium or Playwright the browser tests skip locally and fail under CI
(``CI=true``), like the database tests. Screenshots go to artifacts/screenshots/.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tests.helpers import wait_for, wk_env
from tests.peons import PeonFactory
from workcraft.config import DBConfig, Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"
TASKAPPS = Path(__file__).resolve().parent / "taskapps"
APP = "dashboard_app.app"
CHROMIUM = Path(os.environ.get("WK_TEST_CHROMIUM", "/usr/bin/chromium"))
# As root in a container: no sandbox. The rest keep Chromium off the network, which
# this machine does not have (its background fetches would fail noisily).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = f"dashboard-test-{secrets.token_hex(12)}"
_ANNOUNCED = re.compile(r"workcraft dashboard on (http://\S+/) ")


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1"}


def _unavailable(reason: str) -> NoReturn:
    if _in_ci():
        pytest.fail(f"browser tests cannot run under CI: {reason}", pytrace=False)
    pytest.skip(f"browser tests skipped: {reason}")


@pytest.fixture(scope="session")
def test_settings(test_settings: Settings) -> Settings:
    """The suite's fast settings, but the database checks for dead peons only hourly.

    The dashboard marks a peon dead as soon as it is silent past the dead-peon timeout;
    the database then declares it OFFLINE within one check interval. A long interval
    keeps that first state on screen long enough to look at.
    """
    return replace(test_settings, check_dead_peon_interval=3600)


# ------------------------------------------------------------------ the dashboard


class DashboardProcess:
    """``python -m workcraft dashboard --port=0 ...``; its address is read from what it
    announces on stdout."""

    def __init__(self, env: Mapping[str, str], log_dir: Path, *args: str) -> None:
        self.env, self.args = dict(env), list(args)
        self.log_path = log_dir / f"dashboard-{secrets.token_hex(3)}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> DashboardProcess:
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "workcraft", "dashboard", "--port=0", *self.args],
                cwd=self.log_path.parent,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.url = wait_for(
            self._announced, 30, message=lambda: f"the dashboard never answered:\n{self.log()}"
        ).rstrip("/")
        return self

    def _announced(self) -> str | None:
        assert self.proc is not None
        assert self.proc.poll() is None, f"the dashboard exited:\n{self.log()}"
        match = _ANNOUNCED.search(self.log())
        return match.group(1) if match else None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)


@pytest.fixture(scope="module")
def dashboard_env(
    db_config: DBConfig, test_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    env = wk_env(db_config, test_settings, tmp_path_factory.mktemp("dashboard-env"))
    env.pop("WK_DASHBOARD_TOKEN", None)
    return env


@pytest.fixture(scope="module")
def start_dashboard(
    dashboard_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    """Start dashboards (extra flags, extra environment); all are stopped at the end."""
    started: list[DashboardProcess] = []
    log_dir = tmp_path_factory.mktemp("dashboard-logs")

    def start(*args: str, env: Mapping[str, str] | None = None) -> DashboardProcess:
        process = DashboardProcess({**dashboard_env, **(env or {})}, log_dir, *args)
        started.append(process)
        return process.start()

    try:
        yield start
    finally:
        for process in started:
            process.stop()


@pytest.fixture(scope="module")
def module_peons(
    db_config: DBConfig, dashboard_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PeonFactory]:
    """Real peons running tests/dashboard/taskapps/dashboard_app.py, for the module."""
    factory = PeonFactory(db_config, dashboard_env, tmp_path_factory.mktemp("peon-logs"))
    try:
        yield factory
    finally:
        factory.kill_all()


def start_peon(factory: PeonFactory, worker_id: str, *args: str) -> Any:
    return factory(worker_id, *args, workcraft_path=APP, cwd=TASKAPPS)


# ------------------------------------------------------------------- the browser


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.exists():
        _unavailable(
            f"{CHROMIUM} not found (Debian: apt-get install -y chromium; `make install` "
            "does it as root)"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[dev]')")
    return CHROMIUM


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        except Exception as exc:
            _unavailable(f"{chromium} does not start under Playwright: {exc}")
        try:
            yield launched
        finally:
            launched.close()


class Tab:
    """A fresh browser context and page, with what the page reported as errors (a CSP
    violation shows up there too)."""

    def __init__(self, browser: Any) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 860})
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        self.page.on(
            "console",
            lambda msg: self.errors.append(f"console: {msg.text}") if msg.type == "error" else None,
        )
        self.page.on("dialog", lambda dialog: dialog.accept())

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def tab(browser: Any) -> Iterator[Tab]:
    opened = Tab(browser)
    try:
        yield opened
    finally:
        opened.context.close()
