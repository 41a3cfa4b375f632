"""``peon --reload``: run the peon as a child and restart it when source files change.

For development only. The supervisor never imports the user's tasks itself, so a
syntax error in them fails one child, is logged, and the next save starts a new one.
A restart is a normal graceful stop (SIGTERM: running tasks finish within
DB_PEON_SHUTDOWN_GRACE_SECONDS), and every child reuses the same worker id, so the
peon table keeps one row rather than one per save.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType

from loguru import logger

__all__ = ["child_argv", "run_with_reload", "watched_roots"]

_SKIP_DIRS = {"__pycache__", "node_modules", "site-packages", "dist-packages", "build", "dist"}
_WATCHED_NAMES = {".env", "workcraft.config.json"}
_PR_SET_PDEATHSIG = 1


def child_argv(argv: Sequence[str], worker_id: str) -> list[str]:
    """The peon command line without --reload, with a fixed --worker_id."""
    out: list[str] = []
    skip_value = False
    for i, arg in enumerate(argv):
        if skip_value:
            skip_value = False
            continue
        name = arg.split("=", 1)[0].replace("-", "_")
        if name in ("__reload", "__noreload"):
            following = argv[i + 1] if i + 1 < len(argv) else ""
            skip_value = "=" not in arg and following.lower() in ("true", "false")
            continue
        if name == "__worker_id":
            skip_value = "=" not in arg
            continue
        out.append(arg)
    return [sys.executable, "-m", "workcraft", *out, f"--worker_id={worker_id}"]


def watched_roots(workcraft_path: str) -> list[Path]:
    """Where the tasks' source lives: the top-level package's folder, or the folder of
    a plain module; the working directory when it cannot be found without importing."""
    if ":" in workcraft_path:
        module = workcraft_path.partition(":")[0]
    else:
        module = workcraft_path.rpartition(".")[0]
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    with contextlib.suppress(ImportError, ValueError):
        # A top-level name is found without executing anything.
        spec = importlib.util.find_spec(module.split(".")[0])
        if spec is not None and spec.origin is not None and Path(spec.origin).is_file():
            return [Path(spec.origin).parent]
    return [Path.cwd()]


def _source_files(roots: Sequence[Path]) -> Iterator[Path]:
    for name in _WATCHED_NAMES:
        if (Path.cwd() / name).is_file():
            yield Path.cwd() / name
    for root in roots:
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS]
            for file in files:
                if file.endswith(".py"):
                    yield Path(folder) / file


def snapshot(roots: Sequence[Path]) -> dict[Path, tuple[int, int]]:
    state = {}
    for path in _source_files(roots):
        with contextlib.suppress(OSError):  # deleted between listing and stat
            st = path.stat()
            state[path] = (st.st_mtime_ns, st.st_size)
    return state


def _die_with_parent() -> None:
    # A killed supervisor must not leave a peon running that nobody restarts or stops.
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def run_with_reload(
    argv: Sequence[str], roots: Sequence[Path], *, interval: float = 0.5, grace: float = 30.0
) -> int:
    """Run ``argv`` and restart it on every change under ``roots``; returns the child's
    exit code once the supervisor is asked to stop (SIGTERM/SIGINT)."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    logger.info("reload: watching {} for changes", ", ".join(str(r) for r in roots))
    seen = snapshot(roots)
    code = 0
    while not stop.is_set():
        # Its own session: a Ctrl-C in the terminal reaches only us, and we pass one
        # SIGTERM on, instead of the peon getting two signals and stopping at once.
        child = subprocess.Popen(argv, start_new_session=True, preexec_fn=_die_with_parent)
        reported_exit = False
        while not stop.wait(interval):
            now = snapshot(roots)
            if now != seen:
                changed = sorted(
                    str(p) for p in now.keys() | seen.keys() if now.get(p) != seen.get(p)
                )
                seen = now
                logger.info("reload: {} changed; restarting the peon", ", ".join(changed[:3]))
                break
            if child.poll() is not None and not reported_exit:
                reported_exit = True
                logger.warning(
                    "reload: the peon exited with code {}; waiting for a change to restart it",
                    child.returncode,
                )
        code = _stop_child(child, grace)
    return code


def _stop_child(child: subprocess.Popen[bytes], grace: float) -> int:
    if child.poll() is not None:
        return child.returncode
    child.send_signal(signal.SIGTERM)
    try:
        return child.wait(timeout=grace + 10)
    except subprocess.TimeoutExpired:
        child.kill()
        return child.wait()
