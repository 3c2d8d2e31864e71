"""Settings for every part of the chassis, read from the environment.

Every field can be set with an environment variable named ``CHASSIS_`` plus the
field name in upper case (``CHASSIS_DATABASE_URL``, ``CHASSIS_DB_POOL_SIZE``), or
from a ``.env`` file. The database URL also answers to the conventional
``DATABASE_URL``, which most platforms set. Secrets are :class:`pydantic.SecretStr`,
so they never show in ``repr()``, logs or tracebacks.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from fastapi_chassis.errors import ConfigurationError

__all__ = ["ChassisSettings", "Environment", "normalize_database_url"]

Environment = Literal["development", "test", "staging", "production"]
"""The deployment environments the chassis knows about."""

_ASYNC_DRIVER = "postgresql+asyncpg"
_POSTGRES_SCHEMES = frozenset({"postgres", "postgresql", "postgresql+asyncpg"})


def normalize_database_url(raw: str) -> URL:
    """Parse a PostgreSQL URL and point it at the asyncpg driver.

    ``postgres://`` and ``postgresql://`` (as platforms hand them out) become
    ``postgresql+asyncpg://``; any other scheme or driver is rejected.

    Args:
        raw: The URL as given.

    Returns:
        The parsed URL with the ``postgresql+asyncpg`` driver.

    Raises:
        ValueError: If the text is not a URL or names another database or driver.
    """
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ValueError(
            "is not a database URL; expected postgresql+asyncpg://user:password@host:5432/dbname"
        ) from None
    if url.drivername not in _POSTGRES_SCHEMES:
        raise ValueError(
            f"uses {url.drivername!r}; the chassis runs on PostgreSQL through asyncpg, "
            "so the URL must start with postgresql+asyncpg:// (or postgresql://)"
        )
    if not url.database:
        raise ValueError("names no database; add it after the host: ...@host:5432/dbname")
    return url.set(drivername=_ASYNC_DRIVER)


class ChassisSettings(BaseSettings):
    """Configuration for an application built with :func:`fastapi_chassis.create_app`.

    Example:
        >>> settings = ChassisSettings(database_url="postgresql://app@db:5432/shop")
        >>> settings.database_url.get_secret_value()
        'postgresql+asyncpg://app@db:5432/shop'
    """

    model_config = SettingsConfigDict(
        env_prefix="CHASSIS_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
        populate_by_name=True,
    )

    #: Where the application's PostgreSQL lives. ``postgres://`` and
    #: ``postgresql://`` URLs are accepted and switched to asyncpg.
    database_url: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("CHASSIS_DATABASE_URL", "DATABASE_URL"),
    )
    #: Which deployment this is; some features refuse to run in production.
    environment: Environment = "development"
    #: The name the service reports in logs, metrics and event sources.
    service_name: str = "fastapi-chassis"

    #: Connections kept open in the pool.
    db_pool_size: int = Field(default=10, ge=1)
    #: Connections allowed above ``db_pool_size`` under load.
    db_max_overflow: int = Field(default=10, ge=0)
    #: Seconds to wait for a free connection before failing.
    db_pool_timeout: float = Field(default=30.0, gt=0)
    #: Seconds after which a pooled connection is replaced.
    db_pool_recycle: int = Field(default=1800, ge=-1)
    #: Check connections with a ping when they leave the pool.
    db_pool_pre_ping: bool = True
    #: Seconds allowed for opening a connection.
    db_connect_timeout: float = Field(default=10.0, gt=0)
    #: Server-side statement timeout in milliseconds (0 turns it off).
    db_statement_timeout_ms: int = Field(default=30_000, ge=0)
    #: Set when connecting through PgBouncer in transaction pooling mode: turns
    #: off asyncpg's prepared-statement caches, which such a pooler cannot keep.
    db_pgbouncer: bool = False
    #: Log every SQL statement (development only).
    db_echo: bool = False

    #: The API versions the service serves, oldest first.
    api_versions: list[str] = Field(default_factory=lambda: ["1"])
    #: The version used when a request sends no ``X-API-Version`` header; the
    #: oldest one unless set, so clients opt in to newer versions.
    default_api_version: str | None = None
    #: Versions still served but announced as deprecated, with their sunset date
    #: (an HTTP date or ISO 8601 date) or an empty string when none is set.
    deprecated_api_versions: dict[str, str] = Field(default_factory=dict)
    #: Origins allowed by CORS; empty turns CORS off.
    cors_origins: list[str] = Field(default_factory=list)
    #: Largest request body accepted, in bytes.
    max_request_body_bytes: int = Field(default=1_048_576, ge=0)

    #: Hosts the service answers for (``Host`` header); empty accepts any host.
    #: Entries may start with a wildcard: ``*.example.com``.
    trusted_hosts: list[str] = Field(default_factory=list)

    #: Entry-point plugins allowed to load (by entry-point name); unset loads all
    #: installed ones, an empty list loads none.
    plugins_allowlist: list[str] | None = None
    #: Built-in or installed plugins not to load, by name (``chassis.metrics``).
    disabled_plugins: list[str] = Field(default_factory=list)
    #: Log every plugin hook call, with its duration (DEBUG level).
    plugins_trace: bool = False

    #: Emit logs as JSON lines (otherwise a readable console format).
    log_json: bool = True
    #: The lowest level logged.
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    #: Serve Prometheus metrics on ``/metrics``.
    metrics_enabled: bool = True
    #: Serve the synthetic-data REST endpoints (never in production).
    synthetic_endpoints_enabled: bool = False

    @field_validator("database_url", mode="before")
    @classmethod
    def _parse_database_url(cls, value: object) -> object:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            return value
        url = normalize_database_url(value)
        return url.render_as_string(hide_password=False)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_case_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check_api_versions(self) -> ChassisSettings:
        if not self.api_versions:
            raise ValueError("api_versions must name at least one version")
        if len(set(self.api_versions)) != len(self.api_versions):
            raise ValueError(f"api_versions has duplicates: {self.api_versions}")
        if self.default_api_version is None:
            self.default_api_version = self.api_versions[0]
        elif self.default_api_version not in self.api_versions:
            raise ValueError(
                f"default_api_version {self.default_api_version!r} is not one of "
                f"api_versions {self.api_versions}"
            )
        unknown = set(self.deprecated_api_versions) - set(self.api_versions)
        if unknown:
            raise ValueError(
                f"deprecated_api_versions names versions that are not served: {sorted(unknown)}"
            )
        return self

    def require_database_url(self) -> URL:
        """Return the database URL, parsed.

        Raises:
            ConfigurationError: If no database URL is configured.
        """
        if self.database_url is None:
            raise ConfigurationError(
                "no database URL is configured: set CHASSIS_DATABASE_URL (or DATABASE_URL) "
                "or pass ChassisSettings(database_url=...)"
            )
        return make_url(self.database_url.get_secret_value())
