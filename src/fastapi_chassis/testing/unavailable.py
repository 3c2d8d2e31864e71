"""Stand-ins for the fixtures when the pytest-asyncio plugin is not active.

A test that asks for a database then fails with what to install, rather than
with pytest's "fixture not found".
"""

from __future__ import annotations

import pytest

_MESSAGE = (
    "the fastapi-chassis database fixtures need the pytest-asyncio plugin, which is "
    "not installed or is disabled (-p no:asyncio): pip install 'fastapi-chassis[testing]'"
)


@pytest.fixture(scope="session")
def chassis_metadata() -> None:
    """Fail with what to install."""
    raise pytest.UsageError(_MESSAGE)


@pytest.fixture(scope="session")
def chassis_postgres() -> None:
    """Fail with what to install."""
    raise pytest.UsageError(_MESSAGE)


@pytest.fixture(scope="session")
def chassis_database_url() -> None:
    """Fail with what to install."""
    raise pytest.UsageError(_MESSAGE)


@pytest.fixture
def db_engine() -> None:
    """Fail with what to install."""
    raise pytest.UsageError(_MESSAGE)


@pytest.fixture
def db_session() -> None:
    """Fail with what to install."""
    raise pytest.UsageError(_MESSAGE)
