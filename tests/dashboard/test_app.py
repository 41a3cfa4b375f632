"""The dashboard app in-process (Starlette's TestClient) on a real database: every
page, bad input, security headers, the action endpoint's defences, pagination and
/metrics. No browser here; test_browser.py drives a real one."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from html import unescape

import pytest
from starlette.testclient import TestClient

from tests.dashboard.conftest import TOKEN
from tests.helpers import closed_port, execute, query, scalar
from workcraft import Workcraft
from workcraft.config import DBConfig, Settings
from workcraft.dashboard.app import create_app
from workcraft.dashboard.options import DashboardOptions
from workcraft.dashboard.security import CONTENT_SECURITY_POLICY, TOKEN_HEADER

BASE = "http://127.0.0.1"
TRACEBACK = "Traceback (most recent call last):\n  File \"x.py\", line 1\nKeyError: '<b>k</b>'\n"


@pytest.fixture(scope="module")
def seeded(db_config: DBConfig) -> dict[str, str]:
    """130 waiting tasks (no peon runs here) and one failure written by hand."""
    app = Workcraft(db_config=db_config)
    app.send_tasks_sync([{"task_name": "add", "task_args": [i, 1]} for i in range(120)])
    app.send_tasks_sync(
        [{"task_name": "mail", "task_args": [i], "queue": "other"} for i in range(10)]
    )
    failed = app.send_task_sync("explode", [1], queue="other")
    execute(
        db_config,
        "UPDATE bountyboard SET status = 'FAILURE', attempt = 1, worker_id = 'p1', "
        "started_at = NOW(6), finished_at = NOW(6) + INTERVAL 2 SECOND, error = :e "
        "WHERE id = :id",
        params={"e": TRACEBACK, "id": failed},
    )
    return {"failed": failed}


def _client(db_config: DBConfig, settings: Settings, options: DashboardOptions) -> TestClient:
    return TestClient(create_app(db_config, settings, options), base_url=BASE)


@pytest.fixture(scope="module")
def client(db_config: DBConfig, test_settings: Settings, seeded: dict[str, str]) -> TestClient:
    return _client(db_config, test_settings, DashboardOptions())


@pytest.fixture(scope="module")
def actor(
    db_config: DBConfig, test_settings: Settings, seeded: dict[str, str]
) -> Iterator[TestClient]:
    with _client(db_config, test_settings, DashboardOptions(actions=True, token=TOKEN)) as c:
        yield c


def _text(html: str) -> str:
    return unescape(re.sub(r"<[^>]+>", " ", html))


def _ids(html: str) -> list[str]:
    return [unescape(i) for i in re.findall(r'data-task="([^"]+)"', html)]


@pytest.mark.parametrize("path", ["/", "/peons", "/tasks", "/schedules", "/tasks/{failed}"])
def test_every_page_answers_with_strict_headers(
    client: TestClient, seeded: dict[str, str], path: str
) -> None:
    response = client.get(path.format(**seeded))
    assert response.status_code == 200, response.text
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    html = response.text
    # Scripts only from our own static file, and no inline event handlers in our markup.
    assert re.findall(r"<script(?![^>]*\bsrc=\"/static/)", html) == []
    assert re.findall(r"<[^>]+\son[a-z]+=", html) == []
    partial = client.get(path.format(**seeded), params={"partial": "1"}).text
    assert partial.startswith('<main id="live"') and "<html" not in partial


def test_task_detail_escapes_the_error_and_shows_timings(
    client: TestClient, seeded: dict[str, str]
) -> None:
    html = client.get(f"/tasks/{seeded['failed']}").text
    assert "KeyError: &#39;&lt;b&gt;k&lt;/b&gt;&#39;" in html
    assert "<b>k</b>" not in html
    assert re.search(r'id="task-duration">2.0 s<', html)


@pytest.mark.parametrize(
    ("query_string", "says"),
    [
        ("status=bogus", "is not a task status: use one of PENDING"),
        ("since=yesterday", "is not a time: write it as 2026-01-31"),
        ("since=2026-02-01&until=2026-01-01", "swap them"),
        ("since=2026-01-01T10:00%2B02:00", "has a time zone"),
        ("limit=0", "limit='0': give a whole number of rows from 1 to 500"),
        ("colour=red", "unknown filter 'colour'"),
        ("after=not%20a%20cursor!", "is not one a task list gave"),
        ("queue=%01x", "control characters"),
        ("id=", "the task id is empty"),
    ],
)
def test_bad_filters_are_400_pages_saying_what_to_fix(
    client: TestClient, query_string: str, says: str
) -> None:
    response = client.get(f"/tasks?{query_string}")
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert says in _text(response.text)


def test_unknown_things_are_404_pages(client: TestClient) -> None:
    missing = client.get("/tasks/01a20000-0000-7000-8000-000000000000")
    assert missing.status_code == 404
    assert "no task has the id 01a20000-0000-7000-8000-000000000000" in missing.text
    assert client.get("/no/such/page").status_code == 404
    assert client.get("/peons?x=1").status_code == 400


def test_id_search_opens_the_task(client: TestClient, seeded: dict[str, str]) -> None:
    response = client.get("/tasks", params={"id": f"  {seeded['failed']} "}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/tasks/{seeded['failed']}"


def test_keyset_pages_walk_every_row_once(client: TestClient, db_config: DBConfig) -> None:
    expected = [r.id for r in query(db_config, "SELECT id FROM bountyboard ORDER BY id DESC")]
    seen: list[str] = []
    url: str | None = "/tasks?limit=40"
    while url is not None:
        html = client.get(url).text
        seen += _ids(html)
        found = re.search(r'href="([^"]+)" rel="next"', html)
        url = unescape(found.group(1)) if found else None
    assert seen == expected


def test_filters_by_queue_status_name_and_time(
    client: TestClient, db_config: DBConfig, seeded: dict[str, str]
) -> None:
    assert len(_ids(client.get("/tasks?queue=other&limit=500").text)) == 11
    assert _ids(client.get("/tasks?status=FAILURE").text) == [seeded["failed"]]
    assert len(_ids(client.get("/tasks?name=mail&queue=other").text)) == 10
    assert _ids(client.get("/tasks?name=nothing-called-so").text) == []
    created = scalar(
        db_config, "SELECT created_at FROM bountyboard WHERE id = :i", {"i": seeded["failed"]}
    )
    window = {
        "since": (created - timedelta(seconds=1)).isoformat(timespec="seconds"),
        "until": (created + timedelta(seconds=2)).isoformat(timespec="seconds"),
        "status": "failure",
    }
    assert _ids(client.get("/tasks", params=window).text) == [seeded["failed"]]
    later = {"since": (created + timedelta(hours=1)).isoformat(timespec="seconds")}
    assert _ids(client.get("/tasks", params=later).text) == []


def test_a_foreign_host_name_is_refused(client: TestClient) -> None:
    # DNS rebinding: a page of evil.example resolving its name to 127.0.0.1
    assert client.get("/", headers={"host": "evil.example"}).status_code == 400
    assert client.get("/", headers={"host": "localhost:8080"}).status_code == 200


def test_metrics_is_prometheus_text(client: TestClient) -> None:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert 'workcraft_tasks{queue="DEFAULT",status="PENDING"} 120' in response.text.splitlines()
    assert "# TYPE workcraft_tasks gauge" in response.text


def _post(c: TestClient, action: str, body: object, **headers: str) -> tuple[int, str]:
    response = c.post(f"/api/actions/{action}", json=body, headers=headers)
    return response.status_code, response.json().get("error") or response.json()["message"]


def test_read_only_refuses_every_action(client: TestClient, seeded: dict[str, str]) -> None:
    status, error = _post(client, "retry", {"task_id": seeded["failed"]}, **{TOKEN_HEADER: TOKEN})
    assert status == 403 and "read-only" in error
    assert "data-action=" not in client.get(f"/tasks/{seeded['failed']}").text


def test_actions_are_refused_without_the_right_token_or_from_another_site(
    actor: TestClient, db_config: DBConfig, seeded: dict[str, str]
) -> None:
    body = {"task_id": seeded["failed"]}
    assert _post(actor, "retry", body)[0] == 403
    assert _post(actor, "retry", body, **{TOKEN_HEADER: TOKEN[:-1] + "x"})[0] == 403
    status, error = _post(
        actor, "retry", body, **{TOKEN_HEADER: TOKEN, "origin": "https://evil.example"}
    )
    assert status == 403 and "another site" in error
    form = actor.post(
        "/api/actions/retry", data={"task_id": seeded["failed"]}, headers={TOKEN_HEADER: TOKEN}
    )
    assert form.status_code == 400 and "JSON" in form.json()["error"]
    assert actor.get("/api/actions/retry").status_code == 405  # no side effects on GET
    assert (
        scalar(db_config, "SELECT status FROM bountyboard WHERE id = :i", {"i": seeded["failed"]})
        == "FAILURE"
    )


def test_actions_with_the_token(actor: TestClient, db_config: DBConfig) -> None:
    auth = {TOKEN_HEADER: TOKEN, "origin": BASE}
    app = Workcraft(db_config=db_config)
    task_id = app.send_task_sync("add", [1, 2], queue="acted-on")
    assert _post(actor, "cancel", {"task_id": task_id}, **auth)[0] == 200
    assert app.status(task_id) == "CANCELLED"
    status, error = _post(actor, "cancel", {"task_id": task_id}, **auth)
    assert status == 409 and "already finished (CANCELLED)" in error
    status, message = _post(actor, "retry", {"task_id": task_id}, **auth)
    assert status == 200 and "requeued" in message
    assert app.status(task_id) == "PENDING"
    status, error = _post(actor, "retry", {"task_id": task_id}, **auth)
    assert status == 409 and "it is PENDING" in error
    assert _post(actor, "pause", {"queue": "acted-on"}, **auth)[0] == 200
    assert app.paused_queues() == ["acted-on"]
    assert _post(actor, "resume", {"queue": "acted-on"}, **auth)[0] == 200
    assert app.paused_queues() == []
    assert _post(actor, "cancel", {"task_id": "no-such-task"}, **auth)[0] == 404
    assert _post(actor, "pause", {"queue": " "}, **auth)[0] == 400
    assert _post(actor, "explode", {}, **auth)[0] == 404
    assert _post(actor, "cancel", ["not", "an", "object"], **auth)[0] == 400
    html = actor.get(f"/tasks/{task_id}").text
    assert 'data-action="cancel"' in html and TOKEN not in html


def test_an_unreachable_database_is_a_503_without_secrets(
    db_config: DBConfig, test_settings: Settings
) -> None:
    secret = "Dashboard-Secret-Password-42"
    cfg = DBConfig(host="127.0.0.1", port=closed_port(), password=secret, database="nowhere")
    with _client(cfg, test_settings, DashboardOptions(actions=True, token=TOKEN)) as down:
        for path in ("/", "/peons", "/tasks", "/metrics"):
            response = down.get(path)
            assert response.status_code == 503
            assert secret not in response.text and TOKEN not in response.text
        assert "cannot reach the database" in _text(down.get("/").text)
