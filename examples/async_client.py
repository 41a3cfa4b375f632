"""The async client: send tasks and read results from async code (a FastAPI handler, a
bot) without blocking its event loop. Real async I/O: aiomysql driven on the event loop
by SQLAlchemy's asyncio extension, no thread pool. Tasks may be `async def` too.

Run it with `python examples/async_client.py`, with the database from `.env` set up
once by `python -m workcraft setup_database_tables`.
"""

import asyncio

from _peon import running_peon

from workcraft import Workcraft

QUEUE = "example-async"
app = Workcraft()


@app.task("add", queue=QUEUE)
def add(a: int, b: int) -> int:
    return a + b


@app.task("shout", queue=QUEUE)
async def shout(word: str) -> str:
    await asyncio.sleep(0.1)  # async tasks share one event loop in the peon
    return word.upper() + "!"


async def main() -> None:
    task_id = await app.send_task("add", [2, 3])  # by name, like send_task_sync
    launched = await shout.launch("hello")  # through the handle, type-checked
    many = await app.send_tasks([{"task_name": "add", "task_args": [i, i]} for i in range(5)])

    print(f"add(2, 3) = {await app.get_result(task_id, timeout=10)}")
    print(f"shout('hello') = {await app.get_result(launched, timeout=10)}")
    results = await asyncio.gather(*(app.get_result(i, timeout=10) for i in many))
    print(f"5 adds at once: {results}")
    task = await app.get_task(task_id)
    print(f"the row: {task.status}, ran by {task.worker_id}, {task.duration:.4f} s")
    await app.aclose()  # close the pooled connections while the loop still runs


if __name__ == "__main__":
    with running_peon(app, QUEUE):
        asyncio.run(main())
    print("OK")
