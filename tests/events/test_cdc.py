"""CDC helpers: the publication migration, the doctor's findings, connector configurations."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from fastapi_chassis.events.cdc import (
    CheckStatus,
    cdc_doctor,
    create_outbox_publication,
    debezium_connector_config,
    drop_outbox_publication,
    outbox_publication_statements,
    redpanda_connect_config,
)


class Recorder:
    """Stands in for Alembic's ``op``: keeps the statements a migration would run."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def execute(self, sqltext: str, /) -> None:
        self.statements.append(sqltext)


@pytest_asyncio.fixture
async def published(engine: AsyncEngine) -> AsyncIterator[str]:
    """The outbox publication, created as a migration would, and dropped afterwards."""
    name = "chassis_outbox_test"
    migration = Recorder()
    create_outbox_publication(migration, name)
    async with engine.begin() as connection:
        for statement in migration.statements:
            await connection.execute(text(statement))
    try:
        yield name
    finally:
        migration = Recorder()
        drop_outbox_publication(migration, name)
        async with engine.begin() as connection:
            for statement in migration.statements:
                await connection.execute(text(statement))


@pytest.mark.asyncio
async def test_the_publication_carries_inserts_of_the_outbox_only(
    published: str, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with sessionmaker() as session:
        row = (
            await session.execute(
                text(
                    "SELECT pubinsert, pubupdate, pubdelete, puballtables FROM pg_publication "
                    "WHERE pubname = :name"
                ),
                {"name": published},
            )
        ).one()
        tables = (
            await session.execute(
                text("SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = :n"),
                {"n": published},
            )
        ).all()
        identity = await session.scalar(
            text("SELECT CAST(relreplident AS text) FROM pg_class WHERE relname = 'chassis_outbox'")
        )
    assert tuple(row) == (True, False, False, False)
    assert [tuple(table) for table in tables] == [("public", "chassis_outbox")]
    assert identity == "d"


@pytest.mark.asyncio
async def test_the_doctor_accepts_the_publication_and_reports_the_rest(
    published: str, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with sessionmaker() as session:
        report = await cdc_doctor(session, publication=published)
        wal_level = await session.scalar(text("SHOW wal_level"))
    found = {check.name: check for check in report.checks}
    assert found["publication"].status is CheckStatus.OK
    assert found["replica identity"].status is CheckStatus.OK
    assert found["outbox table"].status is CheckStatus.OK
    assert found["role"].status is CheckStatus.OK, "the tests connect as a superuser"
    expected = CheckStatus.OK if wal_level == "logical" else CheckStatus.PROBLEM
    assert found["wal_level"].status is expected
    assert report.ok is (wal_level == "logical")
    assert any(check.name.startswith("replication slot") for check in report.checks)


@pytest.mark.asyncio
async def test_the_doctor_names_the_fix_for_a_missing_publication(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session:
        report = await cdc_doctor(session, publication="nowhere")
    check = next(check for check in report.checks if check.name == "publication")
    assert check.status is CheckStatus.PROBLEM
    assert check.remedy is not None
    assert "CREATE PUBLICATION nowhere FOR TABLE public.chassis_outbox" in check.remedy
    assert not report.ok


def test_statements_and_full_replica_identity() -> None:
    assert outbox_publication_statements("p", replica_identity="full") == [
        "ALTER TABLE public.chassis_outbox REPLICA IDENTITY FULL",
        "CREATE PUBLICATION p FOR TABLE public.chassis_outbox\nWITH (publish = 'insert')",
    ]


def test_connector_configurations_route_like_the_relay() -> None:
    url = make_url("postgresql+asyncpg://shop:hunter2@db.internal:6543/shop")
    debezium = debezium_connector_config(
        url, name="shop-outbox", topic_template="ev.{aggregate_type}"
    )
    config = debezium["config"]
    assert isinstance(config, dict)
    assert config["database.hostname"] == "db.internal"
    assert config["database.port"] == "6543"
    assert "hunter2" not in str(debezium)
    assert config["transforms.outbox.route.topic.replacement"] == "ev.${routedByValue}"
    assert config["transforms.outbox.table.field.event.key"] == "aggregateid"
    assert config["transforms.outbox.table.field.event.payload"] == "payload"
    assert config["table.include.list"] == "public.chassis_outbox"
    pipeline = redpanda_connect_config(url, topic_template="ev.{aggregate_type}", slot="s1")
    assert "topic: 'ev.${! @aggregate_type }'" in pipeline
    assert "slot_name: s1" in pipeline
    assert "hunter2" not in pipeline
    with pytest.raises(ValueError, match="placeholder"):
        redpanda_connect_config(url, topic_template="{topic}")
