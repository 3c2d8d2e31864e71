"""Settings for every part of the chassis, read from the environment.

Every field can be set with an environment variable named ``CHASSIS_`` plus the
field name in upper case (``CHASSIS_DATABASE_URL``, ``CHASSIS_DB_POOL_SIZE``), or
from a ``.env`` file. The database URL also answers to the conventional
``DATABASE_URL``, which most platforms set. Secrets are :class:`pydantic.SecretStr`,
so they never show in ``repr()``, logs or tracebacks.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from fastapi_chassis.errors import ConfigurationError

__all__ = ["APIDeprecation", "ChassisSettings", "Environment", "normalize_database_url"]

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
            # pragma: allowlist nextline secret
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


def _parse_moment(value: object) -> object:
    """Read an ISO 8601 or HTTP date (RFC 9110) as an aware datetime; naive means UTC."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            try:
                value = parsedate_to_datetime(text)
            except (TypeError, ValueError):
                raise ValueError(f"{text!r} is neither an ISO 8601 date nor an HTTP date") from None
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


class APIDeprecation(BaseModel):
    """When a deprecated API version was deprecated, and when it stops being served.

    In settings it is a mapping, ``{"deprecated": "2025-01-01", "sunset":
    "2026-01-01"}``, or, when no sunset is planned, the deprecation date alone:
    ``"2025-01-01"``. Dates are ISO 8601 or HTTP dates; without a time zone they
    are UTC.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: When the version was, or will be, deprecated (the ``Deprecation`` header).
    deprecated: datetime | None = None
    #: When the version stops being served (the ``Sunset`` header); from then on
    #: its requests are answered with 410 Gone.
    sunset: datetime | None = None
    #: The migration notes for this version (a ``Link`` with ``rel="deprecation"``);
    #: overrides ``api_deprecation_link``.
    link: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_date_alone(cls, value: object) -> object:
        if isinstance(value, str):
            return {"deprecated": value} if value.strip() else {}
        return value

    @field_validator("deprecated", "sunset", mode="before")
    @classmethod
    def _read_dates(cls, value: object) -> object:
        return _parse_moment(value)

    @model_validator(mode="after")
    def _check_order(self) -> APIDeprecation:
        if self.deprecated and self.sunset and self.sunset < self.deprecated:
            raise ValueError("the sunset comes before the deprecation")
        return self


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
    #: Versions still served but announced as deprecated: each with the date it
    #: was deprecated and, optionally, its sunset and migration notes (see
    #: :class:`APIDeprecation`). After its sunset a version answers 410 Gone.
    deprecated_api_versions: dict[str, APIDeprecation] = Field(default_factory=dict)
    #: Where clients read how to move off a deprecated version, sent as a ``Link``
    #: with ``rel="deprecation"``; ``{version}`` is replaced by the version.
    api_deprecation_link: str | None = None
    #: Origins allowed by CORS; empty turns CORS off.
    cors_origins: list[str] = Field(default_factory=list)
    #: Largest request body accepted, in bytes.
    max_request_body_bytes: int = Field(default=1_048_576, ge=0)

    #: Hosts the service answers for (``Host`` header); empty accepts any host.
    #: Entries may start with a wildcard: ``*.example.com``.
    trusted_hosts: list[str] = Field(default_factory=list)
    #: Seconds to keep serving after SIGTERM, with readiness failing, before the
    #: signal reaches the server and its graceful shutdown starts (an in-process
    #: alternative to a Kubernetes ``preStop`` sleep); 0 passes it on at once.
    shutdown_delay_seconds: float = Field(default=0.0, ge=0)

    #: Once started, move every object start-up built out of the garbage
    #: collector's scans (``gc.freeze()``, undone at shutdown): full collections
    #: then pause requests for what requests allocate, not for the whole heap.
    #: See :mod:`fastapi_chassis.gc_freeze`.
    gc_freeze: bool = True

    #: Entry-point plugins allowed to load (by entry-point name); unset loads all
    #: installed ones, an empty list loads none.
    plugins_allowlist: list[str] | None = None
    #: Built-in or installed plugins not to load, by name (``chassis.metrics``).
    disabled_plugins: list[str] = Field(default_factory=list)
    #: Log every plugin hook call, with its duration (DEBUG level).
    plugins_trace: bool = False
    #: Trace requests with OpenTelemetry (the ``chassis.otel`` plugin, which needs
    #: the ``otel`` extra and a configured tracer provider).
    otel_enabled: bool = False

    #: Emit logs as JSON lines (otherwise a readable console format).
    log_json: bool = True
    #: The lowest level logged.
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    #: Let the application set up logging (structlog and the standard library's
    #: root logger) with ``log_json`` and ``log_level``; turn off when the
    #: application or its test suite configures logging itself.
    log_configure: bool = True
    #: Serve Prometheus metrics on ``/metrics``.
    metrics_enabled: bool = True
    #: Where worker processes share their metrics (prometheus-client's multiprocess
    #: mode), for servers that run several workers. Applied when the application
    #: is created, which must come before anything imports prometheus-client;
    #: ``PROMETHEUS_MULTIPROC_DIR`` in the environment does the same and always
    #: works. Wipe the directory before the server starts.
    metrics_multiprocess_dir: Path | None = None
    #: Serve the synthetic-data REST endpoints (never in production).
    synthetic_endpoints_enabled: bool = False
    #: The largest scale (number of orders) a synthetic-data run started through
    #: the REST endpoints may ask for.
    synthetic_max_scale: int = Field(default=1_000_000, ge=1)

    #: Run the outbox relay inside the application, publishing recorded events to
    #: the publishers that plugins contribute (``chassis events relay`` runs it on
    #: its own instead).
    events_relay_enabled: bool = False
    #: The CloudEvents ``source`` of recorded events; ``service_name`` when unset.
    events_source: str | None = None
    #: Where the event schemas are published (``<url>/<type>/<version>.json``), for
    #: the envelopes' ``dataschema``; a ``urn:schema:`` name when unset.
    events_schema_base_url: str | None = None
    #: Names each aggregate type's topic; ``{aggregate_type}`` stands for
    #: ``<context>.<aggregate>`` (``shop.order``).
    events_topic_template: str = "{aggregate_type}"
    #: Kafka (or Redpanda) brokers as ``host:port``; when set, the built-in outbox
    #: plugin contributes a ``KafkaPublisher``.
    events_kafka_bootstrap_servers: list[str] = Field(default_factory=list)
    #: Use Kafka's idempotent producer (turn off only for brokers without it).
    events_kafka_idempotence: bool = True
    #: Also write every published event to the log (a ``LogPublisher``).
    events_log_published: bool = False
    #: A direct database URL for the relay's LISTEN connection, past PgBouncer;
    #: the database URL when unset.
    events_listen_url: SecretStr | None = None
    #: Seconds between the relay's looks at the outbox when no notification wakes it.
    events_poll_interval: float = Field(default=1.0, gt=0)
    #: Events (and aggregates) the relay claims at a time.
    events_batch_size: int = Field(default=500, ge=1)
    #: Seconds a relay's claim keeps other relays away; longer than the slowest batch.
    events_lease_seconds: float = Field(default=30.0, gt=0)
    #: Seconds one round of sends may wait for the brokers' acknowledgements.
    events_publish_timeout: float = Field(default=10.0, gt=0)
    #: Failed attempts after which an event is dead-lettered (it then blocks its
    #: aggregate until an operator releases or skips it).
    events_max_attempts: int = Field(default=10, ge=1)
    #: Days published events stay in the outbox before ``chassis events prune``
    #: deletes them.
    events_retention_days: float = Field(default=7.0, ge=0)
    #: Where ``chassis events snapshot`` writes, and ``chassis events check`` reads,
    #: the committed event schema snapshots.
    events_schema_dir: Path = Path("event-schemas")
    #: The compatibility ``chassis events check`` requires between schema versions.
    events_compatibility: Literal["backward", "forward", "full"] = "full"

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

    @model_validator(mode="after")
    def _check_deprecation_dates(self) -> ChassisSettings:
        for version, deprecation in self.deprecated_api_versions.items():
            if version in self.api_versions and deprecation.deprecated is None:
                raise ValueError(
                    f"deprecated_api_versions[{version!r}] needs the date the version was "
                    'deprecated: {"deprecated": "2025-01-31", "sunset": "2026-01-31"}'
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
