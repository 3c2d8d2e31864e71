"""Who may write the log, pause the audit and manage it: roles and grants.

Each test gets a database of its own and roles with unique names, dropped at the
end. The application role owns the audited tables; everything the audit writes
goes through SECURITY DEFINER functions owned by the audit owner role.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
import pytest_asyncio
from sqlalchemy import Column, Integer, MetaData, Table, Text, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from fastapi_chassis.context import request_context
from fastapi_chassis.db import sqlstate
from fastapi_chassis.db.audit import (
    apply_audit_context,
    audit_paused,
    configure_audit,
    enable_audit,
    pause_auditing,
    resume_auditing,
)
from fastapi_chassis.testing.postgres import ServerHandle, run_sync
from tests.db.audit.conftest import as_role, create_schema, execute, roles, unique_role
from tests.db.audit.helpers import log_entries
from tests.db.audit.models import OWNER_ROLE, Counter, Note

pytestmark = [pytest.mark.db, pytest.mark.asyncio]

INSUFFICIENT_PRIVILEGE = "42501"
INVALID_PARAMETER = "22023"
COUNTERS = "public.audit_counters"


async def fails_with(connection: AsyncConnection, statement: str, state: str) -> None:
    """Run ``statement`` in a savepoint and check it fails with ``state``."""
    savepoint = await connection.begin_nested()
    with pytest.raises(DBAPIError) as raised:
        await connection.execute(text(statement))
    await savepoint.rollback()
    assert sqlstate(raised.value) == state, (statement, raised.value)


@dataclass
class Roles:
    admin_url: str
    app: str
    app_url: str
    backfill: str
    backfill_url: str


@pytest.fixture
def app_roles(chassis_postgres: ServerHandle, audited_database: str) -> Iterator[Roles]:
    """An application role that owns the audited tables and reads the log, and a
    backfill role allowed to pause the audit and nothing else of it."""
    with roles(chassis_postgres.url, "LOGIN", "LOGIN") as (app, backfill):
        run_sync(
            lambda: execute(
                audited_database,
                f"ALTER TABLE audit_counters OWNER TO {app}",
                f"ALTER TABLE audit_accounts OWNER TO {app}",
                f"ALTER TABLE audit_notes OWNER TO {app}",
                f"GRANT USAGE ON SCHEMA audit TO {app}, {backfill}",
                f"GRANT SELECT ON audit.log TO {app}, {backfill}",
                f"GRANT SELECT, UPDATE ON audit_counters, audit_accounts TO {backfill}",
                f"GRANT EXECUTE ON FUNCTION audit.pause_auditing(regclass[], text), "
                f"audit.resume_auditing(regclass[]) TO {backfill}",
            )
        )
        try:
            yield Roles(
                audited_database,
                app,
                as_role(audited_database, app),
                backfill,
                as_role(audited_database, backfill),
            )
        finally:
            # The tables and grants go with the database; the roles may then go.
            run_sync(
                lambda: execute(
                    audited_database, f"DROP OWNED BY {app}", f"DROP OWNED BY {backfill}"
                )
            )


@pytest_asyncio.fixture
async def engines(app_roles: Roles) -> AsyncIterator[dict[str, AsyncEngine]]:
    made = {
        name: create_async_engine(url, poolclass=NullPool)
        for name, url in (
            ("admin", app_roles.admin_url),
            ("app", app_roles.app_url),
            ("backfill", app_roles.backfill_url),
        )
    }
    try:
        yield made
    finally:
        for engine in made.values():
            await engine.dispose()


async def test_the_application_role_writes_audited_tables_but_cannot_touch_the_log(
    engines: dict[str, AsyncEngine], app_roles: Roles
) -> None:
    async with engines["app"].begin() as connection:
        await connection.execute(text("INSERT INTO audit_counters (id, value) VALUES (1, 1)"))
        await connection.execute(text("UPDATE audit_counters SET value = 2 WHERE id = 1"))
        entries = await log_entries(connection, table=COUNTERS, record_id="1")
        assert [(entry.action, entry.db_user) for entry in entries] == [
            ("INSERT", app_roles.app),
            ("UPDATE", app_roles.app),
        ]

        log_id = entries[0].id
        for statement in (
            (
                "INSERT INTO audit.log (id, occurred_at, table_name, action, transaction_id, "
                "db_user) VALUES (gen_random_uuid(), now(), 'public.audit_counters', 'DELETE', 1, "
                "'x')"
            ),
            f"UPDATE audit.log SET actor = 'someone else' WHERE id = '{log_id}'",
            f"DELETE FROM audit.log WHERE id = '{log_id}'",
            "TRUNCATE audit.log",
            (
                "INSERT INTO audit.log_default (id, occurred_at, table_name, action, "
                "transaction_id, db_user) VALUES (gen_random_uuid(), now(), 'x', 'INSERT', 1, 'x')"
            ),
            "DELETE FROM audit.log_default",
            (
                "INSERT INTO audit.pauses VALUES (pg_current_xact_id()::text::bigint, "
                "'audit_counters'::regclass)"
            ),
            "SELECT audit.pause_auditing(ARRAY['audit_counters'::regclass], 'no')",
            "SELECT audit.create_partitions(1)",
            "SELECT audit.drop_partitions(interval '1 day')",
            f"SET ROLE {OWNER_ROLE}",
            "ALTER FUNCTION audit.capture_update_public_audit_counters() RESET search_path",
        ):
            await fails_with(connection, statement, INSUFFICIENT_PRIVILEGE)

        # Setting the pause hint by hand pauses nothing.
        await connection.execute(
            text("SELECT set_config('chassis.audit_paused', pg_current_xact_id()::text, true)")
        )
        await connection.execute(text("UPDATE audit_counters SET value = 3 WHERE id = 1"))
        entries = await log_entries(connection, table=COUNTERS, record_id="1")
        assert [entry.action for entry in entries] == ["INSERT", "UPDATE", "UPDATE"]


async def test_pausing_is_for_privileged_roles_and_is_recorded(
    engines: dict[str, AsyncEngine], app_roles: Roles
) -> None:
    async with engines["app"].begin() as connection:
        await connection.execute(text("INSERT INTO audit_counters (id, value) VALUES (2, 0)"))
        account_id = uuid.uuid4()
        await connection.execute(
            text("INSERT INTO audit_accounts (id, email, balance) VALUES (:id, 'p@x', 0)"),
            {"id": account_id},
        )

    async with engines["backfill"].begin() as connection:
        with request_context(actor="ops", correlation_id="backfill-1"):
            await connection.run_sync(apply_audit_context)
            await connection.run_sync(
                lambda sync: pause_auditing(sync, Counter, reason="recompute values")
            )
            await connection.execute(text("UPDATE audit_counters SET value = 10 WHERE id = 2"))
            # Only the named tables are paused.
            await connection.execute(
                text("UPDATE audit_accounts SET note = 'seen' WHERE id = :id"), {"id": account_id}
            )
            await connection.run_sync(lambda sync: resume_auditing(sync, Counter))
            await connection.execute(text("UPDATE audit_counters SET value = 11 WHERE id = 2"))

    async with engines["backfill"].begin() as connection:
        await connection.run_sync(lambda sync: pause_auditing(sync, Counter, reason="again"))
        await connection.execute(text("UPDATE audit_counters SET value = 20 WHERE id = 2"))

    async with engines["backfill"].begin() as connection:
        # The pause ended with its transaction.
        await connection.execute(text("UPDATE audit_counters SET value = 21 WHERE id = 2"))

    async with engines["admin"].connect() as connection:
        counters = await log_entries(connection, table=COUNTERS)
        accounts = await log_entries(connection, table="public.audit_accounts")

    assert [(e.action, e.record_id) for e in counters] == [
        ("INSERT", "2"),
        ("PAUSE", None),
        ("RESUME", None),
        ("UPDATE", "2"),
        ("PAUSE", None),
        ("UPDATE", "2"),
    ]
    pause = counters[1]
    assert pause.new_data == {"reason": "recompute values"}
    assert (pause.db_user, pause.actor, pause.correlation_id) == (
        app_roles.backfill,
        "ops",
        "backfill-1",
    )
    assert counters[3].old_data == {"value": 10}
    assert [e.action for e in accounts] == ["INSERT", "UPDATE"]

    async with engines["app"].begin() as connection:
        await fails_with(
            connection,
            "SELECT audit.pause_auditing(ARRAY['audit_counters'::regclass], 'sneaky')",
            INSUFFICIENT_PRIVILEGE,
        )


async def test_a_pause_needs_a_reason_and_audited_tables(engines: dict[str, AsyncEngine]) -> None:
    async with engines["admin"].begin() as connection:
        await fails_with(
            connection,
            "SELECT audit.pause_auditing(ARRAY['audit_counters'::regclass], ' ')",
            INVALID_PARAMETER,
        )
        await fails_with(
            connection,
            "SELECT audit.pause_auditing(ARRAY['audit_notes'::regclass], 'not audited')",
            INVALID_PARAMETER,
        )
        await fails_with(
            connection,
            "SELECT audit.pause_auditing(ARRAY[]::regclass[], 'none')",
            INVALID_PARAMETER,
        )
    with pytest.raises(ValueError, match="not audited"):
        pause_auditing(None, Note, reason="x")  # type: ignore[arg-type]


async def test_audit_paused_resumes_when_the_block_ends(engines: dict[str, AsyncEngine]) -> None:
    async with engines["admin"].begin() as connection:
        await connection.execute(text("INSERT INTO audit_counters (id, value) VALUES (3, 0)"))
        async with audit_paused(connection, Counter, reason="bulk fix"):
            await connection.execute(text("UPDATE audit_counters SET value = 1 WHERE id = 3"))
        await connection.execute(text("UPDATE audit_counters SET value = 2 WHERE id = 3"))
        entries = await log_entries(connection, table=COUNTERS)

    assert [(e.action, e.old_data) for e in entries] == [
        ("INSERT", None),
        ("PAUSE", None),
        ("RESUME", None),
        ("UPDATE", {"value": 1}),
    ]


async def test_the_callers_search_path_cannot_slip_its_own_objects_into_the_audit(
    engines: dict[str, AsyncEngine], app_roles: Roles
) -> None:
    # Each object below shadows one the capture functions use (an operator, a
    # function, a type); whichever of them ran would do so with the audit owner's
    # rights. They fail loudly instead, so the audited statement would fail.
    await execute(app_roles.admin_url, f"CREATE SCHEMA shadow AUTHORIZATION {app_roles.app}")
    fails = "LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'hijacked by %', current_user; END $$"
    async with engines["app"].begin() as connection:
        for statement in (
            f"CREATE FUNCTION shadow.boom(integer, integer) RETURNS boolean {fails}",
            "CREATE OPERATOR shadow.= (FUNCTION = shadow.boom, LEFTARG = int4, RIGHTARG = int4)",
            f"CREATE FUNCTION shadow.current_setting(text, boolean) RETURNS text {fails}",
            f"CREATE FUNCTION shadow.to_jsonb(anyelement) RETURNS jsonb {fails}",
            f"CREATE FUNCTION shadow.refuse(pg_catalog.text) RETURNS boolean {fails}",
            "CREATE DOMAIN pg_temp.text AS pg_catalog.text CHECK (shadow.refuse(VALUE))",
            "SET LOCAL search_path = shadow, pg_catalog, public",
            "INSERT INTO audit_counters (id, value) VALUES (7, 1)",
            "UPDATE audit_counters SET value = value + 1",
            "DELETE FROM audit_counters",
        ):
            await connection.execute(text(statement))
        await connection.execute(text("RESET search_path"))
        entries = await log_entries(connection, table=COUNTERS, record_id="7")

    assert [(entry.action, entry.old_data) for entry in entries] == [
        ("INSERT", None),
        ("UPDATE", {"value": 1}),
        ("DELETE", {"id": 7, "value": 2}),
    ]


async def test_audit_objects_run_as_the_owner_role_with_a_fixed_search_path(
    audit_engine: AsyncEngine,
) -> None:
    async with audit_engine.connect() as connection:
        functions = (
            await connection.execute(
                text(
                    """
                    SELECT p.proname, p.prosecdef, pg_get_userbyid(p.proowner) AS owner,
                        p.proconfig, has_function_privilege('public', p.oid, 'EXECUTE')
                            AS public_may_execute
                    FROM pg_proc AS p
                    WHERE p.pronamespace = 'audit'::regnamespace
                    ORDER BY p.proname
                    """
                )
            )
        ).all()
        tables = (
            await connection.execute(
                text(
                    """
                    SELECT c.relname, pg_get_userbyid(c.relowner) AS owner, c.relacl
                    FROM pg_class AS c
                    WHERE c.relnamespace = 'audit'::regnamespace AND c.relkind IN ('r', 'p')
                    """
                )
            )
        ).all()

    assert {row.proname for row in functions} >= {
        "capture_insert_public_audit_accounts",
        "capture_update_public_audit_accounts",
        "capture_delete_public_audit_accounts",
        "capture_update_ledger_audit_invoices",
        "record_truncate",
        "create_partitions",
        "drop_partitions",
        "pause_auditing",
        "resume_auditing",
    }
    for row in functions:
        assert row.prosecdef, row.proname
        assert row.owner == OWNER_ROLE, row.proname
        assert row.proconfig == ["search_path=pg_catalog, pg_temp"], row.proname
        assert not row.public_may_execute, row.proname
    assert {row.relname for row in tables} >= {"log", "log_default", "pauses"}
    for row in tables:
        assert row.owner == OWNER_ROLE, row.relname
        assert all("=" not in entry.split("/")[0][:1] for entry in row.relacl or []), row.relacl


@pytest.fixture
def migration_roles(chassis_postgres: ServerHandle, fresh_database: str) -> Iterator[list[str]]:
    """A migration role that may create roles and owns the database, and an app role."""
    owner = unique_role("audit_owner")
    with roles(chassis_postgres.url, "LOGIN CREATEROLE", "LOGIN") as (migrator, app):
        name = fresh_database.rsplit("/", 1)[1].split("?", 1)[0]
        run_sync(
            lambda: execute(chassis_postgres.url, f"ALTER DATABASE {name} OWNER TO {migrator}")
        )
        try:
            yield [migrator, app, owner]
        finally:
            # The owner role was created by the migration role; a superuser drops it.
            run_sync(lambda: execute(fresh_database, f"DROP OWNED BY {migrator}, {app}, {owner}"))
            run_sync(
                lambda: execute(
                    chassis_postgres.url,
                    f"ALTER DATABASE {name} OWNER TO CURRENT_USER",
                    f"DROP ROLE IF EXISTS {owner}",
                )
            )


async def test_a_migration_role_that_is_not_a_superuser_can_install_the_audit(
    fresh_database: str, migration_roles: list[str]
) -> None:
    migrator, app, owner = migration_roles
    metadata = MetaData()
    configure_audit(metadata, owner_role=owner)
    items = Table(
        "items",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("name", Text, nullable=False),
    )
    enable_audit(items)

    await create_schema(as_role(fresh_database, migrator), metadata)
    await execute(
        as_role(fresh_database, migrator),
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON items TO {app}",
        f"GRANT USAGE ON SCHEMA audit TO {app}",
        f"GRANT SELECT ON audit.log TO {app}",
    )

    engine = create_async_engine(as_role(fresh_database, app), poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO items (id, name) VALUES (1, 'a')"))
            await connection.execute(text("UPDATE items SET name = 'b'"))
            entries = await log_entries(connection, table="public.items")
            assert [(e.action, e.db_user) for e in entries] == [("INSERT", app), ("UPDATE", app)]
            await fails_with(connection, "DELETE FROM audit.log", INSUFFICIENT_PRIVILEGE)
            await fails_with(connection, f"SET ROLE {owner}", INSUFFICIENT_PRIVILEGE)
            # The application role does not own the table, so it cannot switch the audit off.
            await fails_with(
                connection, "ALTER TABLE items DISABLE TRIGGER USER", INSUFFICIENT_PRIVILEGE
            )
    finally:
        await engine.dispose()
    # The owner role exists now, created by the migration role, and owns the log.
    async with create_async_engine(fresh_database, poolclass=NullPool).connect() as connection:
        log_owner = (
            await connection.execute(
                text(
                    "SELECT pg_get_userbyid(relowner) FROM pg_class "
                    "WHERE oid = 'audit.log'::regclass"
                )
            )
        ).scalar()
    assert log_owner == owner


async def test_installing_without_the_right_to_create_the_owner_role_says_what_to_do(
    chassis_postgres: ServerHandle, fresh_database: str
) -> None:
    owner = unique_role("audit_owner")
    metadata = MetaData()
    configure_audit(metadata, owner_role=owner)
    enable_audit(Table("things", metadata, Column("id", Integer, primary_key=True)))
    with roles(chassis_postgres.url, "LOGIN") as (plain,):
        name = fresh_database.rsplit("/", 1)[1].split("?", 1)[0]
        await execute(chassis_postgres.url, f"ALTER DATABASE {name} OWNER TO {plain}")
        try:
            with pytest.raises(DBAPIError, match=f"audit owner role {owner} does not exist"):
                await create_schema(as_role(fresh_database, plain), metadata)
        finally:
            await execute(fresh_database, f"DROP OWNED BY {plain}")
            await execute(chassis_postgres.url, f"ALTER DATABASE {name} OWNER TO CURRENT_USER")
