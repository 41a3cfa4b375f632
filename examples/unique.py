"""Unique tasks: while a task with a `unique_key` is waiting or running, sending another
with the same task name and key returns the first one's id instead of queueing a copy.
Race-free across any number of senders (a unique index in the database).

Run it with `python examples/unique.py`, with the database from `.env` set up once by
`python -m workcraft setup_database_tables`.
"""

from _peon import running_peon

from workcraft import Workcraft

QUEUE = "example-unique"
app = Workcraft()


@app.task("rebuild_search_index", queue=QUEUE)
def rebuild_search_index(shop_id: int) -> str:
    return f"index of shop {shop_id} rebuilt"


def main() -> None:
    rebuild = rebuild_search_index.options(unique_key="shop-7")
    first = rebuild.send(7)
    second = rebuild.send(7)  # first is still PENDING: no second task
    print(f"second send while the first waits: same task: {first == second}")

    with running_peon(app, QUEUE):
        print(app.get_result_sync(first, timeout=10))

    # Finished tasks free their key.
    again = rebuild.send(7)
    print(f"send after it finished: a new task: {again != first}")
    print(f"new task cancelled: {app.cancel(again)}")  # tidy up: nobody runs it now
    print("OK")


if __name__ == "__main__":
    main()
