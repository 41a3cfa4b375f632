"""Where claimed tasks run: threads (plus one event loop for ``async def`` tasks), or
child processes.

An executor runs each task through :func:`workcraft.execute.execute`, enforces its
timeout, stops it when it is cancelled, and reports every outcome through
``on_done``. It never touches the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import multiprocessing
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Protocol

from loguru import logger

from workcraft.core import Workcraft
from workcraft.execute import (
    call_handler,
    cancelled,
    execute,
    execute_async,
    released,
    timed_out,
)
from workcraft.models import ClaimedTask, Outcome

__all__ = ["Executor", "ProcessExecutor", "ThreadExecutor"]

OnDone = Callable[[Outcome], None]
_POLL_SECONDS = 0.05


class Executor(Protocol):
    capacity: int

    def start(self) -> None: ...

    def submit(self, job: ClaimedTask) -> None: ...

    def take_inline(self, job: ClaimedTask) -> Callable[[], None] | None: ...

    def in_flight(self) -> list[ClaimedTask]: ...

    def cancel(self, task_id: str, attempt: int) -> bool: ...

    def stop(self, force: bool) -> None: ...


def task_timeout_for(app: Workcraft, job: ClaimedTask, default: float | None) -> float | None:
    """The send's own timeout, else the task's declared one, else the peon's default."""
    options = app.task_options.get(job.task_name)
    declared = options.timeout if options is not None else None
    return job.timeout_seconds or declared or default or None


@dataclass
class _Running:
    job: ClaimedTask
    cancel: threading.Event = field(default_factory=threading.Event)
    future: Future[Outcome] | None = None  # async tasks: cancelling it cancels the coroutine


class _Slots:
    """The jobs in flight, shared by the claim loop, the pool and the heartbeat."""

    def __init__(self, on_done: OnDone) -> None:
        self.on_done = on_done
        self.lock = threading.Lock()
        self.running: dict[str, _Running] = {}

    def add(self, job: ClaimedTask) -> _Running:
        entry = _Running(job)
        with self.lock:
            self.running[job.id] = entry
        return entry

    def complete(self, job: ClaimedTask, outcome: Outcome) -> None:
        # Hand the outcome over before forgetting the job: the peon's reconciliation
        # must always find a claimed task in one of the two places.
        self.on_done(outcome)
        with self.lock:
            self.running.pop(job.id, None)

    def jobs(self) -> list[ClaimedTask]:
        with self.lock:
            return [entry.job for entry in self.running.values()]

    def get(self, task_id: str, attempt: int) -> _Running | None:
        with self.lock:
            entry = self.running.get(task_id)
        return entry if entry is not None and entry.job.attempt == attempt else None


# --------------------------------------------------------------- thread pool


class ThreadExecutor:
    """``capacity`` worker threads for sync tasks, one event loop for async ones.

    A thread cannot be killed: a sync task past its timeout is reported as failed,
    asked to stop (``current_task().cancelled``), and left to finish in a daemon
    thread of its own while its slot takes new work; its late result is dropped.
    Async tasks are cancelled for real.
    """

    def __init__(
        self,
        app: Workcraft,
        worker_id: str,
        capacity: int,
        on_done: OnDone,
        default_timeout: float | None = None,
    ) -> None:
        self.app, self.worker_id, self.capacity = app, worker_id, capacity
        self.default_timeout = default_timeout
        self._slots = _Slots(on_done)
        self._jobs: queue.SimpleQueue[_Running | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._threads_lock = threading.Lock()
        self._idle = threading.Semaphore(0)  # released by a thread each time it is free
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        if any(inspect.iscoroutinefunction(f) for f in self.app.tasks.values()):
            self._loop = asyncio.new_event_loop()
            threading.Thread(target=self._loop.run_forever, name="task-loop", daemon=True).start()

    def submit(self, job: ClaimedTask) -> None:
        entry = self._slots.add(job)
        func = self.app.tasks.get(job.task_name)
        if self._loop is not None and func is not None and inspect.iscoroutinefunction(func):
            entry.future = asyncio.run_coroutine_threadsafe(
                execute_async(self.app, job, self.worker_id, entry.cancel, self._timeout(job)),
                self._loop,
            )
            entry.future.add_done_callback(functools.partial(self._done_async, entry))
        else:
            self._jobs.put(entry)
            self._add_thread()

    def _add_thread(self) -> None:
        """A thread for the job just queued, unless one is free: threads start as work
        first needs them, up to one per slot, so a peon whose hinted tasks run where
        their claims came back does not keep a slot thread for each idle."""
        if self._idle.acquire(blocking=False):
            return
        with self._threads_lock:
            if len(self._threads) < self.capacity:
                name = f"task-{len(self._threads)}"
                thread = threading.Thread(target=self._work, name=name, daemon=True)
                thread.start()
                self._threads.append(thread)

    def take_inline(self, job: ClaimedTask) -> Callable[[], None] | None:
        """The job in flight now, to be run by calling the function returned, in the
        caller's thread: a hinted claim runs its task where the claim's reply came
        in, without waking a slot thread. None, with nothing done, for a task that
        needs a thread of its own: an ``async def`` one, or one with a timeout."""
        func = self.app.tasks.get(job.task_name)
        if inspect.iscoroutinefunction(func) or self._timeout(job) is not None:
            return None
        return functools.partial(self._run, self._slots.add(job))

    def in_flight(self) -> list[ClaimedTask]:
        return self._slots.jobs()

    def cancel(self, task_id: str, attempt: int) -> bool:
        entry = self._slots.get(task_id, attempt)
        if entry is None:
            return False
        entry.cancel.set()
        if entry.future is not None:
            entry.future.cancel()
        return True

    def stop(self, force: bool) -> None:
        with self._threads_lock:
            for _ in self._threads:
                self._jobs.put(None)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)

    def _timeout(self, job: ClaimedTask) -> float | None:
        return task_timeout_for(self.app, job, self.default_timeout)

    def _work(self) -> None:
        while (entry := self._jobs.get()) is not None:
            timeout = self._timeout(entry.job)
            if timeout is None:
                self._run(entry)
            else:
                self._slots.complete(entry.job, self._run_with_timeout(entry, timeout))
            self._idle.release()

    def _run(self, entry: _Running) -> None:
        self._slots.complete(entry.job, execute(self.app, entry.job, self.worker_id, entry.cancel))

    def _run_with_timeout(self, entry: _Running, timeout: float) -> Outcome:
        box: list[Outcome] = []
        runner = threading.Thread(
            target=lambda: box.append(execute(self.app, entry.job, self.worker_id, entry.cancel)),
            name=f"task-{entry.job.id}",
            daemon=True,
        )
        started = time.perf_counter()
        runner.start()
        runner.join(timeout)
        if box:
            return box[0]
        entry.cancel.set()  # a task that checks current_task().cancelled stops now
        logger.warning(
            "task {} {} passed its timeout of {:g} s; it is failed and its thread abandoned",
            entry.job.task_name,
            entry.job.id,
            timeout,
        )
        return timed_out(self.app, entry.job, started, timeout)

    def _done_async(self, entry: _Running, future: Future[Outcome]) -> None:
        if future.cancelled():
            outcome = cancelled(entry.job, "cancelled while running")
        else:
            try:
                outcome = future.result()
            except BaseException as exc:  # a bug in execute_async itself
                outcome = released(entry.job, f"the event loop failed it: {exc!r}")
        self._slots.complete(entry.job, outcome)


# -------------------------------------------------------------- process pool

_child_app: Workcraft | None = None


def _child_main(conn: Connection, workcraft_path: str, log_level: str) -> None:
    """A pool child: load the tasks, run the setup handler, then run what it is sent."""
    from workcraft.loader import load_workcraft
    from workcraft.log import configure_logging

    configure_logging(log_level, component="peon-child")
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    app = load_workcraft(workcraft_path)
    call_handler("setup", app.setup_handler_fn)
    while True:
        try:
            message = conn.recv()
        except EOFError:  # the peon is gone
            return
        if message is None:
            return
        job, worker_id = message
        conn.send(execute(app, job, worker_id))


def _exit_with_parent(parent: int) -> None:
    """A child whose peon was SIGKILLed would run on under init: leave with it."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


class _Child:
    def __init__(self, context: Any, workcraft_path: str, log_level: str) -> None:
        self.conn, child_end = context.Pipe()
        self.process: BaseProcess = context.Process(
            target=_child_main, args=(child_end, workcraft_path, log_level), daemon=True
        )
        self.process.start()
        child_end.close()

    def kill(self) -> None:
        self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()


class ProcessExecutor:
    """``capacity`` child processes, each driven by one thread of the peon.

    Started with "spawn": forking a process that already runs threads can copy a
    held lock into the child. A child is killed and replaced when its task passes
    its timeout or is cancelled; one that dies by itself (segfault, os._exit, OOM
    kill) gives its task back to the queue as "its process died".
    """

    def __init__(
        self,
        app: Workcraft,
        workcraft_path: str,
        worker_id: str,
        capacity: int,
        on_done: OnDone,
        log_level: str = "INFO",
        default_timeout: float | None = None,
    ) -> None:
        self.app, self.workcraft_path = app, workcraft_path
        self.worker_id, self.capacity = worker_id, capacity
        self.log_level, self.default_timeout = log_level, default_timeout
        self._slots = _Slots(on_done)
        self._jobs: queue.SimpleQueue[_Running | None] = queue.SimpleQueue()
        self._context = multiprocessing.get_context("spawn")
        self._children: list[_Child | None] = []
        self._stopping = threading.Event()

    def start(self) -> None:
        # All children start now, so setup handlers run before the first claim.
        self._children = [self._spawn() for _ in range(self.capacity)]
        for slot in range(self.capacity):
            threading.Thread(
                target=self._work, args=(slot,), name=f"child-{slot}", daemon=True
            ).start()

    def _spawn(self) -> _Child:
        return _Child(self._context, self.workcraft_path, self.log_level)

    def submit(self, job: ClaimedTask) -> None:
        self._jobs.put(self._slots.add(job))

    def take_inline(self, job: ClaimedTask) -> Callable[[], None] | None:
        return None  # a child runs it, driven by the slot's thread

    def in_flight(self) -> list[ClaimedTask]:
        return self._slots.jobs()

    def cancel(self, task_id: str, attempt: int) -> bool:
        entry = self._slots.get(task_id, attempt)
        if entry is None:
            return False
        entry.cancel.set()
        return True

    def stop(self, force: bool) -> None:
        self._stopping.set()
        for _ in range(self.capacity):
            self._jobs.put(None)
        for child in self._children:
            if child is None:
                continue
            if force:
                child.kill()
            else:
                with contextlib.suppress(OSError):
                    child.conn.send(None)

    def _work(self, slot: int) -> None:
        while (entry := self._jobs.get()) is not None:
            child = self._children[slot]
            if child is None or not child.process.is_alive():
                child = self._children[slot] = self._spawn()
            outcome = self._run(child, entry)
            if not child.process.is_alive():
                self._children[slot] = None
            self._slots.complete(entry.job, outcome)

    def _run(self, child: _Child, entry: _Running) -> Outcome:
        job = entry.job
        timeout = task_timeout_for(self.app, job, self.default_timeout)
        started = time.perf_counter()
        try:
            child.conn.send((job, self.worker_id))
            while not child.conn.poll(_POLL_SECONDS):
                if not child.process.is_alive():
                    break
                if entry.cancel.is_set():
                    child.kill()
                    return cancelled(job, "cancelled while running: its process was killed")
                if timeout is not None and time.perf_counter() - started > timeout:
                    child.kill()
                    return timed_out(self.app, job, started, timeout)
            else:
                outcome: Outcome = child.conn.recv()
                return outcome
        except (EOFError, OSError):
            pass
        child.kill()
        logger.error("the child process running {} {} died; releasing it", job.task_name, job.id)
        return released(job, "its process died")
