"""The dashboard in a real headless Chromium, against a real database with real peons.

One module-wide scenario: a peon runs tasks that succeed and fail, a task whose name,
queue and arguments are XSS payloads waits in a queue nobody serves. Two dashboards
serve it: one read-only, one with actions and a token.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from typing import Any

import pytest

from tests.dashboard.conftest import TOKEN, DashboardProcess, Tab, start_peon
from tests.helpers import query, scalar, wait_for
from tests.peons import PeonFactory
from workcraft import Workcraft
from workcraft.config import DBConfig

XSS_NAME = "<img src=x onerror=window.__xss=1>"
XSS_QUEUE = "<script>window.__xss=2</script>"
XSS_ARGS = ["<img src=x onerror=window.__xss=3>", "<script>window.__xss=4</script>"]
XSS_KWARGS = {"note": "</pre><svg onload=window.__xss=5>"}
PARKED = "parked"  # a queue no peon serves: its tasks wait, counts stay put


@dataclass
class Scenario:
    cfg: DBConfig
    app: Workcraft
    failing: str
    xss: str
    worker: Any


@pytest.fixture(scope="module")
def scenario(db_config: DBConfig, module_peons: PeonFactory) -> Scenario:
    app = Workcraft(db_config=db_config)
    worker = start_peon(module_peons, "dash-worker", "--queues=DEFAULT,emails")
    done = [app.send_task_sync("add", [i, i]) for i in range(12)]
    failing = [app.send_task_sync("boom", [i], queue="emails") for i in range(3)]
    xss = app.send_task_sync(XSS_NAME, XSS_ARGS, XSS_KWARGS, queue=XSS_QUEUE)
    for i in range(4):
        app.send_task_sync("add", [i, 0], queue=PARKED)
    for task_id in done:
        assert app.get_result_sync(task_id, timeout=60) is not None
    wait_for(
        lambda: all(app.status(t) == "FAILURE" for t in failing),
        60,
        message=worker.log,
    )
    return Scenario(db_config, app, failing[-1], xss, worker)


@pytest.fixture(scope="module")
def read_only(scenario: Scenario, start_dashboard: Any) -> DashboardProcess:
    dashboard: DashboardProcess = start_dashboard("--refresh=0.5")
    return dashboard


@pytest.fixture(scope="module")
def with_actions(scenario: Scenario, start_dashboard: Any) -> DashboardProcess:
    dashboard: DashboardProcess = start_dashboard(
        "--refresh=0.5", "--actions=True", env={"WK_DASHBOARD_TOKEN": TOKEN}
    )
    return dashboard


def db_counts(cfg: DBConfig) -> dict[tuple[str, str], int]:
    rows = query(cfg, "SELECT queue, status, COUNT(*) AS n FROM bountyboard GROUP BY 1, 2")
    return {(r.queue, r.status): int(r.n) for r in rows}


def page_counts(tab: Tab) -> dict[tuple[str, str], int]:
    cells = tab.page.eval_on_selector_all(
        "#queues tbody td[data-status]",
        "cells => cells.map(c => [c.closest('tr').dataset.queue, c.dataset.status, c.textContent])",
    )
    return {(q, s): int(text.strip().replace(",", "")) for q, s, text in cells}


def test_overview_shows_the_counts_in_the_database(
    scenario: Scenario, read_only: DashboardProcess, tab: Tab
) -> None:
    def matches() -> dict[tuple[str, str], int] | None:
        expected = db_counts(scenario.cfg)
        tab.page.goto(read_only.url + "/")
        shown = page_counts(tab)
        return shown if {k: v for k, v in shown.items() if v} == expected else None

    # Polled: a periodic tick may add a task between the two reads.
    shown = wait_for(matches, 30, message="the overview's counts never matched the table")
    assert shown[("emails", "FAILURE")] == 3 and shown[("DEFAULT", "SUCCESS")] == 12
    assert tab.page.locator("figure.chart svg rect.ok").count() == 60  # one per minute
    tab.screenshot("overview")

    # New tasks appear without a reload: the page refreshes its live region in place.
    tab.page.evaluate("window.__sameDocument = true")
    for i in range(5):
        scenario.app.send_task_sync("add", [i, 1], queue="late-arrivals")
    tab.page.wait_for_selector(
        '#queues tr[data-queue="late-arrivals"] td[data-status="PENDING"] >> text="5"'
    )
    assert tab.page.evaluate("window.__sameDocument") is True
    assert tab.errors == []


def test_a_failed_task_shows_its_traceback(
    scenario: Scenario, read_only: DashboardProcess, tab: Tab
) -> None:
    tab.page.goto(read_only.url + "/tasks?status=FAILURE&queue=emails")
    rows = tab.page.locator("#tasks tbody tr")
    assert rows.count() == 3
    assert "ValueError: dashboard boom" in rows.first.locator(".error-line").inner_text()
    rows.first.locator("a").first.click()
    tab.page.wait_for_selector("#task-error")
    traceback = tab.page.inner_text("#task-error")
    assert traceback.startswith("Traceback (most recent call last):")
    assert 'raise ValueError(f"dashboard boom {n}")' in traceback
    assert traceback.rstrip().endswith("ValueError: dashboard boom 2")
    assert tab.page.inner_text("#task-status") == "FAILURE"
    assert tab.page.inner_text("#task-peon") == "dash-worker"
    tab.screenshot("task-detail-traceback")
    assert tab.errors == []


def test_xss_payloads_in_a_task_render_as_text(
    scenario: Scenario, read_only: DashboardProcess, tab: Tab
) -> None:
    page = tab.page
    page.goto(f"{read_only.url}/tasks/{scenario.xss}")
    assert page.inner_text(".task-name") == XSS_NAME
    args = page.inner_text("#task-args")
    for payload in XSS_ARGS:
        assert payload in args
    assert XSS_KWARGS["note"] in page.inner_text("#task-kwargs")
    assert XSS_QUEUE in page.inner_text(".task-head")
    tab.screenshot("task-detail-xss")
    # The queue and name are shown on the overview and the task list too.
    page.goto(read_only.url + "/")
    assert page.locator(f'#queues tr[data-queue="{XSS_QUEUE}"] th a').inner_text() == XSS_QUEUE
    page.goto(read_only.url + "/tasks")
    assert XSS_NAME in page.inner_text("#tasks")
    for path in (f"/tasks/{scenario.xss}", "/", "/tasks"):
        # goto returns after the load event: an injected script would have run, and an
        # injected image's error (or an svg's load) handler fired, before it
        page.goto(read_only.url + path, wait_until="load")
        assert page.evaluate("typeof window.__xss") == "undefined"
        assert page.locator("main img, main script, main svg[onload]").count() == 0
    assert tab.errors == []


def test_a_dead_peon_is_marked(
    scenario: Scenario, read_only: DashboardProcess, module_peons: PeonFactory, tab: Tab
) -> None:
    victim = start_peon(module_peons, "dash-victim", "--queues=nothing-here")
    stopped = start_peon(module_peons, "dash-stopped", "--queues=nothing-here")
    tab.page.goto(read_only.url + "/peons")
    tab.page.wait_for_selector('tr[data-peon="dash-victim"][data-health="ok"]')
    victim.signal(signal.SIGKILL)
    victim.wait()
    stopped.signal(signal.SIGTERM)
    stopped.wait()
    # No reload: the page updates itself as the victim goes late, then dead.
    dead = tab.page.wait_for_selector('tr[data-peon="dash-victim"][data-health="dead"]')
    assert dead is not None and "dead" in dead.inner_text().lower()
    assert "badge-dead" in (dead.inner_html() or "")
    assert tab.page.get_attribute('tr[data-peon="dash-stopped"]', "data-health") == "offline"
    assert tab.page.get_attribute('tr[data-peon="dash-worker"]', "data-health") == "ok"
    # The database has not declared it OFFLINE yet: the dashboard noticed first.
    assert scalar(scenario.cfg, "SELECT status FROM peon WHERE id = 'dash-victim'") != "OFFLINE"
    tab.screenshot("peons-dead")
    tab.page.goto(read_only.url + "/")
    assert "1 dead" in tab.page.inner_text("section.summary")
    assert tab.errors == []


def test_schedules_show_next_and_last_run(
    scenario: Scenario, read_only: DashboardProcess, tab: Tab
) -> None:
    tab.page.goto(read_only.url + "/schedules")
    row = tab.page.locator('tr[data-schedule="dashboard-tick"]')
    assert "every 3600s" in row.inner_text()
    assert "tick" in row.inner_text()
    tab.screenshot("schedules")


def test_read_only_shows_no_actions_and_refuses_them(
    scenario: Scenario, read_only: DashboardProcess, tab: Tab
) -> None:
    page = tab.page
    for path in ("/", f"/tasks/{scenario.failing}"):
        page.goto(read_only.url + path)
        assert page.locator("button[data-action]").count() == 0
        assert page.locator("#wk-token").count() == 0
    assert page.inner_text(".mode") == "read-only"
    answer = page.request.post(
        read_only.url + "/api/actions/retry",
        data={"task_id": scenario.failing},
        headers={"X-Workcraft-Token": TOKEN},
    )
    assert answer.status == 403 and "read-only" in answer.json()["error"]
    assert scenario.app.status(scenario.failing) == "FAILURE"


def test_actions_need_the_token_then_cancel_and_pause_work(
    scenario: Scenario, with_actions: DashboardProcess, tab: Tab
) -> None:
    page = tab.page
    waiting = scenario.app.send_task_sync("add", [40, 2], queue=PARKED)
    wrong = page.request.post(
        with_actions.url + "/api/actions/cancel",
        data={"task_id": waiting},
        headers={"X-Workcraft-Token": "wrong-token-of-some-length"},
    )
    assert wrong.status == 403 and "token" in wrong.json()["error"]
    missing = page.request.post(with_actions.url + "/api/actions/cancel", data={"task_id": waiting})
    assert missing.status == 403
    assert scenario.app.status(waiting) == "PENDING"

    page.goto(f"{with_actions.url}/tasks/{waiting}")
    page.click('button[data-action="cancel"]')  # no token typed yet: refused in the page
    assert "token" in page.inner_text("#wk-message")
    assert scenario.app.status(waiting) == "PENDING"
    page.fill("#wk-token", TOKEN)
    page.click('button[data-action="cancel"]')
    page.wait_for_selector('#task-status >> text="CANCELLED"')
    assert "cancelled" in page.inner_text("#wk-message")
    assert scenario.app.status(waiting) == "CANCELLED"
    tab.screenshot("task-cancelled")

    # The token is kept for the tab: pause the parked queue from the overview.
    page.goto(with_actions.url + "/")
    page.click(f'#queues tr[data-queue="{PARKED}"] button[data-action="pause"]')
    page.wait_for_selector(f'#queues tr[data-queue="{PARKED}"] .badge-paused')
    assert PARKED in scenario.app.paused_queues()
    page.click(f'#queues tr[data-queue="{PARKED}"] button[data-action="resume"]')
    page.wait_for_selector(f'#queues tr[data-queue="{PARKED}"] button[data-action="pause"]')
    assert PARKED not in scenario.app.paused_queues()
    assert tab.errors == []
    # the token was given by environment: it is in no line the dashboard printed or logged
    assert TOKEN not in with_actions.log()
    assert "dashboard action cancel" in with_actions.log()
