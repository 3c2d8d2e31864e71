"""``BulkLoader``: scenario rows built from the application's factories, streamed with COPY.

Each table is written by one binary ``COPY`` (asyncpg's ``copy_records_to_table``),
tables in foreign-key order, fed batch by batch. A worker thread draws the
scenario plan one role at a time, builds table rows from the factories'
declarations (see :mod:`fastapi_chassis.synthetic._compile`) and hands batches
over a bounded queue; the event loop streams them into the table's COPY. While
PostgreSQL ingests one batch, the next is being built, and because the queue
holds at most ``queue_depth`` batches, memory stays flat whatever the scale. One
COPY per table (per :data:`ROWS_PER_COPY` rows), rather than one per batch,
keeps the server busy: every new statement is a round trip during which it would
wait. The thread also keeps the
event loop free: an application serving requests while a load runs stays
responsive.

The whole load is one transaction. Synthetic data is only useful complete: a
load that fails or is cancelled leaves the database as it was, so a rerun with
the same seed neither collides with half its own rows nor produces a dataset
that differs from the seed's. Resuming per batch would keep partial work at the
price of visible half-datasets and of replaying the generator up to the failed
batch. The cost of one transaction: rows appear only at the end, and a very long
load holds back vacuum on the server meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from factory.random import reseed_random
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.util import sort_tables

from fastapi_chassis.settings import normalize_database_url
from fastapi_chassis.synthetic._compile import compile_roles
from fastapi_chassis.synthetic._plan import ScenarioPlan
from fastapi_chassis.synthetic._producers import derived_seed
from fastapi_chassis.synthetic._rows import RoleRows
from fastapi_chassis.synthetic.errors import SyntheticDataError
from fastapi_chassis.synthetic.pools import RowPool
from fastapi_chassis.synthetic.progress import LoadProgress, ProgressCallback
from fastapi_chassis.synthetic.roles import CORE_ROLES, check_bindings

if TYPE_CHECKING:
    from fastapi_chassis.synthetic.scenarios import Scenario

__all__ = ["ROWS_PER_COPY", "BulkLoader", "TableRows"]

_POOL_LIMIT = 100_000

ROWS_PER_COPY = 1_000_000
"""Rows one COPY statement writes at most before the next one starts.

PostgreSQL checks foreign keys when a statement ends and keeps the pending
checks in memory until then: statements of a million rows bound that memory,
and are still few enough that starting each one costs nothing measurable.
"""

_PUT_POLL_SECONDS = 0.1


@dataclass(frozen=True, slots=True)
class TableRows:
    """Rows for one table, ready for COPY.

    Attributes:
        table: The table.
        columns: The column names, in the order of each row's values.
        rows: The rows.
    """

    table: Table
    columns: tuple[str, ...]
    rows: list[tuple[object, ...]]


@dataclass(frozen=True, slots=True)
class _Failed:
    error: BaseException


_DONE = object()


class BulkLoader:
    """Generates a scenario's rows with the application's factories and COPYs them in.

    Args:
        bind: The engine to load through, or a database URL (an engine is made
            for the load and disposed of after).
        factories: Role name to factory class, as the ``chassis_factories`` hook
            returns them; the four core roles are required, further roles are
            sized by ``Volumes.extra``.
        batch_rows: Rows per batch handed from the generating thread to COPY;
            memory grows with it, throughput levels off above about 10,000.
        queue_depth: Batches built ahead of the one being written.
        value_pool_size: Values each ``factory.Faker`` column draws from, made
            once per load (split between customer locales).
        on_progress: Called after every batch with the load's progress.

    Example:
        ```python
        loader = BulkLoader(engine, {"customer": CustomerFactory, "product": ProductFactory,
                                     "order": OrderFactory, "order_item": OrderItemFactory})
        report = await loader.load(BLACK_FRIDAY, scale=100_000, seed=7)
        print(report.rows, report.rows_per_second)
        ```
    """

    def __init__(
        self,
        bind: AsyncEngine | str,
        factories: Mapping[str, type],
        *,
        batch_rows: int = 10_000,
        queue_depth: int = 2,
        value_pool_size: int = 512,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        if batch_rows < 1 or queue_depth < 1 or value_pool_size < 1:
            raise ValueError("batch_rows, queue_depth and value_pool_size must be at least 1")
        self.bind = bind
        self.factories = check_bindings(factories)
        self.batch_rows = batch_rows
        self.queue_depth = queue_depth
        self.value_pool_size = value_pool_size
        self.on_progress = on_progress

    def _plan(self, scenario: Scenario, *, scale: int | None, seed: int) -> ScenarioPlan:
        return ScenarioPlan(scenario, scale=scale, seed=seed, extra_roles=self._extra_roles())

    def generate(
        self, scenario: Scenario, *, scale: int | None = None, seed: int = 0
    ) -> Iterator[TableRows]:
        """Yield the load's batches without touching a database.

        Foreign keys to tables outside the roles are drawn from the factories'
        pools as they are (nothing is loaded from a database).

        Args:
            scenario: What to generate.
            scale: The number of orders; the scenario's default when ``None``.
            seed: The seed.

        Yields:
            Batches of rows, table after table in foreign-key order (all of a
            table's batches before the next table's).
        """
        plan = self._plan(scenario, scale=scale, seed=seed)
        builders = compile_roles(self.factories, plan, seed=seed, pool_size=self.value_pool_size)
        yield from self._batches(plan, builders)

    async def load(
        self, scenario: Scenario, *, scale: int | None = None, seed: int = 0
    ) -> LoadProgress:
        """Generate the scenario's rows and write them, in one transaction.

        Args:
            scenario: What to generate.
            scale: The number of orders (other volumes derive from it); the
                scenario's default when ``None``.
            seed: The seed: the same scenario, scale and seed write the same rows.

        Returns:
            The final progress: rows per table, duration and rate.

        Raises:
            RoleBindingError: If the factories cannot produce the scenario's rows.
            SyntheticDataError: If PostgreSQL rejects a batch (the load is rolled back).
        """
        started = time.perf_counter()
        plan = self._plan(scenario, scale=scale, seed=seed)
        builders = compile_roles(self.factories, plan, seed=seed, pool_size=self.value_pool_size)
        written: dict[str, int] = {}

        def progress(*, finished: bool = False) -> LoadProgress:
            return LoadProgress(
                scenario=scenario.name,
                scale=plan.counts.orders,
                seed=seed,
                rows=dict(written),
                expected_rows=plan.counts.expected_total,
                elapsed=time.perf_counter() - started,
                finished=finished,
            )

        async with self._engine() as engine, engine.connect() as connection:
            await _load_pools(connection, builders)
            await connection.commit()
            raw = await connection.get_raw_connection()
            driver = raw.driver_connection
            if driver is None:  # pragma: no cover - a live connection always has one
                raise SyntheticDataError("the connection has no asyncpg connection")
            async with driver.transaction():
                batches = _Lookahead(self._produced(plan, builders))
                while (first := await batches.peek()) is not None:
                    name = _table_name(first.table)

                    async def rows(
                        table: Table = first.table, name: str = name
                    ) -> AsyncIterator[tuple[object, ...]]:
                        # The table's batches, up to the statement's share of rows.
                        sent = 0
                        while (
                            sent < ROWS_PER_COPY
                            and (batch := await batches.peek()) is not None
                            and batch.table is table
                        ):
                            await batches.pop()
                            for row in batch.rows:
                                yield row
                            sent += len(batch.rows)
                            written[name] = written.get(name, 0) + len(batch.rows)
                            if self.on_progress is not None:
                                self.on_progress(progress())

                    await _copy(driver, first, rows())
        report = progress(finished=True)
        if self.on_progress is not None:
            self.on_progress(report)
        return report

    # -- internals ------------------------------------------------------------

    def _extra_roles(self) -> list[str]:
        extras = {
            role: factory_class
            for role, factory_class in self.factories.items()
            if role not in CORE_ROLES
        }
        tables = {
            factory_class._meta.model.__table__: role  # noqa: SLF001 - factory_boy options
            for role, factory_class in extras.items()
        }
        # Extra roles may reference each other: parents first.
        return [tables[table] for table in sort_tables(tables)]

    @contextlib.asynccontextmanager
    async def _engine(self) -> AsyncIterator[AsyncEngine]:
        if isinstance(self.bind, AsyncEngine):
            yield self.bind
            return
        url = normalize_database_url(self.bind)
        engine = create_async_engine(url, poolclass=NullPool)
        try:
            yield engine
        finally:
            await engine.dispose()

    def _batches(self, plan: ScenarioPlan, builders: Mapping[str, RoleRows]) -> Iterator[TableRows]:
        for role in plan.roles:
            builder = builders[role]
            columns = tuple(builder.column_names)
            pending: list[tuple[object, ...]] = []
            for emission in plan.emissions(role):
                pending.extend(builder.rows(emission))
                if len(pending) >= self.batch_rows:
                    yield TableRows(builder.table, columns, pending)
                    pending = []
            if pending:
                yield TableRows(builder.table, columns, pending)

    async def _produced(
        self, plan: ScenarioPlan, builders: Mapping[str, RoleRows]
    ) -> AsyncIterator[TableRows]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue(maxsize=self.queue_depth)
        stop = threading.Event()

        def produce() -> None:
            try:
                # Declarations evaluated per row by factory_boy (fuzzy attributes,
                # lazy functions using factory.random) draw from its shared source.
                reseed_random(derived_seed(plan.seed, "factory_boy"))  # type: ignore[no-untyped-call]
                for batch in self._batches(plan, builders):
                    if not _put(loop, queue, batch, stop):
                        return
                _put(loop, queue, _DONE, stop)
            except BaseException as error:  # noqa: BLE001 - handed to the writer, re-raised there
                _put(loop, queue, _Failed(error), stop)

        thread = threading.Thread(target=produce, name="chassis-synthetic-rows", daemon=True)
        thread.start()
        try:
            while True:
                item = await queue.get()
                if item is _DONE:
                    return
                if isinstance(item, _Failed):
                    raise item.error
                assert isinstance(item, TableRows)  # noqa: S101 - the queue holds nothing else
                yield item
        finally:
            stop.set()
            await asyncio.to_thread(thread.join)


def _put(
    loop: asyncio.AbstractEventLoop,
    queue: asyncio.Queue[object],
    item: object,
    stop: threading.Event,
) -> bool:
    """Hand ``item`` to the writer, waiting while the queue is full; False once stopped."""
    try:
        future = asyncio.run_coroutine_threadsafe(queue.put(item), loop)
    except RuntimeError:  # the loop has closed: nobody is listening any more
        return False
    while True:
        try:
            future.result(timeout=_PUT_POLL_SECONDS)
        except TimeoutError:
            if stop.is_set():
                future.cancel()
                return False
        else:
            return True


async def _load_pools(connection: AsyncConnection, builders: Mapping[str, RoleRows]) -> None:
    for builder in builders.values():
        for key, pool in list(builder.pools.items()):
            if len(pool):
                continue
            # The application's pool object is left alone; the load uses a copy.
            loaded = RowPool(pool.table)
            await loaded.load(connection, limit=_POOL_LIMIT)
            builder.pools[key] = loaded


async def _copy(driver: object, first: TableRows, rows: AsyncIterator[tuple[object, ...]]) -> None:
    """Write a table's rows with one COPY."""
    try:
        await driver.copy_records_to_table(  # type: ignore[attr-defined]
            first.table.name,
            records=rows,
            columns=list(first.columns),
            schema_name=first.table.schema,
        )
    except Exception as error:
        if type(error).__module__.startswith("asyncpg"):
            raise SyntheticDataError(
                f"PostgreSQL rejected rows for {_table_name(first.table)}: {error} "
                "(the load was rolled back)"
            ) from error
        raise


class _Lookahead:
    """An async iterator of batches that can show the next one without taking it."""

    def __init__(self, source: AsyncIterator[TableRows]) -> None:
        self._source = source
        self._next: TableRows | None = None
        self._done = False

    async def peek(self) -> TableRows | None:
        if self._next is None and not self._done:
            try:
                self._next = await anext(self._source)
            except StopAsyncIteration:
                self._done = True
        return self._next

    async def pop(self) -> TableRows | None:
        item = await self.peek()
        self._next = None
        return item


def _table_name(table: Table) -> str:
    return table.fullname
