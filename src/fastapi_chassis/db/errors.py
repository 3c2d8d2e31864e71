"""Exceptions raised by the data layer.

The web layer maps them to problem responses: :class:`NotFound` to 404,
:class:`ConflictError` and its subclasses to 409 (412 for a stale ``If-Match``),
:class:`InvalidQuery` to 400.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm.exc import StaleDataError

from fastapi_chassis.errors import ChassisError

if TYPE_CHECKING:
    from uuid import UUID

__all__ = [
    "ConcurrencyConflict",
    "ConflictError",
    "InvalidQuery",
    "NotFound",
    "RestoreConflict",
    "sqlstate",
]


def sqlstate(error: BaseException) -> str | None:
    """Return the PostgreSQL SQLSTATE of a database error (``"23505"``), if it has one.

    Accepts SQLAlchemy's wrappers (``IntegrityError`` and the other ``DBAPIError``
    subclasses) and driver exceptions alike: asyncpg's errors (``sqlstate``),
    psycopg's (``sqlstate`` or ``pgcode``), and SQLAlchemy's asyncpg adapter
    errors, which carry asyncpg's as their cause.

    Example:
        ```python
        try:
            await session.flush()
        except IntegrityError as error:
            if sqlstate(error) == "23505":  # unique_violation
                ...
        ```
    """
    original = getattr(error, "orig", None)
    candidates = (error, original, getattr(original, "__cause__", None), error.__cause__)
    for candidate in candidates:
        state = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(state, str):
            return state
    return None


class NotFound(ChassisError, LookupError):
    """No live row has the requested identity (it is absent or soft-deleted).

    Attributes:
        entity: The name of the model that was looked up.
        identity: The primary key that was asked for.
    """

    def __init__(self, entity: str, identity: object) -> None:
        super().__init__(f"{entity} {identity} not found")
        self.entity = entity
        self.identity = identity


class ConflictError(ChassisError):
    """A write collided with the current state of the database."""


class ConcurrencyConflict(ConflictError, StaleDataError):
    """An optimistic-locking check failed: the row changed since it was read.

    It subclasses SQLAlchemy's :class:`~sqlalchemy.orm.exc.StaleDataError`, so code
    that already catches that keeps working.

    Attributes:
        entity: The name of the model.
        identity: The row's primary key.
        expected_version: The version the writer based its change on.
        actual_version: The version the row has now.
    """

    def __init__(
        self,
        entity: str,
        identity: UUID | object,
        *,
        expected_version: int | None,
        actual_version: int | None,
    ) -> None:
        super().__init__(
            f"{entity} {identity} is at version {actual_version}, "
            f"not the expected version {expected_version}"
        )
        self.entity = entity
        self.identity = identity
        self.expected_version = expected_version
        self.actual_version = actual_version


class RestoreConflict(ConflictError):
    """Restoring a soft-deleted row would duplicate a live row's unique key.

    Attributes:
        table: The table of the restored row.
        constraint: The unique index or constraint that would be violated.
        detail: PostgreSQL's description of the duplicate key, when it gave one.
    """

    def __init__(self, table: str, constraint: str | None, detail: str | None) -> None:
        message = f"restoring a row of {table} would duplicate a live row"
        if constraint:
            message += f" ({constraint})"
        if detail:
            message += f": {detail}"
        super().__init__(message)
        self.table = table
        self.constraint = constraint
        self.detail = detail


class InvalidQuery(ChassisError, ValueError):
    """A repository call named an unknown field, a bad filter, or a malformed cursor."""
