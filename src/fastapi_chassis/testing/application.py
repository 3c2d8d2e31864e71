"""The application under test: loading it, running its lifespan, and the ``client`` fixture.

**The lifespan and event loops.** An asyncpg connection, a connection pool, a
task: each belongs to the event loop that created it, and fails on any other.
A request sent by ``client`` runs on the test's loop, and a rolled-back test's
requests must use the test's connection, which lives on that loop too. So the
application's lifespan (its engine, the relay task, whatever its startup hooks
create) must run on the loop the tests run on, and it does, once per loop:

* with session-scoped loops (``asyncio_default_fixture_loop_scope`` and
  ``asyncio_default_test_loop_scope`` both ``session``) it starts with the first
  test that uses ``client`` and stops at the end of the session: once per run;
* with function-scoped loops (pytest-asyncio's default) every test has a loop of
  its own, so it starts and stops around each test that uses ``client``, which
  costs the startup hooks and an engine that connects only when used; module-,
  class- and package-scoped loops get one lifespan per module, class or package.

Before the lifespan starts, the application's ``database_url`` is replaced by
the test database's, whatever the environment said (and ``events_listen_url``
is cleared, so the relay listens there too), and a plugin contributes
the publisher ``captured_events`` reads to the application's outbox relay.

**Requests and the test's transaction.** In a rolled-back test, the
application's ``sessionmaker`` (``app.state.chassis.sessionmaker``) is replaced,
for the test, by one whose sessions join the test's connection and transaction,
each in a SAVEPOINT. ``get_session`` itself is not overridden: it runs as in
production, committing before the response and turning a failed commit into a
409, but its commit releases a savepoint and everything is rolled back with the
test. Each request gets its own session, as in production, so a request that
fails rolls back its own work only and leaves the test's objects alone; other
code that opens sessions from the sessionmaker during a request joins too.
Before each request the test's own ``db_session`` is committed (to its
savepoint), so what the test set up is there for the request, as committed
data is for a real one. In a ``committed_db`` test nothing is replaced:
requests use the application's engine and commit for real.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING

import pytest

from fastapi_chassis.plugins.markers import hookimpl

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import httpx
    from fastapi import FastAPI
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
    from starlette.types import ASGIApp, Receive, Scope, Send

    from fastapi_chassis.app import ChassisState
    from fastapi_chassis.events.publishers.base import Publisher
    from fastapi_chassis.settings import ChassisSettings

__all__ = ["AppRunner", "TestingPlugin", "load_app", "serve"]

INI_APP = "chassis_app"
_RUNNING_KEY = "fastapi_chassis.testing.lifespan"
_PLUGIN_NAME = "chassis.testing"
_loaded: dict[str, FastAPI] = {}


def load_app(spec: str) -> FastAPI:
    """Import the application the ``chassis_app`` ini option names (once per process).

    Args:
        spec: ``module:attribute``: an application made by ``create_app``, or a
            function without arguments that returns one.

    Returns:
        The application; the same object on every call with the same spec.

    Raises:
        pytest.UsageError: Saying what is wrong with the spec or the application.
    """
    if spec not in _loaded:
        from fastapi_chassis.cli.application import (  # noqa: PLC0415
            ApplicationLoadError,
            load_application,
        )

        module, _, attribute = spec.partition(":")
        if not module or not attribute:
            raise pytest.UsageError(f"{INI_APP} must look like 'package.module:app', not {spec!r}")
        try:
            _loaded[spec] = load_application(spec)
        except ApplicationLoadError as error:
            raise pytest.UsageError(f"{INI_APP} = {spec}: {error}") from None
    return _loaded[spec]


class TestingPlugin:
    """The plugin the test run adds to the application (``chassis.testing``).

    It gives the outbox relay a publisher that hands events to the running
    test's ``captured_events``.
    """

    __test__ = False
    name = _PLUGIN_NAME

    def __init__(self) -> None:
        from fastapi_chassis.testing.events import ForwardingPublisher  # noqa: PLC0415

        self.publisher = ForwardingPublisher()

    @hookimpl
    def chassis_event_publishers(self, settings: ChassisSettings) -> list[Publisher]:
        """Contribute the forwarding publisher."""
        del settings
        return [self.publisher]


class AppRunner:
    """Runs an application's lifespan in a task of its own, on the current event loop.

    A task of its own, because startup and shutdown must run in one task
    (AnyIO task groups and cancel scopes refuse anything else) while the
    fixture's set-up and teardown run in two.

    Args:
        app: An application made by ``create_app``.
    """

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.database_url: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping: asyncio.Event | None = None
        self._settings: ChassisSettings | None = None
        self._lifespan_state: Mapping[str, object] = {}

    @property
    def running(self) -> bool:
        """Whether the lifespan has started and not yet stopped."""
        return self._task is not None

    async def start(self, database_url: str) -> None:
        """Point the application at ``database_url`` and run its startup.

        Args:
            database_url: The test database.

        Raises:
            pytest.UsageError: If the application's lifespan already runs elsewhere.
        """
        from pydantic import SecretStr  # noqa: PLC0415

        from fastapi_chassis.app import chassis_state  # noqa: PLC0415

        state = chassis_state(self.app)
        if state.extras.get(_RUNNING_KEY):
            raise pytest.UsageError(
                "the application's lifespan is already running on another event loop: "
                "give every test that uses client the same loop scope"
            )
        if not state.plugins.is_registered(_PLUGIN_NAME):
            state.plugins.register(TestingPlugin(), _PLUGIN_NAME, source="testing")
        self._settings = state.settings
        # Every setting that names a database is pointed at the test database: the
        # relay's LISTEN connection would otherwise reach the application's own.
        state.settings = state.settings.model_copy(
            update={"database_url": SecretStr(database_url), "events_listen_url": None}
        )
        started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._run(started), name="chassis-test-lifespan")
        try:
            await started
        except BaseException:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
            state.settings = self._settings
            raise
        state.extras[_RUNNING_KEY] = True
        self.database_url = database_url

    async def _run(self, started: asyncio.Future[None]) -> None:
        assert self._stopping is not None  # noqa: S101 - set by start() before the task
        try:
            async with self.app.router.lifespan_context(self.app) as lifespan_state:
                self._lifespan_state = dict(lifespan_state or {})
                started.set_result(None)
                await self._stopping.wait()
        except BaseException as error:
            if started.done():
                raise
            started.set_exception(error)

    async def stop(self) -> None:
        """Run the application's shutdown and give back its original settings.

        Raises:
            BaseException: Whatever the shutdown raised.
        """
        from fastapi_chassis.app import chassis_state  # noqa: PLC0415

        task, self._task = self._task, None
        if task is None or self._stopping is None:
            return
        state = chassis_state(self.app)
        self._stopping.set()
        try:
            await task
        finally:
            state.extras.pop(_RUNNING_KEY, None)
            if self._settings is not None:
                state.settings = self._settings
            self.database_url = None

    def asgi(self, before_request: Callable[[], Awaitable[None]]) -> ASGIApp:
        """Return the application as ``client`` calls it.

        Args:
            before_request: Awaited before each HTTP request (commits the test's session).
        """
        app = self.app
        lifespan_state = self._lifespan_state

        async def call(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                await before_request()
                if lifespan_state:
                    # What a server does with the state the lifespan yielded.
                    scope["state"] = dict(lifespan_state)
            await app(scope, receive, send)

        return call


def _base_url(settings: ChassisSettings) -> str:
    # The trusted-hosts layer would refuse "testserver" when hosts are configured.
    for host in settings.trusted_hosts:
        if host == "*":
            break
        if host.startswith("*."):
            return f"http://test{host[1:]}"
        return f"http://{host}"
    return "http://testserver"


@contextlib.asynccontextmanager
async def _joined(
    state: ChassisState, session: AsyncSession
) -> AsyncIterator[async_sessionmaker[AsyncSession] | None]:
    from sqlalchemy.ext.asyncio import AsyncConnection  # noqa: PLC0415

    from fastapi_chassis.testing.sessions import joined_sessionmaker  # noqa: PLC0415

    original = state.sessionmaker
    connection = session.bind
    if original is None or not isinstance(connection, AsyncConnection):
        yield None
        return
    # Events the test records itself carry the application's source and schemas.
    session.info.update(original.kw.get("info") or {})
    joined = joined_sessionmaker(connection, like=original)
    state.sessionmaker = joined
    try:
        yield joined
    finally:
        state.sessionmaker = original


@contextlib.asynccontextmanager
async def _unchanged() -> AsyncIterator[async_sessionmaker[AsyncSession] | None]:
    yield None


@contextlib.asynccontextmanager
async def serve(
    app: FastAPI,
    runner: AppRunner,
    session: AsyncSession,
    database_url: str,
    *,
    committed: bool,
    per_test: bool,
) -> AsyncIterator[httpx.AsyncClient]:
    """Run the application (if it does not run yet) and yield a client for it.

    Args:
        app: The application.
        runner: The lifespan runner of the current event loop.
        session: The test's ``db_session``.
        database_url: The test database.
        committed: Whether the test commits for real (``committed_db``).
        per_test: Stop the lifespan when the block ends (function-scoped loops).

    Yields:
        An ``httpx.AsyncClient`` that calls the application in process.
    """
    import httpx  # noqa: PLC0415

    from fastapi_chassis.app import chassis_state  # noqa: PLC0415
    from fastapi_chassis.testing.sessions import taking_turn  # noqa: PLC0415

    if runner.running and runner.database_url != database_url:
        await runner.stop()
    if not runner.running:
        await runner.start(database_url)
    try:
        state = chassis_state(app)
        async with _unchanged() if committed else _joined(state, session) as joined:

            async def before_request() -> None:
                if joined is None:
                    return
                # Concurrent requests each get here; the first commits, under the
                # turn, so that no request's session is in a savepoint meanwhile.
                async with taking_turn(joined):
                    if session.in_transaction():
                        await session.commit()

            transport = httpx.ASGITransport(app=runner.asgi(before_request))
            async with httpx.AsyncClient(
                transport=transport, base_url=_base_url(state.settings)
            ) as client:
                yield client
    finally:
        if per_test:
            await runner.stop()
