"""Change data capture: let Debezium or Redpanda Connect read the outbox instead of the relay.

The outbox is already laid out the way Debezium's outbox event router reads it
(see :mod:`fastapi_chassis.events.outbox`), and its ``payload`` is the complete
CloudEvents envelope. A CDC pipeline configured as below publishes the same
value, with the same key, to the same topic as the relay, so producers and
consumers do not notice the switch. Three things are needed:

1. ``wal_level = logical`` on the server (a restart);
2. a publication of the outbox table, which :func:`create_outbox_publication`
   creates from an Alembic migration (inserts only: the relay's bookkeeping
   updates and the pruning deletes are none of the consumers' business);
3. a connector: :func:`debezium_connector_config` and
   :func:`redpanda_connect_config` produce configurations that match the
   relay's topic naming.

:func:`cdc_doctor` (``chassis cdc doctor``) checks the server side and reports
what is missing, with the statement that fixes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, Literal, Protocol

from sqlalchemy import TextClause, text
from sqlalchemy.engine import URL

from fastapi_chassis.db.sql_files import load_sql, quote_identifier
from fastapi_chassis.events.envelope import CLOUDEVENTS_CONTENT_TYPE
from fastapi_chassis.events.outbox import OUTBOX_TABLE
from fastapi_chassis.events.publishers.topics import DEFAULT_TOPIC_TEMPLATE, check_topic_template

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

__all__ = [
    "DEFAULT_PUBLICATION",
    "DEFAULT_SLOT",
    "CheckStatus",
    "DoctorCheck",
    "DoctorReport",
    "MigrationOperations",
    "cdc_doctor",
    "create_outbox_publication",
    "debezium_connector_config",
    "drop_outbox_publication",
    "outbox_publication_statements",
    "redpanda_connect_config",
]

DEFAULT_PUBLICATION = "chassis_outbox"
"""The publication :func:`create_outbox_publication` creates."""

DEFAULT_SLOT = "chassis_outbox"
"""The replication slot name the printed configurations use."""

_TABLE = f"public.{OUTBOX_TABLE}"
_INACTIVE_SLOT_WARNING_BYTES = 1024**3
_KIB = 1024

ReplicaIdentity = Literal["default", "full"]


@cache
def _statement(name: str) -> TextClause:
    return text(load_sql("fastapi_chassis.events.sql", name))


class MigrationOperations(Protocol):
    """What :func:`create_outbox_publication` needs: Alembic's ``op``, or any ``execute(sql)``."""

    def execute(self, sqltext: str, /) -> object:
        """Run one SQL statement."""
        ...


def outbox_publication_statements(
    publication: str = DEFAULT_PUBLICATION, *, replica_identity: ReplicaIdentity = "default"
) -> list[str]:
    """Return the statements that prepare the outbox for CDC.

    Args:
        publication: The publication's name.
        replica_identity: ``default`` (the primary key, enough for an insert-only
            publication) or ``full`` (every column of the old row, for
            pipelines that also read updates and deletes).

    Example:
        >>> print(outbox_publication_statements()[1])
        CREATE PUBLICATION chassis_outbox FOR TABLE public.chassis_outbox
        WITH (publish = 'insert')
    """
    identity = "FULL" if replica_identity == "full" else "DEFAULT"
    return [
        f"ALTER TABLE {_TABLE} REPLICA IDENTITY {identity}",
        (
            f"CREATE PUBLICATION {quote_identifier(publication)} FOR TABLE {_TABLE}\n"
            "WITH (publish = 'insert')"
        ),
    ]


def create_outbox_publication(
    op: MigrationOperations,
    publication: str = DEFAULT_PUBLICATION,
    *,
    replica_identity: ReplicaIdentity = "default",
) -> None:
    """Create the outbox publication and set its replica identity, from a migration.

    Example:
        ```python
        # migrations/versions/xxxx_outbox_cdc.py
        from alembic import op
        from fastapi_chassis.events.cdc import create_outbox_publication, drop_outbox_publication

        def upgrade() -> None:
            create_outbox_publication(op)

        def downgrade() -> None:
            drop_outbox_publication(op)
        ```

    Args:
        op: Alembic's ``op`` (or any object with ``execute(sql)``).
        publication: The publication's name.
        replica_identity: See :func:`outbox_publication_statements`.
    """
    for statement in outbox_publication_statements(publication, replica_identity=replica_identity):
        op.execute(statement)


def drop_outbox_publication(
    op: MigrationOperations, publication: str = DEFAULT_PUBLICATION
) -> None:
    """Drop the outbox publication and restore the default replica identity.

    A replication slot that a connector created is not dropped: drop it once the
    connector is gone (``SELECT pg_drop_replication_slot('chassis_outbox')``),
    or it keeps WAL on the server forever.
    """
    op.execute(f"DROP PUBLICATION IF EXISTS {quote_identifier(publication)}")
    op.execute(f"ALTER TABLE {_TABLE} REPLICA IDENTITY DEFAULT")


class CheckStatus(StrEnum):
    """The outcome of one doctor check."""

    OK = "ok"
    PROBLEM = "problem"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class DoctorCheck:
    """One finding of :func:`cdc_doctor`.

    Attributes:
        name: What was checked.
        status: Whether it is fine.
        detail: What was found.
        remedy: What to do about it, when something is to be done.
    """

    name: str
    status: CheckStatus
    detail: str
    remedy: str | None = None


@dataclass(slots=True)
class DoctorReport:
    """Everything :func:`cdc_doctor` found.

    Attributes:
        checks: In the order they ran.
    """

    checks: list[DoctorCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether CDC can run: no check found a problem (warnings allowed)."""
        return all(check.status is not CheckStatus.PROBLEM for check in self.checks)

    def add(self, name: str, status: CheckStatus, detail: str, remedy: str | None = None) -> None:
        """Record a finding."""
        self.checks.append(DoctorCheck(name, status, detail, remedy))


async def cdc_doctor(
    session: AsyncSession, *, publication: str = DEFAULT_PUBLICATION
) -> DoctorReport:
    """Check that the database is ready for a CDC pipeline to read the outbox.

    Reads settings and catalogs only; changes nothing.

    Args:
        session: A session on the application's database.
        publication: The publication the connector will read.

    Returns:
        The findings: ``wal_level``, replication capacity, the outbox table, its
        replica identity, the publication, the role's replication privilege, and
        every logical replication slot with its lag.
    """
    report = DoctorReport()
    scalar = session.scalar
    version = await scalar(text("SHOW server_version"))
    report.add("server", CheckStatus.INFO, f"PostgreSQL {version}")
    wal_level = await scalar(text("SHOW wal_level"))
    if wal_level == "logical":
        report.add("wal_level", CheckStatus.OK, "wal_level is logical")
    else:
        report.add(
            "wal_level",
            CheckStatus.PROBLEM,
            f"wal_level is {wal_level}; logical decoding needs 'logical'",
            "ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL "
            "(on a managed service, turn on logical replication in its parameters)",
        )
    for setting in ("max_replication_slots", "max_wal_senders"):
        value = int(await scalar(text(f"SHOW {setting}")) or 0)
        if value > 0:
            report.add(setting, CheckStatus.OK, f"{setting} is {value}")
        else:
            report.add(
                setting,
                CheckStatus.PROBLEM,
                f"{setting} is 0",
                f"ALTER SYSTEM SET {setting} = 10; then restart PostgreSQL",
            )
    await _check_table(session, report, publication)
    await _check_role(session, report)
    await _check_slots(session, report, logical=wal_level == "logical")
    return report


async def _check_table(session: AsyncSession, report: DoctorReport, publication: str) -> None:
    exists = await session.scalar(text("SELECT to_regclass(:table) IS NOT NULL"), {"table": _TABLE})
    if not exists:
        report.add(
            "outbox table",
            CheckStatus.PROBLEM,
            f"{_TABLE} does not exist",
            "create it with your migrations (it is part of Base.metadata once "
            "fastapi_chassis.events is imported)",
        )
        return
    report.add("outbox table", CheckStatus.OK, f"{_TABLE} exists")
    identity = await session.scalar(
        text(
            "SELECT CAST(relreplident AS text) FROM pg_class WHERE oid = CAST(:table AS regclass)"
        ),
        {"table": _TABLE},
    )
    names = {"d": "default (primary key)", "f": "full", "i": "index", "n": "nothing"}
    if identity == "n":
        report.add(
            "replica identity",
            CheckStatus.PROBLEM,
            "replica identity is NOTHING",
            f"ALTER TABLE {_TABLE} REPLICA IDENTITY DEFAULT",
        )
    else:
        report.add("replica identity", CheckStatus.OK, f"replica identity is {names[identity]}")
    row = (
        await session.execute(
            _statement("cdc_publication.sql"),
            {"table_name": OUTBOX_TABLE, "publication": publication},
        )
    ).first()
    create = "; ".join(outbox_publication_statements(publication))
    if row is None:
        report.add(
            "publication",
            CheckStatus.PROBLEM,
            f"publication {publication} does not exist",
            f"{create} (or create_outbox_publication(op) in a migration)",
        )
    elif not row.has_table:
        report.add(
            "publication",
            CheckStatus.PROBLEM,
            f"publication {publication} does not include {_TABLE}",
            f"ALTER PUBLICATION {quote_identifier(publication)} ADD TABLE {_TABLE}",
        )
    elif not row.pubinsert:
        report.add(
            "publication",
            CheckStatus.PROBLEM,
            f"publication {publication} does not publish inserts",
            f"ALTER PUBLICATION {quote_identifier(publication)} SET (publish = 'insert')",
        )
    else:
        report.add("publication", CheckStatus.OK, f"publication {publication} publishes {_TABLE}")


async def _check_role(session: AsyncSession, report: DoctorReport) -> None:
    row = (
        await session.execute(
            text(
                "SELECT current_user AS name, rolreplication OR rolsuper AS replicates "
                "FROM pg_roles WHERE rolname = current_user"
            )
        )
    ).one()
    if row.replicates:
        report.add("role", CheckStatus.OK, f"role {row.name} may use replication")
    else:
        report.add(
            "role",
            CheckStatus.WARNING,
            f"role {row.name} has no REPLICATION attribute; the connector's role needs it",
            f"ALTER ROLE <connector role> WITH REPLICATION (and SELECT on {_TABLE})",
        )


async def _check_slots(session: AsyncSession, report: DoctorReport, *, logical: bool) -> None:
    rows = (await session.execute(_statement("cdc_slots.sql"))).all()
    if not rows:
        report.add(
            "replication slots",
            CheckStatus.INFO,
            "no logical replication slot yet (the connector creates its own)"
            if logical
            else "no logical replication slot (none can exist before wal_level is logical)",
        )
        return
    for row in rows:
        lag = _size(row.lag_bytes)
        retained = _size(row.retained_bytes)
        detail = (
            f"slot {row.slot_name} ({row.plugin}): {'active' if row.active else 'inactive'}, "
            f"{lag} behind, {retained} of WAL retained"
        )
        if not row.active and (row.retained_bytes or 0) > _INACTIVE_SLOT_WARNING_BYTES:
            report.add(
                "replication slot",
                CheckStatus.WARNING,
                detail,
                "an inactive slot keeps WAL until it is consumed or dropped: "
                f"SELECT pg_drop_replication_slot('{row.slot_name}') if its connector is gone",
            )
        else:
            report.add("replication slot", CheckStatus.INFO, detail)


def _size(value: object) -> str:
    if value is None:
        return "unknown"
    size = float(str(value))
    for unit in ("B", "kB", "MB", "GB"):
        if abs(size) < _KIB or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= _KIB
    return f"{size:.1f} TB"  # pragma: no cover - the loop returns at GB


def debezium_connector_config(
    database_url: URL,
    *,
    name: str,
    topic_template: str = DEFAULT_TOPIC_TEMPLATE,
    publication: str = DEFAULT_PUBLICATION,
    slot: str = DEFAULT_SLOT,
) -> dict[str, object]:
    """Return a Kafka Connect configuration of Debezium's PostgreSQL connector for the outbox.

    The outbox event router sends each ``payload`` (the CloudEvents envelope) as
    the value, ``aggregateid`` as the key and the event id as the ``id`` header,
    to the topic the relay would use; ``InsertHeader`` adds the
    ``content-type`` header the relay sets. The password is read from a Kafka
    Connect config provider, never written out.

    Args:
        database_url: The application's database URL (host, port, user, database).
        name: The connector's name (and its ``topic.prefix``).
        topic_template: The relay's topic template.
        publication: The publication to read.
        slot: The replication slot to create and use.

    Returns:
        The ``{"name": ..., "config": {...}}`` document Kafka Connect's REST API takes.
    """
    check_topic_template(topic_template)
    config = {
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "plugin.name": "pgoutput",
        "database.hostname": database_url.host or "localhost",
        "database.port": str(database_url.port or 5432),
        "database.user": database_url.username or "postgres",
        "database.password": "${file:/opt/kafka/secrets/outbox.properties:password}",
        "database.dbname": database_url.database or "postgres",
        "topic.prefix": name,
        "publication.name": publication,
        "publication.autocreate.mode": "disabled",
        "slot.name": slot,
        "table.include.list": _TABLE,
        "tombstones.on.delete": "false",
        "snapshot.mode": "no_data",
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.storage.StringConverter",
        "transforms": "outbox,contenttype",
        "transforms.outbox.type": "io.debezium.transforms.outbox.EventRouter",
        "transforms.outbox.table.field.event.id": "id",
        "transforms.outbox.table.field.event.key": "aggregateid",
        "transforms.outbox.table.field.event.payload": "payload",
        "transforms.outbox.route.by.field": "aggregatetype",
        "transforms.outbox.route.topic.replacement": topic_template.replace(
            "{aggregate_type}", "${routedByValue}"
        ),
        "transforms.outbox.table.op.invalid.behavior": "warn",
        "transforms.contenttype.type": "org.apache.kafka.connect.transforms.InsertHeader",
        "transforms.contenttype.header": "content-type",
        "transforms.contenttype.value.literal": CLOUDEVENTS_CONTENT_TYPE,
    }
    return {"name": name, "config": config}


def redpanda_connect_config(
    database_url: URL,
    *,
    topic_template: str = DEFAULT_TOPIC_TEMPLATE,
    slot: str = DEFAULT_SLOT,
) -> str:
    """Return a Redpanda Connect pipeline (YAML) that reads the outbox with ``postgres_cdc``.

    The pipeline keeps inserts only, publishes ``payload`` as the value with
    ``aggregateid`` as the key and ``id`` and ``content-type`` headers, to the
    topic the relay would use. The password and brokers come from environment
    variables.

    Args:
        database_url: The application's database URL.
        topic_template: The relay's topic template.
        slot: The replication slot the input creates and uses.
    """
    check_topic_template(topic_template)
    topic = topic_template.replace("{aggregate_type}", "${! @aggregate_type }")
    user = database_url.username or "postgres"
    host = database_url.host or "localhost"
    port = database_url.port or 5432
    database = database_url.database or "postgres"
    return f"""\
input:
  postgres_cdc:
    dsn: "postgres://{user}:${{OUTBOX_DB_PASSWORD}}@{host}:{port}/{database}"
    schema: public
    tables: [{OUTBOX_TABLE}]
    slot_name: {slot}
    stream_snapshot: false

pipeline:
  processors:
    - mapping: |
        root = if @operation != "insert" {{
          deleted()
        }} else if this.payload.type() == "string" {{
          this.payload.parse_json()
        }} else {{
          this.payload
        }}
        meta aggregate_type = this.aggregatetype
        meta kafka_key = this.aggregateid
        meta id = this.id
        meta "content-type" = {json.dumps(CLOUDEVENTS_CONTENT_TYPE)}

output:
  kafka_franz:
    seed_brokers: ["${{KAFKA_BROKERS}}"]
    topic: '{topic}'
    key: '${{! @kafka_key }}'
    metadata:
      include_patterns: ["^id$", "^content-type$"]
"""
