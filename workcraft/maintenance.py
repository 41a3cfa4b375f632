"""Peons standing in for the database's event scheduler.

Where events cannot run (a managed database that keeps ``event_scheduler`` off, a
cluster where they must run on one node only, or events that silently stopped
ticking), the peons run the same maintenance procedures themselves. A lease row per
job makes sure one peon at a time does so; the procedures are idempotent anyway, so a
lease that two nodes of a cluster briefly both believe in costs nothing but work.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass

from loguru import logger

from workcraft import store
from workcraft.config import DBConfig, Settings
from workcraft.db import connect, retry_transient

__all__ = ["MaintenanceJob", "StandIn", "jobs_for"]

# How many missed ticks before the peons decide the events are not running.
_MISSED_TICKS = 3
_SLACK_SECONDS = 5.0


@dataclass(frozen=True)
class MaintenanceJob:
    name: str
    procedure: str
    interval: float


def jobs_for(settings: Settings) -> list[MaintenanceJob]:
    return [
        MaintenanceJob(
            "check_dead_peons", "wc_check_dead_peons_v1", settings.check_dead_peon_interval
        ),
        MaintenanceJob(
            "self_correct_tasks", "wc_self_correct_tasks_v1", settings.self_correct_interval
        ),
        MaintenanceJob(
            "reopen_failed_tasks", "wc_reopen_failed_tasks_v1", settings.reopen_failed_interval
        ),
        MaintenanceJob("purge_history", "wc_purge_history_v1", settings.purge_interval),
    ]


def events_stalled(state: store.MaintenanceJobState | None, interval: float) -> bool:
    if state is None or state.seconds_since_event is None:
        return True
    return state.seconds_since_event > _MISSED_TICKS * interval + _SLACK_SECONDS


class StandIn:
    """Checks every job once per its interval; runs the stalled ones under a lease."""

    def __init__(self, cfg: DBConfig, settings: Settings, owner: str) -> None:
        self.cfg, self.owner = cfg, owner
        self.jobs = jobs_for(settings)
        self.standing_in: set[str] = set()
        # The scheduler may simply not have ticked yet right after setup: give it
        # the same grace as a stalled one before standing in.
        self.period = min(job.interval for job in self.jobs)

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self.period):
            try:
                self.tick()
            except Exception as exc:
                logger.warning("maintenance check failed: {}", str(exc).splitlines()[0])

    def tick(self) -> list[str]:
        """One round; returns the jobs this peon ran."""
        ran = []
        with connect(self.cfg) as conn:
            states = store.maintenance_states(conn)
            scheduler_on = store.event_scheduler(conn) == "ON"
        for job in self.jobs:
            state = states.get(job.name)
            stalled = not scheduler_on or events_stalled(state, job.interval)
            self._note(job, stalled, scheduler_on)
            if not stalled:
                continue
            if state is not None and state.ran_within(job.interval):
                continue  # another peon ran it recently
            if retry_transient(functools.partial(self._run, job), what=f"maintenance {job.name}"):
                ran.append(job.name)
        return ran

    def _run(self, job: MaintenanceJob) -> bool:
        with connect(self.cfg) as conn:
            if not store.take_maintenance_lease(conn, job.name, self.owner, 2 * job.interval):
                return False
            conn.commit()
            store.call_procedure(conn, job.procedure, caller=self.owner)
        return True

    def _note(self, job: MaintenanceJob, stalled: bool, scheduler_on: bool) -> None:
        if stalled and job.name not in self.standing_in:
            self.standing_in.add(job.name)
            why = "the event scheduler is off" if not scheduler_on else "its event stopped ticking"
            logger.warning(
                "maintenance job {} is not run by the database ({}): peons run it instead, "
                "one at a time under a lease",
                job.name,
                why,
            )
        elif not stalled and job.name in self.standing_in:
            self.standing_in.discard(job.name)
            logger.info("maintenance job {} is run by the database's events again", job.name)
