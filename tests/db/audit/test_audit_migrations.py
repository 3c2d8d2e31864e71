"""The audit in Alembic migrations: autogenerate, upgrade, downgrade, no drift.

The revisions are generated with the documented ``env.py`` (``tests/db/migration_env``)
into a temporary directory, against a fresh database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.operations.ops import MigrationScript
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.orm import Mapped
from sqlalchemy.pool import NullPool

from fastapi_chassis.db import (
    NAMING_CONVENTION,
    AuditMixin,
    Base,
    SoftDeleteMixin,
    TimestampMixin,
    UUIDv7PrimaryKeyMixin,
    VersionMixin,
)
from fastapi_chassis.db.audit import configure_audit
from fastapi_chassis.db.migrations import process_revision_directives
from tests.db.alembic_project import (
    AlembicProject,
    assert_in_order,
    downgrade_section,
    forget_registered_entities,
    run_statements,
    upgrade_section,
)
from tests.db.audit.models import OWNER_ROLE

pytestmark = pytest.mark.db


class _OneAudited(Base):
    __abstract__ = True
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ItemV1(
    UUIDv7PrimaryKeyMixin, TimestampMixin, SoftDeleteMixin, VersionMixin, AuditMixin, _OneAudited
):
    __tablename__ = "mig_audit_items"
    __audit_exclude__ = frozenset({"secret"})

    name: Mapped[str]
    secret: Mapped[str | None]


class TagV1(UUIDv7PrimaryKeyMixin, _OneAudited):
    __tablename__ = "mig_audit_tags"

    label: Mapped[str]


class _BothAudited(Base):
    __abstract__ = True
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ItemV2(
    UUIDv7PrimaryKeyMixin, TimestampMixin, SoftDeleteMixin, VersionMixin, AuditMixin, _BothAudited
):
    __tablename__ = "mig_audit_items"
    __audit_exclude__ = frozenset({"secret"})

    name: Mapped[str]
    secret: Mapped[str | None]


class TagV2(UUIDv7PrimaryKeyMixin, AuditMixin, _BothAudited):
    __tablename__ = "mig_audit_tags"

    label: Mapped[str]


ONE_AUDITED = _OneAudited.metadata
BOTH_AUDITED = _BothAudited.metadata
for _metadata in (ONE_AUDITED, BOTH_AUDITED):
    configure_audit(_metadata, owner_role=OWNER_ROLE)


@pytest.fixture
def project(fresh_database: str, tmp_path: Path) -> Iterator[AlembicProject]:
    try:
        yield AlembicProject.create(fresh_database, tmp_path / "versions")
    finally:
        forget_registered_entities()


def _audit_objects(url: str) -> set[str]:
    (rows,) = run_statements(
        url,
        """
        SELECT 'function ' || p.proname AS name
        FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
        WHERE n.nspname = 'audit'
        UNION ALL
        SELECT 'trigger ' || t.tgname || ' on ' || c.relname
        FROM pg_trigger AS t JOIN pg_class AS c ON c.oid = t.tgrelid
        WHERE NOT t.tgisinternal AND t.tgname LIKE 'chassis_audit%'
        UNION ALL
        SELECT 'schema ' || nspname FROM pg_namespace WHERE nspname = 'audit'
        """,
    )
    return {row["name"] for row in rows}


HELPERS = {
    "function record_truncate",
    "function create_partitions",
    "function drop_partitions",
    "function pause_auditing",
    "function resume_auditing",
}


def _table_objects(table: str) -> set[str]:
    return {
        f"function capture_{event}_public_{table}" for event in ("insert", "update", "delete")
    } | {
        f"trigger chassis_audit_{event} on {table}"
        for event in ("insert", "update", "delete", "truncate")
    }


def _audited_rows(url: str, table: str) -> int:
    (rows,) = run_statements(
        url, f"SELECT count(*) AS n FROM audit.log WHERE table_name = 'public.{table}'"
    )
    count: int = rows[0]["n"]
    return count


def test_the_first_audited_revision_installs_the_log_and_round_trips(
    project: AlembicProject,
) -> None:
    project.use(ONE_AUDITED)

    migration = project.autogenerate("create")

    assert "fastapi_chassis" not in migration
    upgrade = upgrade_section(migration)
    assert upgrade.count("DO $install$") == upgrade.count("DO $finish$") == 1
    assert_in_order(
        upgrade,
        "DO $install$",
        "op.create_entity(audit_record_truncate)",
        "op.create_entity(audit_capture_update_public_mig_audit_items)",
        "op.create_table('mig_audit_items'",
        "op.create_entity(public_mig_audit_items_chassis_audit_update)",
        "DO $finish$",
    )
    downgrade = downgrade_section(migration)
    assert_in_order(
        downgrade,
        "op.drop_entity(public_mig_audit_items_chassis_audit_update)",
        "op.drop_table('mig_audit_items')",
        "op.drop_entity(audit_capture_update_public_mig_audit_items)",
        "DO $uninstall$",
    )
    assert "DO $install$" not in downgrade

    project.upgrade()

    assert _audit_objects(project.database_url) == {
        "schema audit",
        *HELPERS,
        *_table_objects("mig_audit_items"),
    }
    run_statements(
        project.database_url,
        "INSERT INTO mig_audit_items (name, secret) VALUES ('a', 's')",
        "UPDATE mig_audit_items SET name = 'b'",
        "INSERT INTO mig_audit_tags (label) VALUES ('t')",
    )
    assert _audited_rows(project.database_url, "mig_audit_items") == 2
    assert _audited_rows(project.database_url, "mig_audit_tags") == 0
    (owners,) = run_statements(
        project.database_url,
        "SELECT DISTINCT pg_get_userbyid(proowner) AS owner, "
        "bool_or(has_function_privilege('public', oid, 'EXECUTE')) AS public "
        "FROM pg_proc WHERE pronamespace = 'audit'::regnamespace GROUP BY 1",
    )
    assert owners == [{"owner": OWNER_ROLE, "public": False}]
    (partitions,) = run_statements(
        project.database_url,
        "SELECT count(*) AS n FROM pg_inherits WHERE inhparent = 'audit.log'::regclass",
    )
    assert partitions == [{"n": 5}]

    project.check()
    assert "op." not in project.autogenerate("nothing")

    project.downgrade("base")

    assert _audit_objects(project.database_url) == set()
    (tables,) = run_statements(
        project.database_url,
        "SELECT tablename FROM pg_tables "
        "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
    )
    assert [row["tablename"] for row in tables] == ["alembic_version"]


def test_adding_and_removing_the_mixin_creates_and_drops_the_audit(project: AlembicProject) -> None:
    project.use(ONE_AUDITED)
    project.autogenerate("create")
    project.upgrade()
    project.use(BOTH_AUDITED)

    added = project.autogenerate("audit tags")

    upgrade = upgrade_section(added)
    assert "DO $install$" not in added
    assert "DO $uninstall$" not in added
    assert upgrade.count("op.create_entity(audit_capture_") == 3
    assert upgrade.count("op.create_entity(public_mig_audit_tags_chassis_audit_") == 4
    assert upgrade.count("_entity(") == 7
    assert_in_order(
        upgrade, "op.create_entity(audit_capture_update_public_mig_audit_tags)", "DO $finish$"
    )
    project.upgrade()
    project.check()
    run_statements(project.database_url, "INSERT INTO mig_audit_tags (label) VALUES ('t')")
    assert _audited_rows(project.database_url, "mig_audit_tags") == 1
    project.use(ONE_AUDITED)

    removed = project.autogenerate("stop auditing tags")

    upgrade = upgrade_section(removed)
    assert upgrade.count("op.drop_entity(public_mig_audit_tags_chassis_audit_") == 4
    assert upgrade.count("op.drop_entity(audit_capture_") == 3
    assert "DO $" not in upgrade
    # Its downgrade recreates the function, so it hands it to the owner role again.
    assert "DO $finish$" in downgrade_section(removed)
    project.upgrade()
    project.check()
    run_statements(project.database_url, "INSERT INTO mig_audit_tags (label) VALUES ('u')")
    assert _audited_rows(project.database_url, "mig_audit_tags") == 1
    assert _audit_objects(project.database_url) >= _table_objects("mig_audit_items")
    assert not _audit_objects(project.database_url) & _table_objects("mig_audit_tags")

    project.downgrade("-1")

    assert _audit_objects(project.database_url) >= _table_objects("mig_audit_tags")
    run_statements(project.database_url, "INSERT INTO mig_audit_tags (label) VALUES ('v')")
    assert _audited_rows(project.database_url, "mig_audit_tags") == 2
    (owners,) = run_statements(
        project.database_url,
        "SELECT pg_get_userbyid(proowner) AS owner FROM pg_proc "
        "WHERE oid = 'audit.capture_update_public_mig_audit_tags()'::regprocedure",
    )
    assert owners == [{"owner": OWNER_ROLE}]


def test_a_database_made_by_create_all_matches_the_migrations(project: AlembicProject) -> None:
    async def create_all() -> None:
        engine = create_async_engine(project.database_url, poolclass=NullPool)
        try:
            async with engine.begin() as connection:
                await connection.run_sync(BOTH_AUDITED.create_all)
        finally:
            await engine.dispose()

    asyncio.run(create_all())
    project.use(BOTH_AUDITED)

    project.check()


def test_running_the_revision_hook_twice_changes_nothing(project: AlembicProject) -> None:
    project.use(ONE_AUDITED)

    def again(context: MigrationContext, revision: Any, directives: list[MigrationScript]) -> None:
        # Runs before the env.py hook, which then processes the result once more.
        process_revision_directives(context, revision, directives)
        process_revision_directives(context, revision, directives)

    migration = project.autogenerate("twice", process_revision_directives=again)

    assert migration.count("DO $install$") == 1
    assert migration.count("DO $finish$") == 1
    assert migration.count("DO $uninstall$") == 1
