"""Stand-ins for the fixtures when the pytest-asyncio plugin is not active.

A test that asks for a fixture then fails with what to install, rather than
with pytest's "fixture not found".
"""

from __future__ import annotations

import pytest

_MESSAGE = (
    "the fastapi-chassis fixtures need the pytest-asyncio plugin, which is "
    "not installed or is disabled (-p no:asyncio): pip install 'fastapi-chassis[testing]'"
)


def _missing() -> None:
    raise pytest.UsageError(_MESSAGE)


@pytest.fixture(scope="session")
def chassis_metadata() -> None:
    """Fail with what to install."""
    _missing()


@pytest.fixture(scope="session")
def chassis_postgres() -> None:
    """Fail with what to install."""
    _missing()


@pytest.fixture(scope="session")
def chassis_database_url() -> None:
    """Fail with what to install."""
    _missing()


@pytest.fixture
def db_engine() -> None:
    """Fail with what to install."""
    _missing()


@pytest.fixture
def db_session() -> None:
    """Fail with what to install."""
    _missing()


@pytest.fixture
def committed_db() -> None:
    """Fail with what to install."""
    _missing()


@pytest.fixture(scope="session")
def chassis_app() -> None:
    """Fail with what to install."""
    _missing()


@pytest.fixture
def client() -> None:
    """Fail with what to install."""
    _missing()


@pytest.fixture
def captured_events() -> None:
    """Fail with what to install."""
    _missing()


@pytest.fixture
def captured_logs() -> None:
    """Fail with what to install."""
    _missing()


@pytest.fixture(scope="session")
def chassis_migrations() -> None:
    """Fail with what to install."""
    _missing()
