"""A typed repository over one model: lookups, keyset pages and checked writes.

Every statement is built with SQLAlchemy expressions and bound parameters; field
names from callers are checked against the model's mapped columns first.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy import ColumnElement, delete, func, select, tuple_, update
from sqlalchemy import inspect as sa_inspect

from fastapi_chassis.db.columns import ColumnRole, column_role, column_with_role
from fastapi_chassis.db.cursor import decode_cursor, encode_cursor
from fastapi_chassis.db.errors import ConcurrencyConflict, InvalidQuery, NotFound
from fastapi_chassis.db.filters import build_filters, column_attribute, validate_value

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession
    from sqlalchemy.orm import InstrumentedAttribute, Mapper

__all__ = ["MAX_PAGE_SIZE", "AsyncRepository", "Page"]

ModelT = TypeVar("ModelT")

MAX_PAGE_SIZE = 1000
"""The largest ``limit`` :meth:`AsyncRepository.list` accepts."""

# Columns the server maintains; callers change them through dedicated methods.
_SERVER_OWNED = frozenset(
    {
        ColumnRole.UUID7_PRIMARY_KEY,
        ColumnRole.CREATED_AT,
        ColumnRole.UPDATED_AT,
        ColumnRole.VERSION,
        ColumnRole.DELETED_AT,
        ColumnRole.IS_DELETED,
    }
)


@dataclass(frozen=True, slots=True)
class Page(Generic[ModelT]):
    """One page of a keyset-paginated listing.

    Attributes:
        items: The rows of this page, in order.
        next_cursor: Pass as ``after=`` to get the next page; ``None`` on the last page.
    """

    items: list[ModelT]
    next_cursor: str | None


class AsyncRepository(Generic[ModelT]):
    """Data access for one model through an :class:`~sqlalchemy.ext.asyncio.AsyncSession`.

    Soft-deleted rows are invisible to every method except :meth:`restore` and
    :meth:`delete`. Writes happen in the session's transaction; committing is the
    caller's business (the ``get_session`` dependency commits per request).

    Example:
        >>> repo = AsyncRepository(session, Product)
        >>> product = await repo.create(Product(name="Mug", sku="MUG-1"))
        >>> page = await repo.list(limit=20, name__contains="mug")
        >>> product = await repo.update(product.id, {"name": "Big mug"}, expected_version=1)

    Args:
        session: The session to work in.
        model: A mapped class with a single-column primary key.
    """

    def __init__(self, session: AsyncSession, model: type[ModelT]) -> None:
        mapper: Mapper[ModelT] = sa_inspect(model)
        if len(mapper.primary_key) != 1:
            raise TypeError(f"{model.__name__} needs a single-column primary key")
        self.session = session
        self.model = model
        self._mapper = mapper
        self._name = model.__name__
        self._pk: InstrumentedAttribute[Any] = getattr(
            model, mapper.get_property_by_column(mapper.primary_key[0]).key
        )
        table = mapper.local_table
        self._version = self._attribute_for(ColumnRole.VERSION, table)
        self._deleted_at = self._attribute_for(ColumnRole.DELETED_AT, table)

    def _attribute_for(self, role: ColumnRole, table: Any) -> InstrumentedAttribute[Any] | None:
        column = column_with_role(table, role)
        if column is None:
            return None
        attribute: InstrumentedAttribute[Any] = getattr(
            self.model, self._mapper.get_property_by_column(column).key
        )
        return attribute

    async def get(self, identity: object) -> ModelT:
        """Return the live row with this primary key.

        Raises:
            NotFound: If there is no such row, or it is soft-deleted.
        """
        instance = await self.session.get(self.model, identity)
        if instance is None or self._is_deleted(instance):
            raise NotFound(self._name, identity)
        return instance

    async def list(
        self,
        *,
        limit: int = 50,
        after: str | None = None,
        order_by: str | None = None,
        include_deleted: bool = False,
        only_deleted: bool = False,
        filters: Mapping[str, object] | None = None,
        **conditions: object,
    ) -> Page[ModelT]:
        """Return a page of rows, in keyset order.

        Args:
            limit: The page size, from 1 to :data:`MAX_PAGE_SIZE`.
            after: The ``next_cursor`` of the previous page.
            order_by: A non-nullable column name, ``-`` in front for descending;
                by default the primary key (creation order for UUIDv7 keys). The
                primary key breaks ties.
            include_deleted: Also list soft-deleted rows.
            only_deleted: List only soft-deleted rows (a trash view).
            filters: ``field`` or ``field__operator`` conditions as a mapping, for
                conditions built at run time (a query string, say).
            **conditions: The same conditions as keyword arguments; both forms
                combine (see :mod:`fastapi_chassis.db.filters`).

        Raises:
            InvalidQuery: For a bad limit, ordering, filter or cursor.
        """
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise InvalidQuery(f"limit must be between 1 and {MAX_PAGE_SIZE}, not {limit}")
        ordering = order_by or self._pk.key
        descending = ordering.startswith("-")
        sort_attribute = column_attribute(self._mapper, ordering.removeprefix("-"))
        if sort_attribute.nullable:
            raise InvalidQuery(f"cannot order by {ordering!r}: the field is nullable")
        keys = [sort_attribute] if sort_attribute is self._pk else [sort_attribute, self._pk]

        criteria = {**(filters or {}), **conditions}
        statement = select(self.model).where(*build_filters(self._mapper, criteria))
        if after is not None:
            raw = decode_cursor(after, ordering, len(keys))
            values = [
                validate_value(key, value, label="cursor")
                for key, value in zip(keys, raw, strict=True)
            ]
            statement = statement.where(_after(keys, values, descending=descending))
        statement = statement.order_by(*(key.desc() if descending else key.asc() for key in keys))
        statement = statement.limit(limit + 1).execution_options(
            include_deleted=include_deleted, only_deleted=only_deleted
        )
        rows = builtins.list((await self.session.scalars(statement)).all())
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            last = rows[-1]
            next_cursor = encode_cursor(ordering, tuple(getattr(last, key.key) for key in keys))
        return Page(items=rows, next_cursor=next_cursor)

    async def create(self, instance: ModelT) -> ModelT:
        """Add ``instance`` to the session and flush it, so server-set columns are loaded."""
        self.session.add(instance)
        await self.session.flush()
        return instance

    async def update(
        self,
        identity: object,
        values: Mapping[str, object],
        *,
        expected_version: int | None = None,
    ) -> ModelT:
        """Change fields of a live row in one compare-and-swap statement.

        With ``expected_version``, the statement is
        ``UPDATE ... WHERE id = :id AND version = :expected RETURNING ...``: it
        either applies on top of the version the caller saw or changes nothing.

        Args:
            identity: The primary key.
            values: New values by field name. Server-maintained columns (keys,
                timestamps, version, soft-delete state) cannot be set here.
            expected_version: The version the caller's change is based on.

        Raises:
            NotFound: If there is no live row with this key.
            ConcurrencyConflict: If the row's version is not ``expected_version``.
            InvalidQuery: For an unknown or server-maintained field, or a bad value.
        """
        assignments = {key: self._checked_assignment(key, value) for key, value in values.items()}
        if not assignments:
            instance = await self.get(identity)
            self._check_version(identity, instance, expected_version)
            return instance
        statement = update(self.model).where(*self._live_match(identity, expected_version))
        return await self._write_returning(
            statement.values(assignments), identity, expected_version
        )

    async def soft_delete(self, identity: object, *, expected_version: int | None = None) -> ModelT:
        """Mark a live row deleted and return it.

        Raises:
            NotFound: If there is no live row with this key.
            ConcurrencyConflict: If the row's version is not ``expected_version``.
        """
        deleted_at = self._require_soft_delete()
        statement = update(self.model).where(*self._live_match(identity, expected_version))
        return await self._write_returning(
            statement.values({deleted_at.key: func.now()}), identity, expected_version
        )

    async def restore(self, identity: object, *, expected_version: int | None = None) -> ModelT:
        """Make a soft-deleted row live again and return it; a live row is returned as is.

        Raises:
            NotFound: If no row, live or deleted, has this key.
            RestoreConflict: If a live row has taken the row's unique key meanwhile.
            ConcurrencyConflict: If the row's version is not ``expected_version``.
        """
        deleted_at = self._require_soft_delete()
        criteria = [self._pk == identity, deleted_at.is_not(None)]
        if expected_version is not None and self._version is not None:
            criteria.append(self._version == expected_version)
        statement = update(self.model).where(*criteria).values({deleted_at.key: None})
        restored = await self._returning(statement)
        if restored is not None:
            return restored
        state = await self._current_state(identity)
        if state is None:
            raise NotFound(self._name, identity)
        version, is_deleted = state
        if is_deleted:
            raise self._conflict(identity, expected_version, version)
        instance = await self.get(identity)
        self._check_version(identity, instance, expected_version)
        return instance

    async def delete(self, identity: object, *, expected_version: int | None = None) -> None:
        """Delete a row for good, live or soft-deleted.

        Raises:
            NotFound: If no row has this key.
            ConcurrencyConflict: If the row's version is not ``expected_version``.
        """
        criteria = [self._pk == identity]
        if expected_version is not None and self._version is not None:
            criteria.append(self._version == expected_version)
        statement = (
            delete(self.model)
            .where(*criteria)
            .returning(self._pk)
            .execution_options(synchronize_session="fetch")
        )
        if (await self.session.execute(statement)).first() is not None:
            return
        state = await self._current_state(identity)
        if state is None:
            raise NotFound(self._name, identity)
        raise self._conflict(identity, expected_version, state[0])

    # -- internals -------------------------------------------------------------------

    def _is_deleted(self, instance: ModelT) -> bool:
        return self._deleted_at is not None and getattr(instance, self._deleted_at.key) is not None

    def _require_soft_delete(self) -> InstrumentedAttribute[Any]:
        if self._deleted_at is None:
            raise TypeError(f"{self._name} has no SoftDeleteMixin")
        return self._deleted_at

    def _checked_assignment(self, key: str, value: object) -> object:
        attribute = column_attribute(self._mapper, key)
        if column_role(attribute.property.columns[0]) in _SERVER_OWNED:
            raise InvalidQuery(f"{self._name}.{key} is maintained by the server and cannot be set")
        return validate_value(attribute, value, label=f"{self._name}.{key}")

    def _live_match(
        self, identity: object, expected_version: int | None
    ) -> builtins.list[ColumnElement[bool]]:
        criteria = [self._pk == identity]
        if self._deleted_at is not None:
            criteria.append(self._deleted_at.is_(None))
        if expected_version is not None and self._version is not None:
            criteria.append(self._version == expected_version)
        return criteria

    async def _returning(self, statement: Any) -> ModelT | None:
        statement = statement.returning(self.model).execution_options(
            synchronize_session=False, populate_existing=True
        )
        result = await self.session.execute(statement)
        instance: ModelT | None = result.scalars().first()
        return instance

    async def _write_returning(
        self, statement: Any, identity: object, expected_version: int | None
    ) -> ModelT:
        instance = await self._returning(statement)
        if instance is not None:
            return instance
        state = await self._current_state(identity)
        if state is None or state[1]:
            raise NotFound(self._name, identity)
        raise self._conflict(identity, expected_version, state[0])

    async def _current_state(self, identity: object) -> tuple[int | None, bool] | None:
        """Return ``(version, is_deleted)`` of the row, whatever its state, or ``None``."""
        columns: builtins.list[Any] = [
            self._version if self._version is not None else self._pk,
            self._deleted_at.is_not(None) if self._deleted_at is not None else self._pk.is_(None),
        ]
        statement = (
            select(*columns).where(self._pk == identity).execution_options(include_deleted=True)
        )
        row = (await self.session.execute(statement)).first()
        if row is None:
            return None
        version = row[0] if self._version is not None else None
        return version, bool(row[1])

    def _check_version(
        self, identity: object, instance: ModelT, expected_version: int | None
    ) -> None:
        if expected_version is None or self._version is None:
            return
        actual = getattr(instance, self._version.key)
        if actual != expected_version:
            raise self._conflict(identity, expected_version, actual)

    def _conflict(
        self, identity: object, expected: int | None, actual: int | None
    ) -> ConcurrencyConflict:
        return ConcurrencyConflict(
            self._name, identity, expected_version=expected, actual_version=actual
        )


def _after(
    keys: builtins.list[InstrumentedAttribute[Any]],
    values: builtins.list[Any],
    *,
    descending: bool,
) -> ColumnElement[bool]:
    left: Any = keys[0] if len(keys) == 1 else tuple_(*keys)
    right: Any = values[0] if len(keys) == 1 else tuple_(*values)
    condition: ColumnElement[bool] = left < right if descending else left > right
    return condition
