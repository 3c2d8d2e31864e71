"""Pools of rows that already exist, to draw foreign keys from.

A factory that makes an order needs a customer. ``SubFactory`` makes a new one
every time; a :class:`RowPool` instead holds the primary keys of customers that
exist (loaded from the database, or added as earlier batches are created), and
the :class:`~fastapi_chassis.synthetic.FromPool` declaration draws from it, so
every generated foreign key points at a real row::

    customers = RowPool(Customer)

    class OrderFactory(AsyncSQLAlchemyFactory[Order]):
        customer_id = FromPool(customers)

    await customers.load(session)                    # the customers in the database
    customers.extend(await CustomerFactory.create_batch_async(session, 50))
    orders = await OrderFactory.create_batch_async(session, 500)
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

from sqlalchemy import Column, Table, inspect, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import Mapper
from typing_extensions import override

from fastapi_chassis.db.columns import ColumnRole, column_with_role
from fastapi_chassis.synthetic.errors import SyntheticDataError

__all__ = ["RowPool", "primary_key_column"]


def primary_key_column(table: Table) -> Column[object]:
    """Return the single primary-key column of ``table``.

    Raises:
        SyntheticDataError: If the primary key has no column or several.
    """
    columns = list(table.primary_key.columns)
    if len(columns) != 1:
        raise SyntheticDataError(
            f"table {table.fullname} needs a single-column primary key to be pooled or "
            f"bulk-loaded; it has {len(columns)}"
        )
    return columns[0]


class RowPool:
    """The primary keys of existing rows of one table.

    Args:
        target: The mapped class or the :class:`~sqlalchemy.Table` whose rows the
            pool holds.
        ids: Primary keys to start with.
    """

    def __init__(self, target: type[object] | Table, ids: Iterable[object] = ()) -> None:
        if isinstance(target, Table):
            self.table = target
            self._attribute: str | None = None
        else:
            mapper = inspect(target, raiseerr=False)
            if not isinstance(mapper, Mapper) or not isinstance(mapper.local_table, Table):
                raise TypeError(f"RowPool needs a mapped class or a Table, not {target!r}")
            self.table = mapper.local_table
            self._attribute = mapper.get_property_by_column(primary_key_column(self.table)).key
        self.column = primary_key_column(self.table)
        self._ids: list[object] = list(ids)

    def __len__(self) -> int:
        return len(self._ids)

    @override
    def __repr__(self) -> str:
        return f"RowPool({self.table.fullname}, {len(self._ids)} rows)"

    @property
    def ids(self) -> Sequence[object]:
        """The primary keys in the pool, in the order they were added."""
        return tuple(self._ids)

    def add(self, *ids: object) -> None:
        """Add primary keys to the pool."""
        self._ids.extend(ids)

    def extend(self, rows: Iterable[object]) -> None:
        """Add rows to the pool: model instances (their primary key is taken) or keys.

        Example:
            >>> customers.extend(await CustomerFactory.create_batch_async(session, 20))
        """
        attribute = self._attribute
        for row in rows:
            if attribute is not None and hasattr(row, attribute) and not isinstance(row, str):
                self._ids.append(getattr(row, attribute))
            else:
                self._ids.append(row)

    def clear(self) -> None:
        """Empty the pool."""
        self._ids.clear()

    async def load(
        self,
        bind: AsyncSession | AsyncConnection,
        *,
        limit: int | None = None,
        include_deleted: bool = False,
    ) -> int:
        """Replace the pool's contents with the keys of the table's rows.

        Keys are read in key order, so a pool loaded from the same rows always
        draws the same keys for the same seed. Soft-deleted rows are left out
        unless asked for.

        Args:
            bind: A session or connection on the database.
            limit: The most keys to load (the first ones in key order).
            include_deleted: Also load soft-deleted rows.

        Returns:
            The number of keys loaded.
        """
        statement = select(self.column).order_by(self.column)
        deleted_at = column_with_role(self.table, ColumnRole.DELETED_AT)
        if deleted_at is not None and not include_deleted:
            statement = statement.where(deleted_at.is_(None))
        if limit is not None:
            statement = statement.limit(limit)
        result = await bind.execute(statement)
        self._ids = list(result.scalars())
        return len(self._ids)

    def pick(self, source: random.Random | None = None) -> object:
        """Return a key drawn uniformly from the pool.

        Args:
            source: The random source; factory_boy's shared one (reseeded by
                ``factory.random.reseed_random``) when omitted.

        Raises:
            SyntheticDataError: If the pool is empty.
        """
        if not self._ids:
            raise SyntheticDataError(
                f"the pool of {self.table.fullname} rows is empty: load() it from the "
                "database or extend() it with created rows first"
            )
        if source is None:
            from factory.random import randgen  # noqa: PLC0415

            source = randgen
        return self._ids[source.randrange(len(self._ids))]
