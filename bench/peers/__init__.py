"""The systems under test, each in the configurations the suite measures."""

from __future__ import annotations

from bench.peers.base import Context, Peer
from bench.peers.redis_peers import CeleryPeer, DramatiqPeer, HueyPeer, RQPeer
from bench.peers.wc_current import WorkcraftCurrent
from bench.peers.wc_original import WorkcraftOriginal

SYSTEMS = ("workcraft", "workcraft-0.5", "celery", "huey", "dramatiq", "rq")
# --quick keeps to the peers the issue requires, so that it stays under 2 minutes
QUICK_SYSTEMS = ("workcraft", "workcraft-0.5", "celery", "huey")

__all__ = ["QUICK_SYSTEMS", "SYSTEMS", "Context", "Peer", "all_peers"]


def all_peers(quick: bool) -> list[Peer]:
    """Every row. ``primary`` rows also get pickup latency, memory and idle cost."""
    if quick:
        # the slow configurations (0.5.27's 5 s poll, Celery's prefork) only in full runs
        return [
            WorkcraftCurrent(0, primary=True),
            WorkcraftCurrent(32),
            WorkcraftOriginal(0, primary=True),
            CeleryPeer("solo", primary=True),
            HueyPeer(),
            DramatiqPeer(),
            RQPeer(),
        ]
    return [
        # the peon's defaults (CPUs + 4 threads, every setting at its default) ...
        WorkcraftCurrent(0, primary=True),
        # ... and more slots, so that a claim takes bigger batches
        WorkcraftCurrent(32),
        WorkcraftCurrent(128),
        WorkcraftOriginal(5, primary=True),
        WorkcraftOriginal(0, primary=True),
        CeleryPeer("solo", primary=True),
        CeleryPeer("prefork", primary=False),
        HueyPeer(),
        DramatiqPeer(),
        RQPeer(),
    ]
