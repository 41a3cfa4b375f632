"""Run the dashboard app under uvicorn on a socket we bind ourselves.

Binding first turns "address in use" into a clear error and lets ``--port=0`` pick a
free port whose number is then announced.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable

import uvicorn
from loguru import logger

from workcraft import db
from workcraft.config import DBConfig, Settings
from workcraft.dashboard.app import create_app
from workcraft.dashboard.options import DashboardError, DashboardOptions

__all__ = ["bind", "run"]


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port, or a DashboardError saying what to change."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise DashboardError(f"--host {host!r} does not resolve ({exc.strerror})") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise DashboardError(
                f"port {port} on {host} is in use: pick another with --port (--port=0 "
                "takes any free one)"
            ) from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise DashboardError(f"--host {host} is not an address of this machine") from None
        if exc.errno == errno.EACCES:
            raise DashboardError(
                f"no permission to listen on port {port}: use a port above 1023"
            ) from None
        raise DashboardError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if sock.family == socket.AF_INET6 else host
    return f"http://{shown}:{port}/"


def run(
    cfg: DBConfig,
    settings: Settings,
    options: DashboardOptions,
    *,
    on_listening: Callable[[str], None],
) -> None:
    # Fail now, with the database's own explanation, rather than on the first page view.
    with db.connect(cfg):
        pass
    sock = bind(options.host, options.port)
    app = create_app(cfg, settings, options)
    config = uvicorn.Config(
        app,
        # workcraft logs through loguru; uvicorn's own access log would also record
        # every URL, and ours carry user-typed filter values.
        log_config=None,
        access_log=False,
        log_level="warning",
        server_header=False,
        proxy_headers=False,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    on_listening(_url(sock))
    logger.info("dashboard serving {} ({})", _url(sock), cfg.describe())
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        db.close_pools()
        logger.info("dashboard stopped")
