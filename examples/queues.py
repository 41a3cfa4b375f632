"""Queue control: pause a queue and peons stop claiming from it; its tasks wait (running
ones finish) until it is resumed. The state lives in the database (`queue_state`), so
it holds for every peon on every host.

From a shell: `python -m workcraft pause QUEUE` and `python -m workcraft resume QUEUE`.
Run it with `python examples/queues.py`, with the database from `.env` set up once by
`python -m workcraft setup_database_tables`.
"""

import subprocess
import sys

from _peon import running_peon

from workcraft import Workcraft

REPORTS, EMAILS = "example-queues-reports", "example-queues-emails"
app = Workcraft()


@app.task("work")
def work(what: str) -> str:
    return f"{what} done"


def main() -> None:
    app.pause_queue(REPORTS)
    print(f"paused: {[q for q in app.paused_queues() if q.startswith('example-queues')]}")
    try:
        report = work.options(queue=REPORTS).send("report")
        email = work.options(queue=EMAILS).send("email")
        with running_peon(app, REPORTS, EMAILS):
            print(f"{EMAILS}: {app.get_result_sync(email, timeout=10)}")
            print(f"{REPORTS}: still {app.status(report)} while paused")
            # The command line does the same as app.resume_queue(REPORTS):
            cli = [sys.executable, "-m", "workcraft", "resume", REPORTS]
            print(subprocess.run(cli, check=True, capture_output=True, text=True).stdout.strip())
            print(f"{REPORTS}: {app.get_result_sync(report, timeout=10)}")
    finally:
        app.resume_queue(REPORTS)  # never leave the example's queue paused
    print("OK")


if __name__ == "__main__":
    main()
