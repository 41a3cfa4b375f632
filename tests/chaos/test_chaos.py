"""Chaos: peons are SIGKILLed and restarted, one is frozen past the dead-peon timeout,
the database restarts, and still every accepted task ends SUCCESS with the right
result, recorded by the attempt that owned it.

Bounded by default: 3 rounds of 5,000 tasks (CI). A soak is more rounds, e.g. about
30 minutes:
    WK_CHAOS_ROUNDS=120 .venv/bin/pytest tests/chaos -q -s -p no:cacheprovider
(WK_CHAOS_TASKS, WK_CHAOS_KILL_EVERY, WK_CHAOS_DEADLINE, WK_CHAOS_SEED tune a round.)
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter, defaultdict
from dataclasses import replace

import pytest

from tests.conftest import TEST_DATA_DIR
from tests.helpers import execute, query, scalar, wait_for
from tests.peons import PeonFactory, PeonProcess
from workcraft import devdb
from workcraft.config import DBConfig, Settings
from workcraft.schema import setup_database

TASKS = int(os.environ.get("WK_CHAOS_TASKS", "5000"))
DEADLINE = float(os.environ.get("WK_CHAOS_DEADLINE", "240"))
KILL_EVERY = float(os.environ.get("WK_CHAOS_KILL_EVERY", "1.5"))
ROUNDS = int(os.environ.get("WK_CHAOS_ROUNDS", "3"))
MAX_SLOTS = 4
_DIGITS = (
    "(SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL "
    "SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 "
    "UNION ALL SELECT 9)"
)


def _enqueue(cfg: DBConfig, n: int) -> None:
    """n chaos_step tasks in one statement (ids time-ordered like UUIDv7), retried on
    failure: a body that writes to the database while it restarts fails like any task."""
    numbers = (
        "SELECT a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d AS n "
        f"FROM {_DIGITS} a, {_DIGITS} b, {_DIGITS} c, {_DIGITS} e, {_DIGITS} f"
    )
    execute(
        cfg,
        "INSERT INTO bountyboard (id, task_name, queue, retry_on_failure, retry_limit, payload) "
        "SELECT CONCAT('00000000-0000-7000-8000-', LPAD(n, 12, '0')), 'chaos_step', 'chaos', "
        "1, 10, "
        "JSON_OBJECT('task_args', JSON_ARRAY(n), 'task_kwargs', JSON_OBJECT()) "
        f"FROM ({numbers}) AS s WHERE n < :n",
        params={"n": n},
    )


def _done(cfg: DBConfig) -> int:
    return int(scalar(cfg, "SELECT COUNT(*) FROM bountyboard WHERE status = 'SUCCESS'"))


def _stuck_report(cfg: DBConfig, done: int, peons: PeonFactory) -> str:
    counts = query(cfg, "SELECT status, COUNT(*) FROM bountyboard GROUP BY status")
    rows = query(
        cfg,
        "SELECT id, status, worker_id, attempt, error FROM bountyboard "
        "WHERE status <> 'SUCCESS' LIMIT 5",
    )
    stuck = [
        (r.id, r.status, r.worker_id, r.attempt, (r.error or "").strip().splitlines()[-1:])
        for r in rows
    ]
    logs = ", ".join(str(p.log_path) for p in peons.started)
    return (
        f"only {done}/{TASKS} done after {DEADLINE:.0f} s: {counts}; unfinished: {stuck}; "
        f"peon logs: {logs}"
    )


def _server_is_ours(db_server: DBConfig) -> bool:
    if os.environ.get("WK_TEST_DB_URL"):
        return False
    info = devdb.status(TEST_DATA_DIR)
    return info is not None and info.port == db_server.port


@pytest.mark.parametrize("round_", range(1, ROUNDS + 1))
def test_nothing_is_lost_under_chaos(
    round_: int,
    db_config: DBConfig,
    db_server: DBConfig,
    test_settings: Settings,
    peons: PeonFactory,
) -> None:
    assert TASKS <= 100_000
    # Random kills hit the same task now and then; the poison-task bound (stop a task
    # whose peon died under it N times) is tested elsewhere and must not fire here.
    setup_database(db_config, replace(test_settings, max_peon_deaths_per_task=1000))
    execute(db_config, "DELETE FROM bountyboard", "DELETE FROM side_effects", "DELETE FROM peon")
    _enqueue(db_config, TASKS)
    specs = {
        "chaos-a": ("--concurrency=4", "--queues=chaos"),
        "chaos-b": ("--concurrency=4", "--queues=chaos"),
        "chaos-p": ("--concurrency=2", "--queues=chaos", "--pool=process"),
    }
    live: dict[str, PeonProcess] = {name: peons(name, *args) for name, args in specs.items()}
    rng = random.Random(int(os.environ.get("WK_CHAOS_SEED", str(time.time_ns()))))
    kills = restarts = stalls = 0
    restart_at, stall_at = TASKS * 0.3, TASKS * 0.5
    can_restart = _server_is_ours(db_server)
    started = time.monotonic()
    next_kill = started + KILL_EVERY

    while (done := _done(db_config)) < TASKS:
        now = time.monotonic()
        assert now - started < DEADLINE, _stuck_report(db_config, done, peons)
        if now >= next_kill:
            name = rng.choice(sorted(live))
            live[name].signal(signal.SIGKILL)
            live[name].wait()
            kills += 1
            # Half come back under the same id (they free their tasks at once), half
            # under a new one (the database must notice the death by itself).
            new_name = name if rng.random() < 0.5 else f"{name.split('#')[0]}#{kills}"
            live[new_name] = peons(new_name, *specs[name.split("#")[0]])
            if new_name != name:
                del live[name]
            next_kill = time.monotonic() + KILL_EVERY
        elif can_restart and restarts == 0 and done >= restart_at:
            devdb.stop(TEST_DATA_DIR)
            devdb.start(TEST_DATA_DIR)
            restarts += 1
        elif stalls == 0 and done >= stall_at:
            zombie = live[rng.choice(sorted(live))]
            zombie.signal(signal.SIGSTOP)
            # Frozen past the dead-peon timeout: its tasks are requeued and rerun
            # elsewhere while it sleeps; when it wakes its late results must bounce.
            wait_for(
                lambda zid=zombie.worker_id: (
                    scalar(db_config, "SELECT status FROM peon WHERE id = :i", {"i": zid})
                    == "OFFLINE"
                ),
                60,
                message="the frozen peon was never declared dead",
            )
            zombie.signal(signal.SIGCONT)
            stalls += 1
        else:
            time.sleep(0.1)  # pacing the chaos loop, not synchronisation

    # -- every task SUCCESS, with the right result, nothing left behind ------------
    by_status = dict(query(db_config, "SELECT status, COUNT(*) FROM bountyboard GROUP BY status"))
    assert by_status == {"SUCCESS": TASKS}, by_status
    wrong = scalar(
        db_config,
        "SELECT COUNT(*) FROM bountyboard "
        "WHERE CAST(result AS SIGNED) <> 2 * JSON_EXTRACT(payload, '$.task_args[0]')",
    )
    assert wrong == 0

    # -- executions: at least once, duplicates explained by kills and stalls -------
    rows = query(db_config, "SELECT id, attempt, worker_id, requeue_count FROM bountyboard")
    runs: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for r in query(db_config, "SELECT task_id, attempt, worker FROM side_effects"):
        runs[r.task_id].append((int(r.attempt), str(r.worker)))
    lost = [r.id for r in rows if not runs[r.id]]
    assert lost == []
    duplicates = sum(len(runs[r.id]) - 1 for r in rows)
    for r in rows:
        if len(runs[r.id]) > 1:
            assert r.attempt > 1, f"{r.id} ran {len(runs[r.id])} times in one attempt"
    disruptions = kills + stalls + restarts
    assert duplicates <= disruptions * MAX_SLOTS * 2, (duplicates, disruptions)

    # -- fencing: each recorded outcome came from the attempt that owned the row ---
    foreign = [r.id for r in rows if (int(r.attempt), str(r.worker_id)) not in runs[r.id]]
    assert foreign == [], f"{len(foreign)} outcomes recorded by an attempt that did not run"

    zombie_logs = "".join(p.log() for p in peons.started)
    bounced = zombie_logs.count("discarded: the task was requeued")
    per_attempt = Counter(a for r in rows for a, _ in runs[r.id])
    print(
        f"\nchaos round {round_}: tasks={TASKS} kills={kills} restarts={restarts} stalls={stalls} "
        f"executions={sum(len(v) for v in runs.values())} duplicates={duplicates} "
        f"fenced_results={bounced} max_attempt={max(per_attempt)} lost={len(lost)} "
        f"seconds={time.monotonic() - started:.1f}"
    )
    assert kills >= 1 and stalls == 1
