"""History: every task row is kept after it finished, as the queue's history, unless
the task or the send says `delete_on_success=True` (a failure is always kept).
Old rows can be purged by the database itself: DB_SETUP_RETENTION_SUCCESS_DAYS and
DB_SETUP_RETENTION_FAILURE_DAYS in workcraft.config.json (0: keep forever), checked
every DB_SETUP_RUN_PURGE_HISTORY_INTERVAL seconds, baked into the database by
`python -m workcraft setup_database_tables` (run it again after changing them).

Run it with `python examples/history.py`, with the database from `.env` set up once
by `python -m workcraft setup_database_tables`.
"""

from _peon import running_peon, wait_until

from workcraft import TaskFailed, Workcraft, load_settings

QUEUE = "example-history"
app = Workcraft()


@app.task("ping", queue=QUEUE, delete_on_success=True)
def ping(fail: bool = False) -> str:
    if fail:
        raise RuntimeError("ping failed")
    return "pong"


def main() -> None:
    gone = ping.send()
    failed = ping.send(fail=True)
    kept = ping.options(delete_on_success=False).send()  # the send's option wins

    with running_peon(app, QUEUE):
        print(f"kept: {app.get_result_sync(kept, timeout=10)!r}, row {app.status(kept)}")
        try:
            app.get_result_sync(failed, timeout=10)
        except TaskFailed as exc:
            print(f"failed: row {exc.status}, kept for a look at its error")
        # Its row is deleted with its result: wait for the row to go, not for a result.
        wait_until(lambda: app.get_task_sync(gone) is None, timeout=10)
        print("delete_on_success: the row is gone")

    settings = load_settings()
    for key, days in [
        ("DB_SETUP_RETENTION_SUCCESS_DAYS", settings.retention_success_days),
        ("DB_SETUP_RETENTION_FAILURE_DAYS", settings.retention_failure_days),
    ]:
        print(f"{key} = {days:g}" + (" (keep forever)" if days == 0 else " days"))
    print(f"DB_SETUP_RUN_PURGE_HISTORY_INTERVAL = {settings.purge_interval:g} s")
    print("OK")


if __name__ == "__main__":
    main()
