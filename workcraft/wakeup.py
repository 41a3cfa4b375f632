"""Wake-up hints: a sender tells idle peons that a queue has new work.

MySQL has no LISTEN/NOTIFY. Instead each peon listens on a UDP port and publishes
its address and a random token in its ``peon`` row; a client that has just
committed new tasks sends one small datagram to every live peon serving their
queue. The peon claims at once instead of at its next poll.

A hint is only a hint: it carries at most a task's id, a lost or forged one costs
at most one empty claim, and peons keep polling (DB_PEON_FALLBACK_POLLING_INTERVAL)
so a lost hint costs latency, never a task. A hint without the peon's token is
ignored, so only someone who can read the peon table can wake a peon.

Datagram: ``wk1 <token> <flags>[=<task id>] <due_ms> <queue>``. Flag ``e`` (early)
says the hint was sent before the commit it announces, so an empty claim should
look again shortly. ``due_ms`` > 0 announces a delayed task: the peon wakes when it
is due. A task id lets an idle peon claim that very row at once: its claim waits on
the row lock of the INSERT still committing, so hint and commit overlap. (Peons of
an older version read such a hint as a plain, not early, one.)
"""

from __future__ import annotations

import contextlib
import hmac
import itertools
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from loguru import logger

__all__ = ["HintListener", "Hinter", "WakeTarget"]

_MAGIC = "wk1"
_MAX_DATAGRAM = 1024
# Delayed tasks of one send: hints for this many distinct due times per queue; the
# rest are found by polling.
MAX_DUE_TIMES_PER_QUEUE = 8
# How long a client trusts its list of peon addresses: a peon started since is
# reached by its own polling until the list is read again.
_TARGETS_TTL_SECONDS = 1.0


@dataclass(frozen=True)
class WakeTarget:
    address: str  # "host:port" ("[v6]:port")
    token: str
    queues: frozenset[str]


def split_address(text: str) -> tuple[str, int]:
    """ "HOST:PORT", "[V6]:PORT", "HOST" (port 0: any free one)."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host, port = text, ""
    try:
        number = int(port) if port else 0
    except ValueError:
        raise ValueError(f"not a port number: {port!r}") from None
    if not host or not 0 <= number <= 65535:
        raise ValueError(f"expected HOST, HOST:PORT or [IPV6]:PORT, got {text!r}")
    return host, number


def join_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def local_address_towards(host: str, port: int) -> str:
    """The address this machine uses to reach ``host``: the one peers on the way to
    the database can reach us at. (A connected UDP socket sends nothing; the kernel
    only picks the route.)"""
    with contextlib.suppress(OSError):
        family, kind, proto, _, sockaddr = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.connect(sockaddr)
            return str(probe.getsockname()[0])
    return "127.0.0.1"


class HintListener:
    """A peon's end: a UDP socket, and the threads calling
    ``on_hint(queue, early, due_in, task_id)`` (task_id "" when the hint names none).

    Several threads may :meth:`run` on the one socket: the kernel gives each datagram
    to one of those blocked in ``recv``, and :meth:`listening` says how many are,
    so a thread may keep a hinted task for itself while another listens on.
    """

    def __init__(self, wake_address: str, db_host: str, db_port: int) -> None:
        host, port = split_address(wake_address) if wake_address else ("", 0)
        host = host or local_address_towards(db_host, db_port)
        family, kind, proto, _, sockaddr = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        self.sock = socket.socket(family, kind, proto)
        try:
            self.sock.bind(sockaddr)
        except OSError:
            # The advertised address is not one of ours (NAT, a container's published
            # port): listen everywhere on that port; senders use the advertised one.
            self.sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", port))
        # Blocking, without a timeout: with one, recv polls first, and a datagram
        # would wake every listening thread instead of one. close() wakes them.
        self.sock.settimeout(None)
        self.address = join_address(host, self.sock.getsockname()[1])
        self.token = secrets.token_hex(16)
        self._closed = False
        self._lock = threading.Lock()
        self._listening = 0

    def listening(self) -> int:
        """How many threads wait for the next hint right now."""
        return self._listening

    def run(self, stop: threading.Event, on_hint: Callable[[str, bool, float, str], None]) -> None:
        expected = self.token.encode()
        while not (stop.is_set() or self._closed):
            with self._lock:
                self._listening += 1
            try:
                data = self.sock.recv(_MAX_DATAGRAM)
            except OSError:
                data = b""
                if not (stop.is_set() or self._closed):
                    time.sleep(0.1)
            finally:
                with self._lock:
                    self._listening -= 1
            parts = data.split(b" ", 4)
            if len(parts) != 5 or parts[0] != _MAGIC.encode():
                continue
            if not hmac.compare_digest(parts[1], expected):
                continue
            flags, _, task_id = parts[2].partition(b"=")
            with contextlib.suppress(UnicodeDecodeError, ValueError):
                due_in = max(0, int(parts[3])) / 1000
                on_hint(parts[4].decode(), flags == b"e", due_in, task_id.decode("ascii"))

    def close(self) -> None:
        self._closed = True
        # Wakes the threads blocked in recv (Linux does so though it reports ENOTCONN
        # for a UDP socket); elsewhere they end with the process, being daemons.
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


class Hinter:
    """A client's end: the live peons' addresses (read at most once a second, inside a
    transaction the client opens anyway) and one datagram per peon per send."""

    def __init__(self) -> None:
        self._targets: list[WakeTarget] = []
        self._read_at = -1e9
        self._lock = threading.Lock()
        self._sockets: dict[int, socket.socket] = {}
        self._turn = itertools.count()

    def stale(self) -> bool:
        return time.monotonic() - self._read_at > _TARGETS_TTL_SECONDS

    def update(self, targets: list[WakeTarget]) -> None:
        with self._lock:
            self._targets = targets
            self._read_at = time.monotonic()

    def hint(
        self,
        due: Mapping[str, Iterable[int]],
        early: bool = False,
        task_id: str = "",
        skip: frozenset[str] = frozenset(),
        only_first: bool = False,
    ) -> frozenset[str]:
        """Tell the peons of each queue in ``due`` (queue -> due in how many ms: 0 for
        now), except those at the addresses in ``skip``; returns the addresses hinted.
        ``task_id``: the one task these hints announce. ``only_first``: just the peon
        whose turn it is. Never raises: a hint not sent is a hint lost, which polling
        covers."""
        with self._lock:
            targets = [t for t in self._targets if t.queues & due.keys() and t.address not in skip]
        if len(targets) > 1:
            # Each send hints a different peon first: the first hinted claims a lone
            # task, so a fixed order would give one peon every task while the rest idle.
            first = next(self._turn) % len(targets)
            targets = [targets[first]] if only_first else targets[first:] + targets[:first]
        for target in targets:
            for queue in sorted(target.queues & due.keys()):
                for due_ms in sorted(set(due[queue]))[:MAX_DUE_TIMES_PER_QUEUE]:
                    self._send(target, queue, due_ms, early, task_id)
        return frozenset(t.address for t in targets)

    def _send(self, target: WakeTarget, queue: str, due_ms: int, early: bool, task_id: str) -> None:
        flags = ("e" if early else "-") + (f"={task_id}" if task_id else "")
        message = f"{_MAGIC} {target.token} {flags} {due_ms} {queue}".encode()
        if len(message) > _MAX_DATAGRAM:
            return
        try:
            host, port = split_address(target.address)
            self._socket(host).sendto(message, (host, port))
        except (OSError, ValueError) as exc:
            logger.debug("wake-up hint to {} not sent: {}", target.address, exc)

    def _socket(self, host: str) -> socket.socket:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with self._lock:
            sock = self._sockets.get(family)
            if sock is None:
                sock = self._sockets[family] = socket.socket(family, socket.SOCK_DGRAM)
                sock.setblocking(False)
            return sock
