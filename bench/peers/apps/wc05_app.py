"""The tasks and client of the original workcraft 0.5.27 (its own venv).

0.5.27 calls a task as ``fn(task_id, *args)``. One fix is applied, at import, so that
it runs on MariaDB at all: its peon registers itself with ``CAST(:queues AS JSON)``,
which is MySQL-only syntax (MariaDB answers 1064 and the peon never starts). The
function's code is swapped for the same statement without the cast (MariaDB's JSON is
LONGTEXT, so the plain string is what it stores anyway); nothing else is changed.
"""

from __future__ import annotations

import uuid

import probe
from sqlalchemy import text

import workcraft.db as _wcdb
from workcraft.core import Workcraft
from workcraft.db import DBEngineSingleton, get_db_config
from workcraft.models import TaskPayload

_MARIADB_FIX = '''
def update_worker_state_sync(db_config, worker_state):
    with DBEngineSingleton.get(db_config).connect() as conn:
        statement = text("""
            INSERT INTO peon (id, status, last_heartbeat, current_task, queues)
            VALUES (:id, :status, NOW(), :current_task, :queues)
            ON DUPLICATE KEY UPDATE
            status = :status,
            last_heartbeat = NOW(),
            current_task = :current_task,
            queues = :queues
        """)
        conn.execute(
            statement,
            {
                "id": worker_state.id,
                "status": worker_state.status,
                "current_task": worker_state.current_task,
                "queues": json.dumps(worker_state.queues),
            },
        )
        conn.commit()
'''


def _patch_for_mariadb() -> None:
    namespace: dict[str, object] = dict(vars(_wcdb))
    exec(compile(_MARIADB_FIX, "wc05_app-mariadb-fix", "exec"), namespace)
    fixed = namespace["update_worker_state_sync"]
    # Swap the code of the existing function object: the CLI and the peon imported it
    # by name before this module was loaded. Its globals stay workcraft.db's.
    _wcdb.update_worker_state_sync.__code__ = fixed.__code__  # type: ignore[attr-defined]


_patch_for_mariadb()

app = Workcraft()


@app.task("noop")
def noop(task_id: str) -> None:
    probe.ran()


@app.task("pickup")
def pickup(task_id: str, sample: int) -> None:
    probe.picked(sample)


class Client:
    bulk = True

    def __init__(self) -> None:
        self.cfg = get_db_config()

    def send_noop(self) -> None:
        Workcraft.send_task_sync(self.cfg, TaskPayload(), "noop")

    def send_bulk(self, n: int) -> None:
        # 0.5.27 has no bulk send; its README: "you could also just directly input the
        # data into the database". Multi-row INSERTs of the row send_task_sync writes.
        payload = TaskPayload().model_dump_json()
        with DBEngineSingleton.get(self.cfg).connect() as conn:
            for start in range(0, n, 1000):
                rows = [
                    {"id": str(uuid.uuid4()), "payload": payload}
                    for _ in range(min(1000, n - start))
                ]
                conn.execute(
                    text(
                        "INSERT INTO bountyboard (id, task_name, status, payload, queue, "
                        "retry_on_failure, retry_limit) VALUES (:id, 'noop', 'PENDING', "
                        ":payload, 'DEFAULT', FALSE, 3)"
                    ),
                    rows,
                )
            conn.commit()

    def send_pickup(self, sample: int) -> None:
        Workcraft.send_task_sync(self.cfg, TaskPayload(task_args=[sample]), "pickup")
