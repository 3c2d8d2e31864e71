"""Stand-ins for the database fixtures when pytest-asyncio is not installed."""

from __future__ import annotations

import pytest

_MESSAGE = (
    "the fastapi-chassis database fixtures need pytest-asyncio: "
    "pip install 'fastapi-chassis[testing]'"
)


@pytest.fixture
def db_session() -> None:
    """Fail with what to install."""
    raise pytest.UsageError(_MESSAGE)


@pytest.fixture
def db_engine() -> None:
    """Fail with what to install."""
    raise pytest.UsageError(_MESSAGE)
