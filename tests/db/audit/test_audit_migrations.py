"""The audit in Alembic migrations: autogenerate, upgrade, downgrade, no drift.

The revisions are generated with the documented ``env.py`` (``tests/db/migration_env``)
into a temporary directory, against a fresh database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from alembic.operations.ops import MigrationScript
from alembic.runtime.migration import MigrationContext
from alembic.script import Script
from alembic_utils.replaceable_entity import registry
from sqlalchemy import MetaData, text
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
from tests.db.audit.models import OWNER_ROLE

pytestmark = pytest.mark.db

ENV_DIRECTORY = Path(__file__).parent.parent / "migration_env"


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


def _run(url: str, *statements: str) -> list[list[dict[str, Any]]]:
    async def run() -> list[list[dict[str, Any]]]:
        engine = create_async_engine(url, poolclass=NullPool)
        try:
            results = []
            for statement in statements:
                async with engine.begin() as connection:
                    result = await connection.execute(text(statement))
                    rows = result.mappings().all() if result.returns_rows else []
                    results.append([dict(row) for row in rows])
            return results
        finally:
            await engine.dispose()

    return asyncio.run(run())


@dataclass
class Project:
    config: Config
    url: str

    def use(self, metadata: MetaData) -> None:
        self.config.attributes["target_metadata"] = metadata

    def autogenerate(self, message: str, **options: Any) -> str:
        registry.clear()  # type: ignore[no-untyped-call]
        script = command.revision(self.config, message=message, autogenerate=True, **options)
        assert isinstance(script, Script)
        return Path(script.path).read_text(encoding="utf-8")

    def upgrade(self, target: str = "head") -> None:
        registry.clear()  # type: ignore[no-untyped-call]
        command.upgrade(self.config, target)

    def downgrade(self, target: str) -> None:
        registry.clear()  # type: ignore[no-untyped-call]
        command.downgrade(self.config, target)

    def check(self) -> None:
        registry.clear()  # type: ignore[no-untyped-call]
        command.check(self.config)


@pytest.fixture
def project(fresh_database: str, tmp_path: Path) -> Iterator[Project]:
    versions = tmp_path / "versions"
    versions.mkdir()
    config = Config()
    config.set_main_option("script_location", str(ENV_DIRECTORY))
    config.set_main_option("version_locations", str(versions))
    config.set_main_option("path_separator", "os")
    config.attributes["database_url"] = fresh_database
    try:
        yield Project(config, fresh_database)
    finally:
        registry.clear()  # type: ignore[no-untyped-call]


def _upgrade(migration: str) -> str:
    return migration.split("def upgrade()", 1)[1].split("def downgrade()", 1)[0]


def _downgrade(migration: str) -> str:
    return migration.split("def downgrade()", 1)[1]


def _in_order(section: str, *fragments: str) -> None:
    positions = [section.find(fragment) for fragment in fragments]
    assert -1 not in positions, [f for f, p in zip(fragments, positions, strict=True) if p < 0]
    assert positions == sorted(positions), fragments


def _audit_objects(url: str) -> set[str]:
    (rows,) = _run(
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
    (rows,) = _run(url, f"SELECT count(*) AS n FROM audit.log WHERE table_name = 'public.{table}'")
    count: int = rows[0]["n"]
    return count


def test_the_first_audited_revision_installs_the_log_and_round_trips(project: Project) -> None:
    project.use(ONE_AUDITED)

    migration = project.autogenerate("create")

    assert "fastapi_chassis" not in migration
    upgrade = _upgrade(migration)
    assert upgrade.count("DO $install$") == upgrade.count("DO $finish$") == 1
    _in_order(
        upgrade,
        "DO $install$",
        "op.create_entity(audit_record_truncate)",
        "op.create_entity(audit_capture_update_public_mig_audit_items)",
        "op.create_table('mig_audit_items'",
        "op.create_entity(public_mig_audit_items_chassis_audit_update)",
        "DO $finish$",
    )
    downgrade = _downgrade(migration)
    _in_order(
        downgrade,
        "op.drop_entity(public_mig_audit_items_chassis_audit_update)",
        "op.drop_table('mig_audit_items')",
        "op.drop_entity(audit_capture_update_public_mig_audit_items)",
        "DO $uninstall$",
    )
    assert "DO $install$" not in downgrade

    project.upgrade()

    assert _audit_objects(project.url) == {
        "schema audit",
        *HELPERS,
        *_table_objects("mig_audit_items"),
    }
    _run(
        project.url,
        "INSERT INTO mig_audit_items (name, secret) VALUES ('a', 's')",
        "UPDATE mig_audit_items SET name = 'b'",
        "INSERT INTO mig_audit_tags (label) VALUES ('t')",
    )
    assert _audited_rows(project.url, "mig_audit_items") == 2
    assert _audited_rows(project.url, "mig_audit_tags") == 0
    (owners,) = _run(
        project.url,
        "SELECT DISTINCT pg_get_userbyid(proowner) AS owner, "
        "bool_or(has_function_privilege('public', oid, 'EXECUTE')) AS public "
        "FROM pg_proc WHERE pronamespace = 'audit'::regnamespace GROUP BY 1",
    )
    assert owners == [{"owner": OWNER_ROLE, "public": False}]
    (partitions,) = _run(
        project.url,
        "SELECT count(*) AS n FROM pg_inherits WHERE inhparent = 'audit.log'::regclass",
    )
    assert partitions == [{"n": 5}]

    project.check()
    assert "op." not in project.autogenerate("nothing")

    project.downgrade("base")

    assert _audit_objects(project.url) == set()
    (tables,) = _run(
        project.url,
        "SELECT tablename FROM pg_tables "
        "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
    )
    assert [row["tablename"] for row in tables] == ["alembic_version"]


def test_adding_and_removing_the_mixin_creates_and_drops_the_audit(project: Project) -> None:
    project.use(ONE_AUDITED)
    project.autogenerate("create")
    project.upgrade()
    project.use(BOTH_AUDITED)

    added = project.autogenerate("audit tags")

    upgrade = _upgrade(added)
    assert "DO $install$" not in added
    assert "DO $uninstall$" not in added
    assert upgrade.count("op.create_entity(audit_capture_") == 3
    assert upgrade.count("op.create_entity(public_mig_audit_tags_chassis_audit_") == 4
    assert upgrade.count("_entity(") == 7
    _in_order(
        upgrade, "op.create_entity(audit_capture_update_public_mig_audit_tags)", "DO $finish$"
    )
    project.upgrade()
    project.check()
    _run(project.url, "INSERT INTO mig_audit_tags (label) VALUES ('t')")
    assert _audited_rows(project.url, "mig_audit_tags") == 1
    project.use(ONE_AUDITED)

    removed = project.autogenerate("stop auditing tags")

    upgrade = _upgrade(removed)
    assert upgrade.count("op.drop_entity(public_mig_audit_tags_chassis_audit_") == 4
    assert upgrade.count("op.drop_entity(audit_capture_") == 3
    assert "DO $" not in upgrade
    # Its downgrade recreates the function, so it hands it to the owner role again.
    assert "DO $finish$" in _downgrade(removed)
    project.upgrade()
    project.check()
    _run(project.url, "INSERT INTO mig_audit_tags (label) VALUES ('u')")
    assert _audited_rows(project.url, "mig_audit_tags") == 1
    assert _audit_objects(project.url) >= _table_objects("mig_audit_items")
    assert not _audit_objects(project.url) & _table_objects("mig_audit_tags")

    project.downgrade("-1")

    assert _audit_objects(project.url) >= _table_objects("mig_audit_tags")
    _run(project.url, "INSERT INTO mig_audit_tags (label) VALUES ('v')")
    assert _audited_rows(project.url, "mig_audit_tags") == 2
    (owners,) = _run(
        project.url,
        "SELECT pg_get_userbyid(proowner) AS owner FROM pg_proc "
        "WHERE oid = 'audit.capture_update_public_mig_audit_tags()'::regprocedure",
    )
    assert owners == [{"owner": OWNER_ROLE}]


def test_a_database_made_by_create_all_matches_the_migrations(project: Project) -> None:
    async def create_all() -> None:
        engine = create_async_engine(project.url, poolclass=NullPool)
        try:
            async with engine.begin() as connection:
                await connection.run_sync(BOTH_AUDITED.create_all)
        finally:
            await engine.dispose()

    asyncio.run(create_all())
    project.use(BOTH_AUDITED)

    project.check()


def test_running_the_revision_hook_twice_changes_nothing(project: Project) -> None:
    project.use(ONE_AUDITED)

    def again(context: MigrationContext, revision: Any, directives: list[MigrationScript]) -> None:
        # Runs before the env.py hook, which then processes the result once more.
        process_revision_directives(context, revision, directives)
        process_revision_directives(context, revision, directives)

    migration = project.autogenerate("twice", process_revision_directives=again)

    assert migration.count("DO $install$") == 1
    assert migration.count("DO $finish$") == 1
    assert migration.count("DO $uninstall$") == 1
