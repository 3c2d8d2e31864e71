"""Checks of a schema's design that belong in an application's test suite.

PostgreSQL indexes the referenced side of a foreign key (it must be unique) but
not the referencing side. Without that index, deleting or re-keying a parent row
scans the whole child table under lock, and joins from parent to children
cannot use an index: a classic cause of slow deletes and lock pile-ups.

Example:
    >>> def test_every_foreign_key_is_indexed():
    ...     assert_foreign_keys_indexed(Base.metadata)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKeyConstraint, Index, PrimaryKeyConstraint, UniqueConstraint
from typing_extensions import override

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy import MetaData, Table

__all__ = ["UnindexedForeignKey", "assert_foreign_keys_indexed", "unindexed_foreign_keys"]


@dataclass(frozen=True, slots=True)
class UnindexedForeignKey:
    """A foreign key whose columns no index leads with.

    Attributes:
        table: The referencing table's (schema-qualified) name.
        columns: The foreign key's columns on the referencing side.
        referred_table: The referenced table's name.
        constraint: The constraint's name, if it has one.
    """

    table: str
    columns: tuple[str, ...]
    referred_table: str
    constraint: str | None

    @override
    def __str__(self) -> str:
        return f"{self.table}({', '.join(self.columns)}) -> {self.referred_table}"


def _leading_column_sets(table: Table) -> Iterator[list[str]]:
    """Yield the column lists of every plain index, primary key and unique constraint."""
    for constraint in table.constraints:
        if isinstance(constraint, PrimaryKeyConstraint | UniqueConstraint):
            yield [column.name for column in constraint.columns]
    for index in table.indexes:
        if _is_plain(index):
            yield [column.name for column in index.columns]


def _is_plain(index: Index) -> bool:
    # A partial index covers only some rows, and an expression index does not
    # index the column itself: neither serves the foreign key's lookups.
    if index.dialect_options["postgresql"].get("where") is not None:
        return False
    return len(index.columns) == len(index.expressions)


def unindexed_foreign_keys(metadata: MetaData) -> list[UnindexedForeignKey]:
    """Return the foreign keys of ``metadata`` that no index supports.

    A foreign key on columns ``(a, b)`` is supported by an index, primary key or
    unique constraint whose leading columns are ``a`` and ``b`` in any order.
    Partial and expression indexes do not count.
    """
    found: list[UnindexedForeignKey] = []
    for table in metadata.sorted_tables:
        leading = list(_leading_column_sets(table))
        for constraint in sorted(
            (c for c in table.constraints if isinstance(c, ForeignKeyConstraint)),
            key=lambda c: tuple(c.column_keys),
        ):
            columns = [column.name for column in constraint.columns]
            width = len(columns)
            if any(set(candidate[:width]) == set(columns) for candidate in leading):
                continue
            found.append(
                UnindexedForeignKey(
                    table=table.fullname,
                    columns=tuple(columns),
                    referred_table=constraint.referred_table.fullname,
                    constraint=str(constraint.name) if constraint.name else None,
                )
            )
    return found


def assert_foreign_keys_indexed(metadata: MetaData) -> None:
    """Fail with a list of every foreign key that no index supports.

    Raises:
        AssertionError: If any foreign key lacks a supporting index.
    """
    missing = unindexed_foreign_keys(metadata)
    if missing:
        lines = "\n".join(f"  - {item}" for item in missing)
        raise AssertionError(
            f"{len(missing)} foreign key(s) without a supporting index "
            f"(add index=True or an Index on the referencing columns):\n{lines}"
        )
