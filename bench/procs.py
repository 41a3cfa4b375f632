"""Worker processes: start each in a session of its own, measure, stop by its id.

Every process the bench starts is remembered in ``_LIVE`` so that an error or Ctrl-C
anywhere still ends it (``stop_all`` in run.py's finally); nothing is ever killed
by name.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

_LIVE: dict[int, Worker] = {}


@dataclass(frozen=True)
class Command:
    """One worker process to start: argv, extra environment, working directory."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    name: str
    # signals that stop it gracefully, in order (a second one usually forces)
    stop_signals: tuple[int, ...] = (signal.SIGTERM,)
    # seconds to wait after the last stop signal before SIGKILL
    stop_timeout: float = 20.0


@dataclass
class Worker:
    command: Command
    proc: subprocess.Popen[bytes]
    log: Path
    started_at: float = field(default_factory=time.monotonic)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None


def start(command: Command, log_dir: Path) -> Worker:
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{command.name}.log"
    env = {**os.environ, **command.env}
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            command.argv,
            env=env,
            cwd=command.cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            # its own process group: stopping it reaches its children too, by group id
            start_new_session=True,
        )
    worker = Worker(command, proc, log)
    _LIVE[proc.pid] = worker
    return worker


def stop(workers: list[Worker], timeout: float = 20.0) -> None:
    """Stop gracefully (each worker's own stop signals), then SIGKILL its group."""
    for sig_index in range(max((len(w.command.stop_signals) for w in workers), default=0)):
        for w in workers:
            if w.alive() and sig_index < len(w.command.stop_signals):
                _signal_group(w.pid, w.command.stop_signals[sig_index])
        last = sig_index + 1 >= _max_signals(workers)
        patience = min([timeout, *(w.command.stop_timeout for w in workers)])
        _wait(workers, patience if last else 0.5)
    for w in workers:
        if w.alive():
            _signal_group(w.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            w.proc.wait(timeout=5)
        # children of a SIGKILLed leader (prefork pools) may still hold the group
        _signal_group(w.pid, signal.SIGKILL)
        _LIVE.pop(w.pid, None)


def stop_all() -> None:
    stop(list(_LIVE.values()), timeout=5.0)


def _max_signals(workers: list[Worker]) -> int:
    return max((len(w.command.stop_signals) for w in workers), default=0)


def _wait(workers: list[Worker], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(w.alive() for w in workers):
        time.sleep(0.05)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


# ------------------------------------------------------------------------ memory


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc/<pid>/task/*/children)."""
    found: list[int] = []
    task_dir = Path(f"/proc/{pid}/task")
    with contextlib.suppress(OSError):
        for task in task_dir.iterdir():
            with contextlib.suppress(OSError):
                found.extend(int(x) for x in (task / "children").read_text().split())
    return found


def tree(pid: int) -> list[int]:
    out = [pid]
    for child in children(pid):
        out.extend(tree(child))
    return out


def rss_kib(pid: int) -> int:
    """Resident set size of one process, KiB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, with_children: bool = True) -> float:
    """User + system CPU time of a process (and its live descendants), in seconds."""
    total = 0.0
    for p in tree(pid) if with_children else [pid]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        # fields after the command: state is [0], utime [11], stime [12]
        total += (int(fields[11]) + int(fields[12])) / _TICKS
    return total


def cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)


@dataclass(frozen=True)
class TreeMemory:
    """RSS of one worker: its main process and every descendant."""

    main_kib: int
    per_process_kib: list[int]

    @property
    def total_kib(self) -> int:
        return sum(self.per_process_kib)


def tree_memory(pid: int) -> TreeMemory:
    pids = tree(pid)
    return TreeMemory(rss_kib(pid), [rss_kib(p) for p in pids])


def run_checked(argv: list[str], env: dict[str, str], cwd: Path, timeout: float) -> None:
    """Run a command to completion; show its output's tail when it fails."""
    done = subprocess.run(
        argv,
        env={**os.environ, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        sys.stderr.write((done.stdout + done.stderr)[-4000:])
        raise RuntimeError(f"{' '.join(argv[:4])}... exited {done.returncode}")


def run_json(argv: list[str], env: dict[str, str], cwd: Path, timeout: float) -> dict[str, object]:
    """Run a driver to completion; its last stdout line is a JSON object."""
    done = subprocess.run(
        argv,
        env={**os.environ, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise RuntimeError(f"{' '.join(argv[:4])}... exited {done.returncode}")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        sys.stderr.write(done.stderr[-4000:])
        raise RuntimeError(f"{' '.join(argv[:4])}... printed no JSON result")
    result: dict[str, object] = json.loads(lines[-1])
    return result
