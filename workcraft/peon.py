"""The peon: a worker process that claims tasks from the database and runs them.

The loop, as named steps:

    register -> setup handler -> loop { claim -> submit to executor } -> shut down

Beside the loop, five threads:

* the **heartbeat** stamps the peon's row every DB_PEON_HEARTBEAT_INTERVAL seconds,
  however long its tasks run, so the database never declares a busy peon dead;
* the **recorder** writes outcomes back, in batches, fenced by attempt. While the
  database is away it holds them and retries, so no finished work is dropped;
* the **maintenance stand-in** runs the database's maintenance procedures itself,
  under a lease, while the event scheduler is off or its events stopped ticking;
* the **scheduler** fires the app's periodic tasks, each tick exactly once;
* the **hint listener** wakes the loop when a client announces new work (see
  :mod:`workcraft.wakeup`), so an idle peon claims at once yet polls seldom. A hint
  that names its task is claimed right there, by id, when the peon is idle: the
  claim then overlaps the send's commit instead of following it.

Signal handlers only set flags: any database work in a handler could wait on a lock
held by the very claim it interrupted.
"""

from __future__ import annotations

import faulthandler
import heapq
import json
import os
import queue
import random
import signal
import socket
import threading
import time
from dataclasses import dataclass
from types import FrameType

from loguru import logger

from workcraft import store
from workcraft.config import ConfigError, DBConfig, Settings
from workcraft.core import DEFAULT_QUEUE, Workcraft
from workcraft.db import (
    NO_SUCH_PROCEDURE,
    DatabaseError,
    connect,
    database_errors,
    driver_cursor,
    error_code,
    is_transient,
    retry_transient,
    set_idle_transaction_timeout,
)
from workcraft.executors import Executor, ProcessExecutor, ThreadExecutor
from workcraft.link import Link
from workcraft.maintenance import StandIn
from workcraft.models import ClaimedTask, Outcome, PeonStatus, TaskStatus
from workcraft.payload import check_name
from workcraft.schedule import Scheduler
from workcraft.schema import package_version
from workcraft.wakeup import HintListener

__all__ = ["Peon", "PeonOptions", "default_concurrency"]

_RECORD_BATCH = 200
_MAX_BACKOFF_SECONDS = 5.0
# A safety net besides the reconciliation after every failed claim.
_RECONCILE_EVERY_SECONDS = 60.0
# An "early" hint was sent just before the commit it announces: a claim at once may
# not see the task yet, so look once more this much later.
_EARLY_HINT_RECHECK_SECONDS = 0.025
# How long a busy peon waits for more slots to free before claiming for just a few:
# nothing next to a long task, and whole batches for a stream of short ones.
_GATHER_SLOTS_SECONDS = 0.002
# Longer than a client keeps its list of peons to hint (workcraft.wakeup).
_CLIENTS_LEARN_OF_US_SECONDS = 2.5
# Bounds the memory a flood of delayed-task hints can take; polling covers the rest.
_MAX_WAKE_TIMES = 10_000
# Threads reading hints: one may run the task its hint named (see _claim_hinted)
# while the other listens on.
_HINT_THREADS = 2


def default_concurrency(pool: str) -> int:
    cpus = os.cpu_count() or 1
    return cpus if pool == "process" else min(32, cpus + 4)


class PeonIdInUse(RuntimeError):
    """Another live peon already uses this --worker-id."""


@dataclass(frozen=True)
class PeonOptions:
    worker_id: str
    queues: tuple[str, ...] = (DEFAULT_QUEUE,)
    concurrency: int = 0  # 0: default_concurrency(pool)
    pool: str = "thread"
    workcraft_path: str = ""  # needed by the process pool's children
    log_level: str = "INFO"

    def __post_init__(self) -> None:
        check_name("peon (--worker-id)", self.worker_id)
        if not self.queues:
            raise ValueError("a peon needs at least one queue (--queues)")
        for name in self.queues:
            check_name("queue", name)
        if self.pool not in ("thread", "process"):
            raise ValueError(f"--pool must be 'thread' or 'process', got {self.pool!r}")
        if self.pool == "process" and not self.workcraft_path:
            raise ValueError("the process pool needs workcraft_path to load tasks in children")
        if self.concurrency < 0:
            raise ValueError(
                f"--concurrency must be 1 or more (0: the default), got {self.concurrency}"
            )


class Peon:
    def __init__(
        self, app: Workcraft, db_config: DBConfig, settings: Settings, options: PeonOptions
    ) -> None:
        if not app.tasks:
            raise ValueError("this Workcraft instance has no tasks registered (@workcraft.task)")
        self.app, self.cfg, self.settings, self.options = app, db_config, settings, options
        set_idle_transaction_timeout(settings.dead_peon_timeout)
        self.id = options.worker_id
        self.capacity = options.concurrency or default_concurrency(options.pool)
        self.task_names = sorted(app.tasks)
        self.stopping = threading.Event()
        self.forced = threading.Event()
        self._wake = threading.Event()  # work may wait: a hint, a slot freed, or stopping
        # Slots promised to claims under way: the loop's and a hinted one may overlap.
        self._slots_lock = threading.Condition()
        self._reserved = 0
        self._reconciling = False
        self._claim_by_id = True  # off when the database lacks the procedure
        self._more_may_wait = False  # the last claim filled every free slot
        # Monotonic times at which delayed work falls due (hints, our own retries).
        self._wake_times: list[float] = []
        self._wake_times_lock = threading.Lock()
        self._listener = self._make_listener()
        self._idle_wait = (
            settings.fallback_polling_interval
            if self._listener is not None
            else settings.polling_interval
        )
        # Clients refresh their list of peons to hint about once a second: until all
        # know this one, poll at DB_POLLING_INTERVAL (see _sleep).
        self._poll_fast_until = 0.0
        self._outbox: queue.SimpleQueue[Outcome | None] = queue.SimpleQueue()
        self._unrecorded: set[tuple[str, int]] = set()
        self._records_lock = threading.Lock()
        self._reconcile_at = 0.0  # monotonic time of the next reconciliation
        self._signals = 0
        self._status = PeonStatus.PREPARING
        self.executor: Executor = self._make_executor()

    def _make_listener(self) -> HintListener | None:
        if not self.settings.wake_hints:
            return None
        try:
            return HintListener(self.settings.wake_address, self.cfg.host, self.cfg.port)
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"DB_PEON_WAKE_ADDRESS {self.settings.wake_address!r}: cannot listen for "
                f"wake-up hints there ({exc}); give HOST, HOST:PORT or [IPV6]:PORT of this "
                "machine, or set DB_PEON_WAKE_HINTS to false to rely on polling alone"
            ) from None

    def _on_hint(self, queue: str, early: bool, due_in: float, task_id: str) -> None:
        if queue not in self.options.queues:
            return
        if due_in > 0:
            self._wake_later(due_in)
            return
        if task_id and self._claim_hinted(queue, task_id):
            return
        if early:
            self._wake_later(_EARLY_HINT_RECHECK_SECONDS)
        self._wake.set()

    def _wake_later(self, seconds: float) -> None:
        """Claim again in ``seconds``: a delayed task or a retry falls due then."""
        at = time.monotonic() + seconds
        with self._wake_times_lock:
            if len(self._wake_times) >= _MAX_WAKE_TIMES:
                return
            sooner = not self._wake_times or at < self._wake_times[0]
            heapq.heappush(self._wake_times, at)
        if sooner:
            self._wake.set()  # the loop's current wait was worked out without it

    def _make_executor(self) -> Executor:
        timeout = self.settings.task_timeout_seconds or None
        if self.options.pool == "process":
            return ProcessExecutor(
                self.app,
                self.options.workcraft_path,
                self.id,
                self.capacity,
                self._on_done,
                self.options.log_level,
                default_timeout=timeout,
            )
        return ThreadExecutor(self.app, self.id, self.capacity, self._on_done, timeout)

    # ------------------------------------------------------------------ signals

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        if hasattr(signal, "SIGUSR1"):
            # A peon that hangs can say where: every thread's stack to stderr, written
            # by the interpreter itself (no Python code runs, so no lock can stop it).
            faulthandler.register(signal.SIGUSR1, all_threads=True)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._signals += 1
        if self._signals > 1:
            self.forced.set()
        self.stopping.set()
        self._wake.set()

    def stop(self, force: bool = False) -> None:
        """Ask the peon to stop (from another thread; tests and embedding)."""
        if force:
            self.forced.set()
        self.stopping.set()
        self._wake.set()

    # --------------------------------------------------------------------- run

    def run(self) -> None:
        self._register()
        heartbeat = threading.Thread(target=self._heartbeat_loop, name="heartbeat", daemon=True)
        recorder = threading.Thread(target=self._record_loop, name="recorder", daemon=True)
        stand_in = threading.Thread(
            target=StandIn(self.cfg, self.settings, self.id).run,
            args=(self.stopping,),
            name="maintenance",
            daemon=True,
        )
        heartbeat.start()
        recorder.start()
        stand_in.start()
        if self._listener is not None:
            for i in range(_HINT_THREADS):
                threading.Thread(
                    target=self._listener.run,
                    args=(self.stopping, self._on_hint),
                    name=f"hints-{i}",
                    daemon=True,
                ).start()
        scheduler = Scheduler(self.cfg, self.app, self.id, self.settings)
        scheduler.sync()
        threading.Thread(
            target=scheduler.run, args=(self.stopping,), name="scheduler", daemon=True
        ).start()
        if self.app.setup_handler_fn is not None:
            try:
                self.app.setup_handler_fn()
            except Exception:
                logger.opt(exception=True).error("setup handler failed; the peon goes on")
        self.executor.start()
        self._poll_fast_until = time.monotonic() + _CLIENTS_LEARN_OF_US_SECONDS
        self._status = PeonStatus.IDLE
        self._beat()  # show IDLE now rather than a heartbeat interval later
        logger.info(
            "peon {} ready: queues {}, {} {} slot(s), tasks {}",
            self.id,
            list(self.options.queues),
            self.capacity,
            self.options.pool,
            ", ".join(self.task_names),
        )
        try:
            self._claim_loop()
        finally:
            self._shutdown()
            self._outbox.put(None)
            recorder.join(timeout=self.settings.peon_shutdown_grace_seconds + 10)
            self._go_offline()
            if self._listener is not None:
                self._listener.close()
            logger.info("peon {} stopped", self.id)

    def _register(self) -> None:
        def register() -> None:
            with connect(self.cfg) as conn:
                existing = store.get_peon(conn, self.id)
                self._check_identity(existing)
                self._write_peon_row(conn)
                # Anything still RUNNING under this id belongs to a previous incarnation
                # that died (we passed the identity check): free it now, not after the
                # dead-peon timeout.
                freed = store.release_all_tasks_of(conn, self.id)
                if freed:
                    logger.warning(
                        "requeued {} task(s) left RUNNING by a previous {}", freed, self.id
                    )

        retry_transient(register, what="register peon", deadline=None)

    def _write_peon_row(self, conn: Link) -> None:
        store.register_peon(
            conn,
            worker_id=self.id,
            queues_json=json.dumps(list(self.options.queues)),
            host=socket.gethostname(),
            pid=os.getpid(),
            concurrency=self.capacity,
            pool=self.options.pool,
            version=package_version(),
            wake_addr=self._listener.address if self._listener is not None else None,
            wake_token=self._listener.token if self._listener is not None else None,
        )

    def _check_identity(self, existing: store.PeonRow | None) -> None:
        if existing is None or existing.status == "OFFLINE":
            return
        if existing.heartbeat_age > self.settings.dead_peon_timeout:
            return
        same_host = existing.host == socket.gethostname()
        if same_host and (existing.pid == os.getpid() or not _pid_alive(existing.pid)):
            return
        where = f"pid {existing.pid} on {existing.host}"
        raise PeonIdInUse(
            f"peon id {self.id!r} is in use by a live peon ({where}, heartbeat "
            f"{existing.heartbeat_age:.1f} s ago): pick another --worker-id or stop that peon"
        )

    def _claim_loop(self) -> None:
        backoff = self.settings.polling_interval
        while not self.stopping.is_set():
            # Cleared before looking, so a hint that lands during the claim below
            # makes the next wait return at once instead of being lost.
            self._wake.clear()
            free = self._free_slots()
            if free <= 0:
                self._sleep(self._idle_wait)  # until a slot frees
                continue
            if self._more_may_wait and free < self.capacity // 2:
                # Short tasks free their slots one at a time; a claim per slot would
                # be a transaction per task. Let a few more finish first.
                self.stopping.wait(_GATHER_SLOTS_SECONDS)
            try:
                if time.monotonic() >= self._reconcile_at:
                    self._reconcile()
                free = self._reserve(self.capacity)
                try:
                    claimed = self._claim(free) if free > 0 else []
                    self._submit(claimed)
                finally:
                    self._unreserve(free)
                backoff = self.settings.polling_interval
            except database_errors() as exc:
                # A claim whose COMMIT reply was lost may have committed: reconcile
                # before claiming again.
                self._reconcile_at = 0.0
                transient = isinstance(exc, DatabaseError) or is_transient(exc)
                logger.warning(
                    "claim failed ({}): {}; retrying in {:.1f} s",
                    "database unavailable" if transient else "database error",
                    _one_line(exc),
                    backoff,
                )
                self.stopping.wait(backoff)
                backoff = min(_MAX_BACKOFF_SECONDS, backoff * 2)
                continue
            # Only then may a finished task mean that more is due right away;
            # otherwise a hint or the next poll says so.
            self._more_may_wait = free > 0 and len(claimed) == free
            if not self._more_may_wait:
                # Drained: jittered, so peons started together do not poll in lockstep.
                self._sleep(self._idle_wait * random.uniform(0.8, 1.2))

    def _free_slots(self) -> int:
        with self._slots_lock:
            return self.capacity - len(self.executor.in_flight()) - self._reserved

    def _reserve(self, most: int) -> int:
        """Promise up to ``most`` free slots to a claim about to run; 0 while the
        reconciliation runs (it must see every claimed task in flight)."""
        with self._slots_lock:
            if self._reconciling:
                return 0
            free = min(most, self.capacity - len(self.executor.in_flight()) - self._reserved)
            free = max(free, 0)
            self._reserved += free
            return free

    def _unreserve(self, count: int) -> None:
        """After the claim's tasks were submitted (in flight now) or none came."""
        with self._slots_lock:
            self._reserved -= count
            self._slots_lock.notify_all()

    def _submit(self, jobs: list[ClaimedTask]) -> None:
        for job in jobs:
            _log_started(job)
            self.executor.submit(job)

    def _claim_hinted(self, queue: str, task_id: str) -> bool:
        """Claim the task a hint names, in the listener's thread: one hop fewer, and
        the claim waits on the INSERT's row lock, so it runs the moment the send
        commits. Only while idle: with a backlog the loop claims by priority.
        True if the hint needs nothing more: the task is ours now, or its row is there
        but not for us (another peon's, paused, not one of our tasks)."""
        if not self._claim_by_id or self._more_may_wait or self.stopping.is_set():
            return False
        if not self._reserve(1):
            return False
        reserved = True

        def start(job: ClaimedTask) -> None:
            # Started before the claim's COMMIT is durable: the row stays locked to us
            # until it is. Should it fail, the claim never happened: the outcome is
            # fenced out and the task runs again elsewhere (at least once, as ever).
            nonlocal reserved
            listener = self._listener
            run = self.executor.take_inline(job) if listener and listener.listening() else None
            if run is None:
                self._submit([job])
                return
            # This thread runs the task while another listens: no hand-over to a slot
            # thread, whose wake-up is the largest cost left between commit and task.
            _log_started(job)
            self._unreserve(1)  # in flight now: a long task must not hold off reconciling
            reserved = False
            run()

        try:
            with driver_cursor(self.cfg) as cursor:
                _, seen = store.claim_task_by_id(
                    cursor, self.id, task_id, queue, self.task_names, then=start
                )
            return seen
        except database_errors() as exc:
            if error_code(exc) == NO_SUCH_PROCEDURE:  # routines older than this package
                self._claim_by_id = False
                logger.warning("{}; until then hints only wake the claim loop", _one_line(exc))
                return False
            # Its commit may have gone through: the loop reconciles before it claims.
            self._reconcile_at = 0.0
            logger.debug("claim of hinted task {} failed: {}", task_id, _one_line(exc))
            return False
        finally:
            if reserved:
                self._unreserve(1)

    def _sleep(self, seconds: float) -> None:
        """Wait for a reason to claim: a hint, a freed slot (see _on_done), stopping,
        delayed work falling due, or ``seconds``."""
        now = time.monotonic()
        if now < self._poll_fast_until:
            seconds = min(seconds, self.settings.polling_interval)
        with self._wake_times_lock:
            while self._wake_times and self._wake_times[0] <= now:
                heapq.heappop(self._wake_times)
            if self._wake_times:
                seconds = min(seconds, self._wake_times[0] - now)
        self._wake.wait(seconds)

    def _reconcile(self) -> None:
        """Release tasks the database says we run but we do not (a claim that committed
        although its reply was lost). Runs in the claim thread, and holds off hinted
        claims, so no claim races it; an outcome is always in flight or unrecorded
        until written (see executors)."""
        with self._slots_lock:
            self._reconciling = True
            while self._reserved:  # a hinted claim under way
                self._slots_lock.wait()
        try:
            with connect(self.cfg) as conn:
                held = store.running_tasks_of(conn, self.id)
                known = {(j.id, j.attempt) for j in self.executor.in_flight()}
                with self._records_lock:
                    known |= self._unrecorded
                orphans = [task for task in held if task not in known]
                released = sum(
                    store.release_task(conn, self.id, task_id, attempt, died=False)
                    for task_id, attempt in orphans
                )
        finally:
            with self._slots_lock:
                self._reconciling = False
        if released:
            logger.warning("released {} task(s) claimed but never started here", released)
        self._reconcile_at = time.monotonic() + _RECONCILE_EVERY_SECONDS

    def _claim(self, limit: int) -> list[ClaimedTask]:
        # No ping: the claim is on the pickup path, and a failed claim is retried
        # by the loop (after reconciling, in case its commit went through).
        with connect(self.cfg, ping=False) as conn:
            return store.claim_tasks(
                conn, self.id, list(self.options.queues), self.task_names, limit
            )

    # --------------------------------------------------------------- outcomes

    def _on_done(self, outcome: Outcome) -> None:
        with self._records_lock:
            self._unrecorded.add((outcome.task_id, outcome.attempt))
        if outcome.status == TaskStatus.PENDING:
            logger.warning(
                "task {} {} released: {}", outcome.task_name, outcome.task_id, outcome.error
            )
        else:
            ok = outcome.status == TaskStatus.SUCCESS or outcome.retry
            (logger.info if ok else logger.warning)(
                "task {} {} {} in {:.3f} s{}",
                outcome.task_name,
                outcome.task_id,
                "FAILURE, will retry" if outcome.retry else outcome.status,
                outcome.duration,
                "" if outcome.error is None else f": {_last_line(outcome.error)}",
            )
        self._outbox.put(outcome)
        if self._more_may_wait:
            self._wake.set()

    def _record_loop(self) -> None:
        finished = False
        while not finished:
            first = self._outbox.get()
            batch: list[Outcome] = []
            if first is None:
                finished = True
            else:
                batch.append(first)
            while len(batch) < _RECORD_BATCH:
                try:
                    item = self._outbox.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    finished = True
                    break
                batch.append(item)
            if batch:
                self._record(batch)

    def _record(self, batch: list[Outcome]) -> None:
        releases = [o for o in batch if o.status == TaskStatus.PENDING]
        finals = [o for o in batch if o.status != TaskStatus.PENDING]

        tries = 0

        def write() -> list[Outcome]:
            nonlocal tries
            tries += 1
            with connect(self.cfg) as conn:
                fenced = store.record_outcomes(conn, self.id, finals, self._backoff)
                for o in releases:
                    store.release_task(conn, self.id, o.task_id, o.attempt, died=True)
                if tries > 1:
                    fenced = [o for o in fenced if not store.already_recorded(conn, self.id, o)]
                return fenced

        try:
            # No deadline: finished work is kept until the database is back. A forced
            # stop gives up; the rows then wait for the dead-peon timeout and run again.
            fenced = retry_transient(
                write, what="record outcomes", deadline=None if not self.forced.is_set() else 5.0
            )
        except Exception as exc:
            logger.error(
                "could not record {} outcome(s) ({}); those tasks stay RUNNING until the "
                "database declares this peon dead, then run again",
                len(batch),
                _one_line(exc),
            )
            fenced = []
        for outcome in fenced:
            logger.warning(
                "outcome of {} {} discarded: the task was requeued while it ran here "
                "(this peon was declared dead or stopped); another attempt owns it",
                outcome.task_name,
                outcome.task_id,
            )
        for o in batch:
            if o.retry and o not in fenced:
                after = o.retry_after if o.retry_after is not None else self._backoff(o.retry_count)
                self._wake_later(after)
        with self._records_lock:
            self._unrecorded.difference_update((o.task_id, o.attempt) for o in batch)

    def _backoff(self, retry_count: int) -> float:
        """The default wait before a retry, the same formula the database's event uses."""
        seconds = self.settings.backoff_multiplier_seconds * 2.0 ** min(retry_count, 62)
        return min(seconds, self.settings.backoff_max_seconds)

    # -------------------------------------------------------------- heartbeat

    def _heartbeat_loop(self) -> None:
        while not self.stopping.wait(self.settings.peon_heartbeat_interval):
            self._beat()

    def _beat(self) -> None:
        running = self.executor.in_flight()
        status = self._status
        if status != PeonStatus.PREPARING:
            status = PeonStatus.WORKING if running else PeonStatus.IDLE
        try:
            with connect(self.cfg) as conn:
                alive = store.heartbeat(
                    conn, self.id, str(status), running[0].id if running else None
                )
                if not alive:
                    logger.error(
                        "the database declared this peon dead (no heartbeat for {} s): its "
                        "tasks were requeued and their results from here will be discarded; "
                        "re-registering",
                        self.settings.dead_peon_timeout,
                    )
                    self._write_peon_row(conn)
                    store.heartbeat(conn, self.id, str(status), None)
                # Only while something runs: an idle peon costs the database one
                # statement per heartbeat.
                requests = store.cancel_requests_of(conn, self.id) if running else []
            for task_id, attempt in requests:
                if self.executor.cancel(task_id, attempt):
                    logger.info("task {} asked to stop: cancelling it", task_id)
        except Exception as exc:
            logger.warning("heartbeat failed: {}", _one_line(exc))

    # --------------------------------------------------------------- shutdown

    def _shutdown(self) -> None:
        grace = self.settings.peon_shutdown_grace_seconds
        running = self.executor.in_flight()
        if running and not self.forced.is_set():
            logger.info(
                "stopping: waiting up to {:.0f} s for {} running task(s); signal again to stop now",
                grace,
                len(running),
            )
        deadline = time.monotonic() + grace
        while self.executor.in_flight() and not self.forced.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._wake.clear()
            self._wake.wait(min(remaining, 0.1))
        unfinished = self.executor.in_flight()
        self.executor.stop(force=bool(unfinished))
        if unfinished:
            self._release(unfinished)

    def _release(self, jobs: list[ClaimedTask]) -> None:
        def release() -> int:
            with connect(self.cfg) as conn:
                return sum(
                    store.release_task(conn, self.id, j.id, j.attempt, died=False) for j in jobs
                )

        try:
            count = retry_transient(release, what="release unfinished tasks", deadline=10.0)
            logger.warning("returned {} unfinished task(s) to PENDING", count)
        except Exception as exc:
            logger.error(
                "could not return {} unfinished task(s) ({}); the database will requeue them "
                "after the dead-peon timeout",
                len(jobs),
                _one_line(exc),
            )

    def _go_offline(self) -> None:
        def offline() -> None:
            with connect(self.cfg) as conn:
                store.set_peon_offline(conn, self.id)

        try:
            retry_transient(offline, what="mark peon offline", deadline=5.0)
        except Exception as exc:
            logger.error("could not mark peon {} OFFLINE: {}", self.id, _one_line(exc))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _log_started(job: ClaimedTask) -> None:
    logger.info("task {} {} started (attempt {})", job.task_name, job.id, job.attempt)


def _one_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return text.splitlines()[0] if text else type(exc).__name__


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""
