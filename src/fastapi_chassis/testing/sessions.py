"""Sessions that join the test's transaction, and take turns on its one connection.

A rolled-back test runs in one transaction on one connection. Everything that
should be undone with it (the requests ``client`` sends, the relay that
``captured_events`` runs) gets sessions bound to that connection with
``join_transaction_mode="create_savepoint"``: each session works in a
SAVEPOINT, its ``commit()`` releases it and its ``rollback()`` rolls back to
it, and the outer transaction is rolled back when the test ends.

Savepoints nest, so two sessions may share the connection only one after the
other: if the first released its savepoint while the second was inside it,
PostgreSQL would release the second's too. Sessions made here therefore take
turns: ``async with session`` waits until no other task holds a session of the
same connection. A task may open a second session inside its first (its
savepoint nests inside, and is released first), so a request that opens a
session of its own beside the one ``get_session`` gave it does not deadlock.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any, Self, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typing_extensions import override

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from types import TracebackType

    from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["TurnTakingSession", "joined_sessionmaker", "taking_turn"]

_TURN_KEY = "fastapi_chassis.testing.turn"
_Session = TypeVar("_Session", bound=AsyncSession)


class _Turn:
    """A lock that the task holding it may take again (counted)."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[object] | None = None
        self._depth = 0

    async def acquire(self) -> None:
        task = asyncio.current_task()
        if task is not None and task is self._owner:
            self._depth += 1
            return
        await self._lock.acquire()
        self._owner = task
        self._depth = 1

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._owner = None
            self._lock.release()


class TurnTakingSession(AsyncSession):
    """An ``AsyncSession`` that, used as ``async with``, waits for its turn on the connection."""

    @override
    async def __aenter__(self) -> Self:
        turn = self.info.get(_TURN_KEY)
        if isinstance(turn, _Turn):
            await turn.acquire()
        return self

    @override
    async def __aexit__(
        self,
        type_: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            await super().__aexit__(type_, value, traceback)
        finally:
            turn = self.info.get(_TURN_KEY)
            if isinstance(turn, _Turn):
                turn.release()


@contextlib.asynccontextmanager
async def taking_turn(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[None]:
    """Wait for the turn on the connection of a :func:`joined_sessionmaker`, and hold it.

    For work on the connection outside the sessionmaker's sessions (committing
    the test's own session before a request), so that it never interleaves
    with theirs.

    Args:
        sessionmaker: A sessionmaker made by :func:`joined_sessionmaker`.
    """
    turn = sessionmaker.kw.get("info", {}).get(_TURN_KEY)
    if not isinstance(turn, _Turn):
        yield
        return
    await turn.acquire()
    try:
        yield
    finally:
        turn.release()


def joined_sessionmaker(
    connection: AsyncConnection, like: async_sessionmaker[_Session] | None = None
) -> async_sessionmaker[AsyncSession]:
    """Return a sessionmaker whose sessions join ``connection``'s transaction, taking turns.

    Args:
        connection: The test's connection, in its outer transaction.
        like: A sessionmaker whose options (``info``, ``expire_on_commit``...)
            the new one keeps; its session class is replaced by
            :class:`TurnTakingSession` (or a subclass of both).

    Returns:
        The sessionmaker.
    """
    # Passed through to SQLAlchemy's own keyword arguments, which are untyped.
    options: dict[str, Any] = dict(like.kw) if like is not None else {}
    options.setdefault("expire_on_commit", False)
    info = dict(options.get("info") or {})
    info[_TURN_KEY] = _Turn()
    options.update(bind=connection, info=info, join_transaction_mode="create_savepoint")
    base = like.class_ if like is not None else AsyncSession
    session_class: type[AsyncSession] = (
        TurnTakingSession
        if base is AsyncSession or issubclass(base, TurnTakingSession)
        else type(f"TurnTaking{base.__name__}", (TurnTakingSession, base), {})
    )
    maker: async_sessionmaker[AsyncSession] = async_sessionmaker(class_=session_class, **options)
    return maker
