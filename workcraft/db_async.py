"""Async connections (aiomysql through SQLAlchemy's asyncio extension).

The same rules as :mod:`workcraft.db`: READ COMMITTED, pre-ping, a bounded idle
transaction, driver errors translated into :class:`DatabaseError`, transient errors
retried. Store functions are written once, for a sync ``Connection``; the async
client runs them with ``AsyncConnection.run_sync``, which drives aiomysql on the
event loop (greenlet-adapted, no thread).

An aiomysql connection belongs to the event loop that opened it, so engines are kept
per loop: a program that calls ``asyncio.run`` twice gets a fresh pool each time, and
the pool is closed when its loop shuts down (see ``_close_with_loop``).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from workcraft.config import DBConfig
from workcraft.db import (
    CONNECT_TIMEOUT_SECONDS,
    DatabaseError,
    TransientRetries,
    explain,
    limit_idle_transactions,
    missing_tables_error,
    sqlalchemy_url,
    ssl_context,
)

__all__ = ["aclose_engines", "connect_async", "retry_transient_async"]

T = TypeVar("T")

_engines: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[DBConfig, AsyncEngine]] = (
    weakref.WeakKeyDictionary()
)
_closers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncGenerator[None, None]] = (
    weakref.WeakKeyDictionary()
)


async def _close_with_loop(engines: dict[DBConfig, AsyncEngine]) -> AsyncGenerator[None, None]:
    # asyncio.run() (and every runner that calls loop.shutdown_asyncgens()) closes the
    # async generators still open when the program's main coroutine ends: that is our
    # only hook to close the pool while its loop still runs. Without it, connections
    # left in the pool are closed by the garbage collector after the loop is gone, and
    # each one prints "Event loop is closed".
    try:
        yield
    finally:
        for engine in list(engines.values()):
            await engine.dispose()
        engines.clear()


async def _engine(cfg: DBConfig) -> AsyncEngine:
    loop = asyncio.get_running_loop()
    per_loop = _engines.get(loop)
    if per_loop is None:
        per_loop = _engines[loop] = {}
        closer = _close_with_loop(per_loop)
        await closer.__anext__()
        _closers[loop] = closer
    engine = per_loop.get(cfg)
    if engine is None:
        connect_args: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
        if cfg.use_ssl:
            connect_args["ssl"] = ssl_context(cfg)
        engine = create_async_engine(
            sqlalchemy_url(cfg, driver="aiomysql"),
            connect_args=connect_args,
            isolation_level="READ COMMITTED",
            pool_pre_ping=True,
            pool_recycle=3600,
            hide_parameters=True,
        )
        event.listen(engine.sync_engine, "connect", limit_idle_transactions)
        per_loop[cfg] = engine
    return engine


async def aclose_engines() -> None:
    """Close the pooled connections this event loop opened."""
    loop = asyncio.get_running_loop()
    closer = _closers.pop(loop, None)
    _engines.pop(loop, None)
    if closer is not None:
        await closer.aclose()


@asynccontextmanager
async def connect_async(cfg: DBConfig) -> AsyncIterator[AsyncConnection]:
    """Like :func:`workcraft.db.connect`: commits when the block ends without error."""
    conn = (await _engine(cfg)).connect()
    try:
        await conn.start()
    except DBAPIError as exc:
        raise explain(exc, cfg) from None
    try:
        yield conn
    except DBAPIError as exc:
        await conn.rollback()
        missing = missing_tables_error(exc, cfg)
        if missing is not None:
            raise missing from None
        raise
    except BaseException:
        await conn.rollback()
        raise
    else:
        await conn.commit()
    finally:
        await conn.close()


async def retry_transient_async(
    fn: Callable[[], Awaitable[T]],
    *,
    what: str,
    deadline: float | None = 30.0,
    base_delay: float = 0.05,
    max_delay: float = 2.0,
) -> T:
    """:func:`workcraft.db.retry_transient` for coroutines: awaits instead of sleeping."""
    retries = TransientRetries(what, deadline, base_delay, max_delay)
    while True:
        try:
            return await fn()
        except (DBAPIError, DatabaseError) as exc:
            await asyncio.sleep(retries.pause_after(exc))
