"""Engines and session factories configured from :class:`~fastapi_chassis.ChassisSettings`."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine

from fastapi_chassis.settings import ChassisSettings

__all__ = ["create_engine", "create_sessionmaker"]


def create_engine(settings: ChassisSettings, **engine_options: Any) -> AsyncEngine:
    """Create the application's :class:`~sqlalchemy.ext.asyncio.AsyncEngine`.

    Pool size, overflow, timeouts and recycling come from the ``db_*`` settings;
    every connection reports ``service_name`` as its ``application_name`` and, unless
    ``db_statement_timeout_ms`` is 0, carries a server-side statement timeout.

    With ``db_pgbouncer`` set (PgBouncer in transaction pooling mode), asyncpg's
    prepared-statement caches are turned off and statements get unique names,
    since consecutive transactions may run on different server connections; the
    statement timeout is then not sent at connect time (PgBouncer rejects unknown
    startup parameters): set it on the database role instead.

    Args:
        settings: The application settings; ``database_url`` is required.
        **engine_options: Passed to :func:`~sqlalchemy.ext.asyncio.create_async_engine`,
            overriding the values derived from the settings.

    Raises:
        ConfigurationError: If no database URL is configured.
    """
    url = settings.require_database_url()
    server_settings = {"application_name": settings.service_name[:63]}
    connect_args: dict[str, Any] = {
        "timeout": settings.db_connect_timeout,
        "server_settings": server_settings,
    }
    if settings.db_pgbouncer:
        connect_args["statement_cache_size"] = 0
        connect_args["prepared_statement_cache_size"] = 0
        connect_args["prepared_statement_name_func"] = _unique_statement_name
    elif settings.db_statement_timeout_ms:
        server_settings["statement_timeout"] = str(settings.db_statement_timeout_ms)
    options: dict[str, Any] = {
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_max_overflow,
        "pool_timeout": settings.db_pool_timeout,
        "pool_recycle": settings.db_pool_recycle,
        "pool_pre_ping": settings.db_pool_pre_ping,
        "echo": settings.db_echo,
        "connect_args": connect_args,
    }
    options.update(engine_options)
    return _create_async_engine(url, **options)


def _unique_statement_name() -> str:
    return f"__chassis_{uuid4().hex}__"


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Return a session factory for ``engine`` with ``expire_on_commit=False``.

    Async code cannot lazy-load expired attributes, so objects keep their loaded
    state after a commit. Soft-delete filtering does not depend on this factory:
    it applies to every session.
    """
    return async_sessionmaker(engine, expire_on_commit=False)
