"""Wake the relay when events are committed, with LISTEN on a dedicated connection.

``LISTEN`` ties a channel to one server session for as long as it lasts, so it
needs a connection of its own: a pooled connection goes back to the pool (and
its ``LISTEN`` with it), and PgBouncer in transaction mode hands each
transaction a different server connection. The listener therefore opens a plain
asyncpg connection, outside SQLAlchemy's pool, to a URL that should bypass
PgBouncer (``events_listen_url``).

Notifications only make the relay look sooner; they never carry work, and the
relay polls as well. So a lost connection costs latency, not events: the
listener reconnects with growing delays, and wakes the relay once it is back,
in case it missed something meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from importlib import import_module
from typing import Protocol

from sqlalchemy.engine import make_url

__all__ = ["NotificationListener", "asyncpg_dsn"]

logger = logging.getLogger("fastapi_chassis.events.relay")


def asyncpg_dsn(url: str) -> str:
    """Turn a SQLAlchemy URL (``postgresql+asyncpg://...``) into a DSN asyncpg accepts.

    The password, if the URL has one, is kept.

    Example:
        >>> asyncpg_dsn("postgresql+asyncpg://app@db:5432/shop?ssl=require")
        'postgresql://app@db:5432/shop?ssl=require'
    """
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class _Connection(Protocol):
    """The part of ``asyncpg.Connection`` the listener uses."""

    def add_termination_listener(self, callback: Callable[[object], None]) -> None: ...

    async def add_listener(self, channel: str, callback: Callable[..., None]) -> None: ...

    def execute(self, query: str) -> Awaitable[str]: ...

    async def close(self) -> None: ...


class NotificationListener:
    """Keeps a ``LISTEN`` connection open and calls ``on_notify`` for each notification.

    Args:
        dsn: Where to connect (a ``postgresql://`` DSN; see :func:`asyncpg_dsn`).
        channel: The channel to listen on.
        on_notify: Called (on the event loop) for each notification, and once
            after every (re)connection.
        health_interval: Seconds between checks that the connection still works.
        max_reconnect_delay: Upper bound of the delay between reconnection attempts.
    """

    def __init__(
        self,
        dsn: str,
        channel: str,
        on_notify: Callable[[], None],
        *,
        health_interval: float = 10.0,
        max_reconnect_delay: float = 30.0,
    ) -> None:
        self._dsn = dsn
        self._channel = channel
        self._on_notify = on_notify
        self._health_interval = health_interval
        self._max_delay = max_reconnect_delay
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()

    @property
    def connected(self) -> bool:
        """Whether the ``LISTEN`` connection is currently up."""
        return self._connected.is_set()

    async def start(self, *, wait: float = 5.0) -> None:
        """Start listening in the background; wait up to ``wait`` seconds for the connection.

        A connection that cannot be made yet is retried in the background; the
        relay polls meanwhile.
        """
        if self._task is None:
            self._task = asyncio.create_task(self._maintain(), name="chassis-outbox-listener")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), timeout=wait)

    async def stop(self) -> None:
        """Stop listening and close the connection."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _maintain(self) -> None:
        delay = 0.5
        while True:
            try:
                await self._listen_until_lost()
                delay = 0.5
            except (OSError, TimeoutError, ConnectionError) as error:
                logger.warning(
                    "outbox LISTEN connection failed (%s); retrying in %.1fs", error, delay
                )
            except Exception as error:  # noqa: BLE001 - asyncpg's errors share no base with OSError
                logger.warning(
                    "outbox LISTEN connection failed (%r); retrying in %.1fs", error, delay
                )
            self._connected.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_delay)

    async def _listen_until_lost(self) -> None:
        asyncpg = import_module("asyncpg")
        connection: _Connection = await asyncpg.connect(self._dsn, timeout=10)
        lost = asyncio.Event()
        try:
            connection.add_termination_listener(lambda _connection: lost.set())
            await connection.add_listener(self._channel, self._notified)
            self._connected.set()
            # Events committed while the connection was down sent no notification.
            self._on_notify()
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), timeout=self._health_interval)
                if not lost.is_set():
                    # A silently dropped connection (no FIN) is only found by using it.
                    await asyncio.wait_for(connection.execute("SELECT 1"), timeout=5)
        finally:
            self._connected.clear()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), timeout=5)

    def _notified(self, *_: object) -> None:
        self._on_notify()
