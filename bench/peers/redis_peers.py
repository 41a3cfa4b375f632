"""The Python peers on Redis: Celery, Huey, Dramatiq, RQ. Each runs its own CLI worker.

Every worker logs at WARNING (no per-task lines), as workcraft's peons do here.
"""

from __future__ import annotations

import signal

from bench import procs
from bench.peers.base import Context, Peer


class CeleryPeer(Peer):
    system = "celery"
    module = "celery_app"
    requirements = ("celery[redis]==5.7.0",)
    version_of = ("celery", "kombu", "redis")

    def __init__(self, pool: str, *, primary: bool, prefetch: int = 64) -> None:
        self.pool = pool
        self.primary = primary
        self.prefetch = prefetch
        # solo: 2 worker processes that run tasks in their main thread; prefork: one
        # worker whose 2 pool children run them (main + 2 children)
        self.variant = "solo, 2 workers" if pool == "solo" else "prefork -c 2"

    def env(self, ctx: Context) -> dict[str, str]:
        return {**super().env(ctx), "BENCH_CELERY_PREFETCH": str(self.prefetch)}

    def worker_commands(self, ctx: Context, processes: int, tag: str) -> list[procs.Command]:
        common = [
            self.bin("celery"),
            "-A",
            "celery_app",
            "worker",
            "-Q",
            "bench",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        if self.pool == "solo":
            return [
                procs.Command(
                    argv=[*common, "--pool=solo", "-c", "1", "-n", f"w{i}-{tag}@bench"],
                    env=self.env(ctx),
                    cwd=self.cwd(ctx),
                    name=f"celery-solo-{tag}-{i}",
                    stop_signals=(signal.SIGTERM, signal.SIGQUIT),
                )
                for i in range(processes)
            ]
        return [
            procs.Command(
                argv=[*common, "--pool=prefork", "-c", str(processes), "-n", f"w-{tag}@bench"],
                env=self.env(ctx),
                cwd=self.cwd(ctx),
                name=f"celery-prefork-{tag}",
                stop_signals=(signal.SIGTERM, signal.SIGQUIT),
            )
        ]


class HueyPeer(Peer):
    system = "huey"
    module = "huey_app"
    requirements = ("huey==3.5.4", "redis==8.1.0")
    version_of = ("huey", "redis")
    variant = "process -w 2"

    def worker_commands(self, ctx: Context, processes: int, tag: str) -> list[procs.Command]:
        return [
            procs.Command(
                argv=[
                    self.bin("huey_consumer"),
                    "huey_app.huey",
                    "-k",
                    "process",
                    "-w",
                    str(processes),
                    "-q",
                ],
                env=self.env(ctx),
                cwd=self.cwd(ctx),
                name=f"huey-{tag}",
                # INT is huey's graceful signal; TERM stops at once
                stop_signals=(signal.SIGINT, signal.SIGTERM),
            )
        ]


class DramatiqPeer(Peer):
    system = "dramatiq"
    module = "dramatiq_app"
    requirements = ("dramatiq[redis]==2.2.1",)
    version_of = ("dramatiq", "redis")

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads
        self.variant = f"-p 2 -t {threads}"

    def worker_commands(self, ctx: Context, processes: int, tag: str) -> list[procs.Command]:
        return [
            procs.Command(
                argv=[
                    self.bin("dramatiq"),
                    "dramatiq_app",
                    "--processes",
                    str(processes),
                    "--threads",
                    str(self.threads),
                    "--queues",
                    "bench",
                ],
                env={**self.env(ctx), "dramatiq_prom_db": str(self.cwd(ctx) / "prom")},
                cwd=self.cwd(ctx),
                name=f"dramatiq-{tag}",
                stop_signals=(signal.SIGTERM, signal.SIGTERM),
            )
        ]


class RQPeer(Peer):
    system = "rq"
    module = "rq_app"
    requirements = ("rq==3.0.0", "redis==8.1.0")
    # ~200 tasks/s: 20,000 would take 100 s per repeat
    drain_tasks = 3_000
    version_of = ("rq", "redis")
    variant = "SimpleWorker, 2 workers"

    def worker_commands(self, ctx: Context, processes: int, tag: str) -> list[procs.Command]:
        assert ctx.redis is not None
        return [
            procs.Command(
                argv=[
                    self.bin("rq"),
                    "worker",
                    "-u",
                    ctx.redis.url,
                    "--worker-class",
                    "rq.worker.SimpleWorker",
                    "--logging_level",
                    "WARNING",
                    "-n",
                    f"rq-{tag}-{i}",
                    "bench",
                ],
                env=self.env(ctx),
                cwd=self.cwd(ctx),
                name=f"rq-{tag}-{i}",
                stop_signals=(signal.SIGTERM, signal.SIGTERM),
            )
            for i in range(processes)
        ]
