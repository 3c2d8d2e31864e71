"""The fixtures (registered by :mod:`fastapi_chassis.testing.plugin`).

SQLAlchemy, asyncpg, httpx and the application are imported inside the
fixtures, so a test run that never asks for a database never loads them.

How they fit together:

* ``chassis_postgres`` finds a server; ``chassis_database_url`` clones the
  project's template database there (building the template when its
  fingerprint changed) into a database for this run, or this xdist worker.
* Each event loop the tests run on gets its resources: with session-scoped
  loops a pooled engine, shared by every test, and the application's lifespan;
  with function-scoped loops an engine that pools nothing (a connection cannot
  outlive its loop) and a lifespan per test that uses ``client``.
* ``db_session`` opens a transaction and rolls it back after the test, unless
  the test asks for ``committed_db``; ``client``, ``captured_events`` and the
  factory fixtures all work through it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio

from fastapi_chassis.testing.plugin import (
    INI_ALEMBIC,
    INI_APP,
    INI_METADATA,
    INI_SCHEMA,
    OPTION_REBUILD,
)
from fastapi_chassis.testing.postgres import (
    drop_database,
    new_database_name,
    run_sync,
    start_server,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    import httpx
    from fastapi import FastAPI
    from sqlalchemy import MetaData
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

    from fastapi_chassis.testing.application import AppRunner
    from fastapi_chassis.testing.committed import CommittedDatabase, DatabaseBaseline
    from fastapi_chassis.testing.events import CapturedEvents
    from fastapi_chassis.testing.logs import CapturedLogs
    from fastapi_chassis.testing.migrations import MigrationChecks
    from fastapi_chassis.testing.postgres import ServerHandle
    from fastapi_chassis.testing.template import SchemaSource

_LOOP_SCOPES = ("class", "module", "package", "session")


def load_metadata(spec: str) -> MetaData:
    """Resolve ``module:attribute`` to a MetaData (a declarative base's counts too).

    Args:
        spec: ``package.module:attribute``; the attribute may be dotted
            (``models:Base.metadata``).

    Returns:
        The MetaData named, or the ``metadata`` of the declarative base named.

    Raises:
        pytest.UsageError: If the spec is malformed, its module cannot be imported,
            or it does not name a MetaData or declarative base.
    """
    from sqlalchemy import MetaData  # noqa: PLC0415

    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise pytest.UsageError(
            f"{INI_METADATA} must look like 'package.module:Base', not {spec!r}"
        )
    try:
        target: Any = import_module(module_name)
    except ImportError as error:
        raise pytest.UsageError(
            f"{INI_METADATA}={spec!r}: cannot import {module_name!r}: {error}"
        ) from error
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise pytest.UsageError(
                f"{INI_METADATA}={spec!r}: {module_name} has no {attribute!r}"
            ) from None
    metadata = getattr(target, "metadata", target)
    if not isinstance(metadata, MetaData):
        raise pytest.UsageError(f"{INI_METADATA}={spec!r} is not a MetaData or declarative base")
    return metadata


def _metadata_of_app(spec: str) -> MetaData | None:
    from sqlalchemy import MetaData  # noqa: PLC0415

    from fastapi_chassis.app import chassis_state  # noqa: PLC0415
    from fastapi_chassis.plugins.manager import flatten  # noqa: PLC0415
    from fastapi_chassis.testing.application import load_app  # noqa: PLC0415

    state = chassis_state(load_app(spec))
    found = {
        id(item): item
        for item in flatten(state.plugins.call("chassis_metadata"))
        if isinstance(item, MetaData)
    }
    if len(found) > 1:
        raise pytest.UsageError(
            f"the plugins of {spec} declare {len(found)} MetaData objects; name the one "
            f"the test database is made from with the {INI_METADATA} ini option"
        )
    return next(iter(found.values()), None)


@pytest.fixture(scope="session")
def chassis_metadata(pytestconfig: pytest.Config) -> MetaData:
    """The metadata whose tables (and server-side SQL) the test database gets.

    The ``chassis_metadata`` ini option names it; otherwise the application's
    ``chassis_metadata`` hook (with ``chassis_app``) declares it; otherwise it is
    ``fastapi_chassis.db.Base.metadata``. Override the fixture to choose in code.
    """
    spec = str(pytestconfig.getini(INI_METADATA) or "")
    if spec:
        return load_metadata(spec)
    app_spec = str(pytestconfig.getini(INI_APP) or "")
    if app_spec:
        declared = _metadata_of_app(app_spec)
        if declared is not None:
            return declared
    return load_metadata("fastapi_chassis.db:Base")


@pytest.fixture(scope="session")
def chassis_postgres() -> Iterator[ServerHandle]:
    """The PostgreSQL server for this test session."""
    handle = start_server()
    try:
        yield handle
    finally:
        handle.stop()


def _ini_path(config: pytest.Config, value: str) -> Path:
    # Relative to the ini file, as pytest resolves its own path options.
    base = config.inipath.parent if config.inipath is not None else config.rootpath
    return (base / value).resolve()


def _schema_source(config: pytest.Config, metadata: MetaData) -> SchemaSource:
    from fastapi_chassis.testing.template import SchemaMode, SchemaSource  # noqa: PLC0415

    mode_name = str(config.getini(INI_SCHEMA) or "create_all")
    try:
        mode = SchemaMode(mode_name)
    except ValueError:
        choices = ", ".join(mode.value for mode in SchemaMode)
        raise pytest.UsageError(
            f"{INI_SCHEMA} must be one of {choices}, not {mode_name!r}"
        ) from None
    ini = str(config.getini(INI_ALEMBIC) or "")
    if mode is SchemaMode.ALEMBIC and not ini:
        raise pytest.UsageError(
            f"{INI_SCHEMA} = alembic needs {INI_ALEMBIC} (the path of alembic.ini)"
        )
    return SchemaSource(mode, metadata, _ini_path(config, ini) if ini else None)


@pytest.fixture(scope="session")
def chassis_database_url(
    pytestconfig: pytest.Config, chassis_postgres: ServerHandle, chassis_metadata: MetaData
) -> Iterator[str]:
    """URL of this run's database (one per xdist worker), cloned from the template."""
    from fastapi_chassis.testing.template import clone_template, template_name  # noqa: PLC0415

    source = _schema_source(pytestconfig, chassis_metadata)
    name = new_database_name()
    url = clone_template(
        chassis_postgres.url,
        source,
        template_name(pytestconfig.rootpath),
        name,
        rebuild=bool(pytestconfig.getoption(OPTION_REBUILD, default=False)),
    )
    try:
        yield url
    finally:
        drop_database(chassis_postgres.url, name)


@dataclass
class WorkerDatabase:
    """This run's database, as the per-test fixtures need it.

    Attributes:
        url: Its URL.
        baseline: What it held when it was made (restored after ``committed_db`` tests).
        engine: An engine that pools nothing, usable on any event loop.
    """

    url: str
    baseline: DatabaseBaseline
    engine: AsyncEngine


async def _baseline(url: str) -> DatabaseBaseline:
    from sqlalchemy.ext.asyncio import create_async_engine  # noqa: PLC0415
    from sqlalchemy.pool import NullPool  # noqa: PLC0415

    from fastapi_chassis.testing.committed import read_baseline  # noqa: PLC0415

    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            return await read_baseline(connection)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def _chassis_worker(chassis_database_url: str) -> WorkerDatabase:
    from sqlalchemy.ext.asyncio import create_async_engine  # noqa: PLC0415
    from sqlalchemy.pool import NullPool  # noqa: PLC0415

    baseline = run_sync(lambda: _baseline(chassis_database_url))
    # One engine for every loop: with nothing pooled, each connection is opened
    # on the loop that asks for it, and the dialect is set up only once.
    engine = create_async_engine(chassis_database_url, poolclass=NullPool)
    return WorkerDatabase(chassis_database_url, baseline, engine)


@dataclass
class LoopResources:
    """What the tests on one event loop share.

    Attributes:
        engine: The engine ``db_session`` and ``db_engine`` use on this loop.
        runner: The application's lifespan on this loop, once ``client`` started it.
        per_test: Whether the loop (and so everything here) ends with the test.
    """

    engine: AsyncEngine
    runner: AppRunner | None = None
    per_test: bool = False

    def runner_for(self, app: FastAPI) -> AppRunner:
        """Return the lifespan runner of ``app`` on this loop."""
        from fastapi_chassis.testing.application import AppRunner  # noqa: PLC0415

        if self.runner is None or self.runner.app is not app:
            self.runner = AppRunner(app)
        return self.runner

    async def close(self) -> None:
        """Stop the lifespan and close the pooled connections."""
        if self.runner is not None:
            await self.runner.stop()
        if not self.per_test:
            await self.engine.dispose()


def _loop_resources_fixture(scope: str) -> object:
    @pytest_asyncio.fixture(scope=scope, loop_scope=scope, name=f"_chassis_loop_{scope}")  # type: ignore[call-overload, untyped-decorator]
    async def resources(_chassis_worker: WorkerDatabase) -> AsyncIterator[LoopResources]:
        from sqlalchemy.ext.asyncio import create_async_engine  # noqa: PLC0415

        # The loop outlives the test: its connections can be pooled and reused.
        engine = create_async_engine(_chassis_worker.url, pool_size=2, max_overflow=8)
        loop = LoopResources(engine)
        try:
            yield loop
        finally:
            await loop.close()

    return resources


# pytest-asyncio fixes a fixture's loop scope where the fixture is defined, so
# there is one per scope; _chassis_test picks the one the configuration uses.
for _scope in _LOOP_SCOPES:
    globals()[f"_chassis_loop_{_scope}"] = _loop_resources_fixture(_scope)


def fixture_loop_scope(config: pytest.Config) -> str:
    """Return the event loop scope pytest-asyncio gives function-scoped async fixtures."""
    scope = config.getini("asyncio_default_fixture_loop_scope")
    if scope in {None, "", "fixture-scope"}:
        return "function"
    return str(scope)


def require_shared_loop(request: pytest.FixtureRequest) -> None:
    """Fail clearly when a test would run on another event loop than ``db_session``.

    pytest-asyncio runs function-scoped async fixtures on the loop named by
    ``asyncio_default_fixture_loop_scope`` and each test on the loop of its
    ``asyncio`` mark (default ``asyncio_default_test_loop_scope``). A connection
    belongs to the loop it was opened on, so when the two differ every query in
    the test would fail with "attached to a different loop" deep inside asyncpg.

    Args:
        request: The requesting test's fixture request.

    Raises:
        pytest.UsageError: If the test's loop scope differs from the fixtures'.
    """
    marker = request.node.get_closest_marker("asyncio")
    if marker is None:
        return
    config = request.config
    test_scope = (
        marker.kwargs.get("loop_scope")
        or marker.kwargs.get("scope")
        or config.getini("asyncio_default_test_loop_scope")
        or "function"
    )
    fixture_scope = fixture_loop_scope(config)
    if test_scope != fixture_scope:
        raise pytest.UsageError(
            f"{request.node.nodeid} runs on the {test_scope!r} event loop but db_session on the "
            f"{fixture_scope!r} one (asyncio_default_fixture_loop_scope), and a connection cannot "
            "cross event loops: give asyncio_default_fixture_loop_scope and the test's loop scope "
            "(asyncio_default_test_loop_scope or its asyncio mark) the same value"
        )


@dataclass
class TestDatabase:
    """How one test reaches the database.

    Attributes:
        worker: The run's database.
        loop: The resources of the test's event loop.
        committed: Set when the test asked for ``committed_db``.
    """

    __test__ = False

    worker: WorkerDatabase
    loop: LoopResources
    committed: CommittedDatabase | None = field(default=None)


@pytest.fixture
def _chassis_test(request: pytest.FixtureRequest, _chassis_worker: WorkerDatabase) -> TestDatabase:
    require_shared_loop(request)
    # Asked for first, so that its cleanup runs after everything that uses it.
    committed: CommittedDatabase | None = (
        request.getfixturevalue("committed_db") if "committed_db" in request.fixturenames else None
    )
    scope = fixture_loop_scope(request.config)
    if scope == "function":
        loop = LoopResources(_chassis_worker.engine, per_test=True)
    else:
        loop = request.getfixturevalue(f"_chassis_loop_{scope}")
    return TestDatabase(_chassis_worker, loop, committed)


@pytest_asyncio.fixture
async def committed_db(_chassis_worker: WorkerDatabase) -> AsyncIterator[CommittedDatabase]:
    """Make the test commit for real; put the database back as it was afterwards.

    With it, ``db_session`` is a plain session whose ``commit()`` is a real
    commit, ``client``'s requests use the application's own engine, and other
    connections see what was committed. After the test, tables that gained rows
    are truncated and seed rows that changed are reloaded (see
    :mod:`fastapi_chassis.testing.committed`).
    """
    from sqlalchemy.engine import make_url  # noqa: PLC0415

    from fastapi_chassis.testing.committed import (  # noqa: PLC0415
        CommittedDatabase,
        restore_baseline,
    )

    url = _chassis_worker.url
    yield CommittedDatabase(url, str(make_url(url).database))
    # On the tests' loop: a task of the application (its outbox relay) may be in
    # a transaction whose locks the cleanup waits for, and it finishes only while
    # its loop runs.
    await restore_baseline(_chassis_worker.engine, _chassis_worker.baseline)


@pytest.fixture
def db_engine(_chassis_test: TestDatabase) -> AsyncEngine:
    """An engine on the test database, usable on the test's event loop.

    With session-scoped loops it pools its connections across tests; with
    function-scoped loops it pools nothing, so each connection is opened on the
    loop of the test that asks for it.
    """
    return _chassis_test.loop.engine


@pytest_asyncio.fixture
async def db_session(_chassis_test: TestDatabase) -> AsyncIterator[AsyncSession]:
    """A session whose every change, commits included, is rolled back after the test.

    The session joins an outer transaction with ``join_transaction_mode=
    "create_savepoint"``: ``commit()`` in the code under test releases a SAVEPOINT
    and the outer transaction is rolled back at the end. It runs on the event loop
    of function-scoped async fixtures, which the test must share (see
    :func:`require_shared_loop`). In a test that asks for ``committed_db`` it is
    a plain session instead, whose commits are real.
    """
    from sqlalchemy.ext.asyncio import AsyncSession  # noqa: PLC0415

    engine = _chassis_test.loop.engine
    if _chassis_test.committed is not None:
        session = AsyncSession(bind=engine, expire_on_commit=False)
        try:
            yield session
        finally:
            await session.close()
        return
    async with engine.connect() as connection:
        transaction = await connection.begin()
        session = AsyncSession(
            bind=connection,
            join_transaction_mode="create_savepoint",
            expire_on_commit=False,
        )
        try:
            yield session
        finally:
            try:
                await session.close()
                await transaction.rollback()
            except BaseException:
                # A pooled connection in an unknown state must not reach the next test.
                await connection.invalidate()
                raise


@pytest.fixture(scope="session")
def chassis_app(pytestconfig: pytest.Config) -> FastAPI:
    """The application under test: the ``chassis_app`` ini option, or override this fixture.

    The option names ``module:attribute``, an application made by ``create_app``
    or a function returning one. The ``client`` fixture runs its lifespan with the
    test database in place of its ``database_url``.
    """
    from fastapi_chassis.testing.application import load_app  # noqa: PLC0415

    spec = str(pytestconfig.getini(INI_APP) or "")
    if not spec:
        raise pytest.UsageError(
            f"the client fixture needs the application: set the {INI_APP} ini option "
            "(module:attribute) or override the chassis_app fixture in conftest.py"
        )
    return load_app(spec)


@pytest_asyncio.fixture
async def client(
    _chassis_test: TestDatabase, db_session: AsyncSession, chassis_app: FastAPI
) -> AsyncIterator[httpx.AsyncClient]:
    """An ``httpx.AsyncClient`` calling the application in process, in the test's transaction.

    The application's lifespan runs once per event loop (once per session with
    session-scoped loops). Its requests share ``db_session``'s transaction and
    are rolled back with it (each request in a savepoint of its own); in a
    ``committed_db`` test they commit for real.
    """
    from fastapi_chassis.testing.application import serve  # noqa: PLC0415

    loop = _chassis_test.loop
    async with serve(
        chassis_app,
        loop.runner_for(chassis_app),
        db_session,
        _chassis_test.worker.url,
        committed=_chassis_test.committed is not None,
        per_test=loop.per_test,
    ) as http:
        yield http


@pytest_asyncio.fixture
async def captured_events(
    _chassis_test: TestDatabase, db_session: AsyncSession
) -> AsyncIterator[CapturedEvents]:
    """The events recorded in the outbox and published during the test.

    See :class:`~fastapi_chassis.testing.events.CapturedEvents`:
    ``await captured_events.assert_recorded("shop.order.placed", aggregate_id=...)``,
    ``await captured_events.relay()``, ``captured_events.published``.
    """
    from fastapi_chassis.testing.events import CapturedEvents  # noqa: PLC0415

    capture = await CapturedEvents.start(
        db_session, _chassis_test.loop.engine, committed=_chassis_test.committed is not None
    )
    try:
        yield capture
    finally:
        capture.close()


@pytest.fixture
def captured_logs() -> Iterator[CapturedLogs]:
    """The structured log lines written during the test, as dicts.

    See :class:`~fastapi_chassis.testing.logs.CapturedLogs`:
    ``captured_logs.assert_logged("order placed", order_id=...)``,
    ``captured_logs.access_lines()``.
    """
    from fastapi_chassis.testing.logs import capturing_logs  # noqa: PLC0415

    with capturing_logs() as lines:
        yield lines


@pytest.fixture(scope="session")
def chassis_migrations(
    pytestconfig: pytest.Config, chassis_postgres: ServerHandle
) -> MigrationChecks:
    """The migration checks, bound to the ``chassis_alembic_ini`` option and the test server."""
    from fastapi_chassis.testing.migrations import MigrationChecks  # noqa: PLC0415

    ini = str(pytestconfig.getini(INI_ALEMBIC) or "")
    if not ini:
        raise pytest.UsageError(
            f"the migration checks need the path of alembic.ini: set the {INI_ALEMBIC} ini option"
        )
    return MigrationChecks(_ini_path(pytestconfig, ini), chassis_postgres)
