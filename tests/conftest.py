"""Marks every test that needs PostgreSQL, so ``-m db`` selects the database tests."""

from __future__ import annotations

import pytest

# Every database fixture of the chassis's pytest plugin depends on one of these.
_DATABASE_FIXTURES = frozenset({"chassis_postgres", "chassis_database_url"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Add the ``db`` marker to tests whose fixtures reach a database server."""
    for item in items:
        if _DATABASE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.db)
