"""Fixtures for the plugin's own tests, which run inner pytest sessions."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

import pytest

from fastapi_chassis.testing.postgres import TEST_DATABASE_URL_ENV

if TYPE_CHECKING:
    from fastapi_chassis.testing.postgres import ServerHandle

# pytester drops from sys.modules whatever a test imported first, and asyncpg's
# compiled protocol crashes the interpreter when imported a second time; so it
# is imported before any test runs. (SQLAlchemy loads it only on first connect.)
import_module("asyncpg")


@pytest.fixture(scope="session")
def server_url(chassis_postgres: ServerHandle) -> str:
    """The outer session's server: inner sessions are pointed at it (or kept off it)."""
    return chassis_postgres.url


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Inner sessions start from an environment that names no server and no Docker.

    The outer run may itself be pointed at a server, and CI machines may run
    Docker; each test then sets exactly the variables it is about.
    """
    for name in (TEST_DATABASE_URL_ENV, "DATABASE_URL", "CHASSIS_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    return monkeypatch
