"""The migration checks, and a schema built by Alembic, in an application's test suite."""

from __future__ import annotations

import pytest

from fastapi_chassis.testing.migrations import SchemaSnapshot
from tests.testing.inner_sessions import FUNCTION_LOOPS, run_inner, write_ini
from tests.testing.projects import MODELS, SEED, SHOP_INI, write_migrations, write_shop

MIGRATED_INI = {
    **SHOP_INI,
    **FUNCTION_LOOPS,
    "chassis_schema": "alembic",
    "chassis_alembic_ini": "alembic.ini",
}

CHECKS = """
from fastapi_chassis.testing.migrations import (  # noqa: F401
    test_migrations_have_a_single_head,
    test_migrations_match_the_models,
    test_migrations_round_trip,
)
"""

SEED_TESTS = """
import pytest
from sqlalchemy import select, text, update

from shop_models import Currency


@pytest.mark.asyncio
async def test_the_schema_and_seed_rows_come_from_the_migrations(db_session):
    assert set(await db_session.scalars(select(Currency.code))) == {"EUR", "USD"}
    version = await db_session.scalar(text("SELECT version_num FROM alembic_version"))
    assert version == "%(seed)s"


@pytest.mark.asyncio
async def test_a_committed_test_changes_seed_rows(committed_db, db_session, customer_factory):
    await db_session.execute(update(Currency).values(name="changed"))
    await db_session.execute(text("DELETE FROM currencies WHERE code = 'USD'"))
    await db_session.execute(text("DELETE FROM alembic_version"))
    await customer_factory.create()
    await db_session.commit()


@pytest.mark.asyncio
async def test_the_seed_rows_are_back_and_the_rest_is_gone(db_session):
    rows = dict((await db_session.execute(select(Currency.code, Currency.name))).all())
    assert rows == {"EUR": "Euro", "USD": "US dollar"}
    assert await db_session.scalar(text("SELECT version_num FROM alembic_version")) == "%(seed)s"
    assert await db_session.scalar(text("SELECT count(*) FROM customers")) == 0
""" % {"seed": SEED}  # noqa: UP031 - the test module's own braces stay as they are


def test_a_sound_project_passes_the_checks_and_its_seed_rows_survive_commits(
    pytester: pytest.Pytester, inner_server: str, shop_initial_revision: tuple[str, str]
) -> None:
    write_ini(pytester, MIGRATED_INI)
    write_shop(pytester)
    write_migrations(pytester.path, shop_initial_revision)
    pytester.makepyfile(test_checks=CHECKS, test_seeds=SEED_TESTS)

    result = run_inner(pytester, "-p", "no:randomly")

    result.assert_outcomes(passed=6)


# The models gain a column and an audited table that no migration has.
DRIFTED_MODELS = MODELS.replace(
    "    email: Mapped[str] = mapped_column(unique=True)\n",
    "    email: Mapped[str] = mapped_column(unique=True)\n    nickname: Mapped[str | None]\n",
).replace(
    "class Order(UUIDv7PrimaryKeyMixin, TimestampMixin, Base):",
    "class Order(UUIDv7PrimaryKeyMixin, TimestampMixin, AuditMixin, Base):",
)


def test_a_model_that_drifted_from_the_migrations_is_named(
    pytester: pytest.Pytester, inner_server: str, shop_initial_revision: tuple[str, str]
) -> None:
    assert DRIFTED_MODELS != MODELS
    write_ini(pytester, MIGRATED_INI)
    write_shop(pytester, models=DRIFTED_MODELS)
    write_migrations(pytester.path, shop_initial_revision)
    pytester.makepyfile(test_checks=CHECKS)

    result = run_inner(pytester)

    result.assert_outcomes(passed=2, failed=1)
    output = result.stdout.str()
    assert "FAILED test_checks.py::test_migrations_match_the_models" in output
    assert "the models differ from the database the migrations build" in output
    assert "add_column customers customers.nickname" in output
    assert "create_entity PGTrigger: public.chassis_audit_insert False public.orders" in output
    assert "capture_insert_public_orders" in output


SECOND_HEAD = '''"""A branch made beside the seed revision.

Revision ID: 0b7a4c4e0001
Revises: {initial}
"""

from alembic import op

revision = "0b7a4c4e0001"
down_revision = "{initial}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE TABLE leftovers (id integer PRIMARY KEY)")


def downgrade() -> None:
    pass
'''


def test_two_heads_fail_the_single_head_check(
    pytester: pytest.Pytester, inner_server: str, shop_initial_revision: tuple[str, str]
) -> None:
    write_ini(pytester, MIGRATED_INI)
    write_shop(pytester)
    write_migrations(
        pytester.path,
        shop_initial_revision,
        extra={"0b7a4c4e0001_branch.py": SECOND_HEAD.format(initial=shop_initial_revision[0])},
    )
    pytester.makepyfile(test_checks=CHECKS)

    result = run_inner(pytester, "-k", "single_head")

    result.assert_outcomes(failed=1, deselected=2)
    output = result.stdout.str()
    assert "the migrations have 2 heads: " in output
    assert "0b7a4c4e0001 (A branch made beside the seed revision.)" in output
    assert f"{SEED} (Load the currencies.)" in output
    assert "alembic merge heads" in output


def test_a_round_trip_that_leaves_objects_behind_says_which(
    pytester: pytest.Pytester, inner_server: str, shop_initial_revision: tuple[str, str]
) -> None:
    write_ini(pytester, MIGRATED_INI)
    write_shop(pytester)
    write_migrations(
        pytester.path,
        shop_initial_revision,
        seed_downgrade='op.execute("CREATE TABLE leftovers (id integer PRIMARY KEY)")',
    )
    pytester.makepyfile(test_checks=CHECKS)

    result = run_inner(pytester, "-k", "round_trip")

    result.assert_outcomes(failed=1, deselected=2)
    output = result.stdout.str()
    assert "downgrading to base does not undo the upgrade" in output
    assert "+ relation r public.leftovers" in output


def test_snapshots_list_what_differs() -> None:
    before = SchemaSnapshot({"relation": frozenset({"r public.a"}), "index": frozenset()})
    after = SchemaSnapshot({"relation": frozenset({"r public.b"}), "trigger": frozenset({"t"})})

    assert before.differences(after) == [
        "+ relation r public.b",
        "- relation r public.a",
        "+ trigger t",
    ]
    assert before.differences(before) == []
