"""The fixtures: a database per session, a rolled-back session per test, on any loop."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from fastapi_chassis.db import Base
from fastapi_chassis.testing.fixtures import load_metadata, require_shared_loop
from tests.testing.inner_sessions import (
    FUNCTION_LOOPS,
    SESSION_LOOPS,
    database_names,
    databases_made_by,
    run_inner,
    write_ini,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

METADATA = MetaData()


class LocalBase(DeclarativeBase):
    pass


NOT_METADATA = 42
HERE = __name__


# --- load_metadata ------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param(f"{HERE}:METADATA", METADATA, id="metadata"),
        pytest.param(f"{HERE}:LocalBase", LocalBase.metadata, id="declarative-base"),
        pytest.param(f"{HERE}:LocalBase.metadata", LocalBase.metadata, id="dotted"),
        pytest.param("fastapi_chassis.db:Base", Base.metadata, id="the-chassis-base"),
    ],
)
def test_a_spec_names_a_metadata_or_a_base(spec: str, expected: MetaData) -> None:
    assert load_metadata(spec) is expected


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        pytest.param("fastapi_chassis.db", "must look like 'package.module:Base'", id="no-colon"),
        pytest.param(":Base", "must look like", id="no-module"),
        pytest.param("fastapi_chassis.db:", "must look like", id="no-attribute"),
        pytest.param(
            "no_such_package.models:Base",
            "cannot import 'no_such_package.models'",
            id="missing-module",
        ),
        pytest.param(f"{HERE}:Missing", "has no 'Missing'", id="missing-attribute"),
        pytest.param(f"{HERE}:LocalBase.nope", "has no 'LocalBase.nope'", id="missing-dotted"),
        pytest.param(
            f"{HERE}:NOT_METADATA", "is not a MetaData or declarative base", id="not-metadata"
        ),
    ],
)
def test_a_bad_spec_is_a_usage_error(spec: str, complaint: str) -> None:
    with pytest.raises(pytest.UsageError, match="chassis_metadata") as caught:
        load_metadata(spec)
    assert complaint in str(caught.value)


def test_without_the_option_the_chassis_base_is_used(
    pytestconfig: pytest.Config, chassis_metadata: MetaData
) -> None:
    if pytestconfig.getini("chassis_metadata"):
        pytest.skip("this run sets chassis_metadata")
    assert chassis_metadata is Base.metadata


# --- the event loop the test shares with db_session ------------------------------


@pytest.mark.asyncio
async def test_a_test_on_the_default_loop_may_use_the_session(
    request: pytest.FixtureRequest,
) -> None:
    require_shared_loop(request)


def test_a_synchronous_test_is_not_checked(request: pytest.FixtureRequest) -> None:
    require_shared_loop(request)


@pytest.mark.asyncio(loop_scope="module")
async def test_a_test_on_another_loop_is_told_why(request: pytest.FixtureRequest) -> None:
    with pytest.raises(pytest.UsageError, match="cannot cross event loops") as caught:
        require_shared_loop(request)
    assert "runs on the 'module' event loop" in str(caught.value)


# --- inner sessions: the database, the rollback, the loops -----------------------

INNER_MODELS = """
from sqlalchemy import Column, Integer, MetaData, Table, Text

metadata = MetaData()
widgets = Table(
    "widgets",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("label", Text, nullable=False),
)
"""

INNER_TESTS = """
import json
import os
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from inner_models import widgets

COUNT = select(func.count()).select_from(widgets)


@pytest.mark.asyncio
async def test_the_session_has_its_own_database(chassis_postgres, chassis_database_url, db_session):
    database = await db_session.scalar(text("SELECT current_database()"))
    assert database == make_url(chassis_database_url).database
    assert database.startswith("chassis_test_")
    assert chassis_postgres.provider == "environment"
    tables = await db_session.scalars(
        text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    )
    assert set(tables) == {"widgets"}
    assert await db_session.scalar(COUNT) == 0
    Path("database.json").write_text(json.dumps({"name": database, "pid": os.getpid()}))


@pytest.mark.asyncio
async def test_what_the_test_committed_stays_visible_to_it(db_session):
    await db_session.execute(widgets.insert().values(label="committed"))
    await db_session.commit()
    await db_session.execute(widgets.insert().values(label="rolled back"))
    await db_session.rollback()
    assert (await db_session.scalars(select(widgets.c.label))).all() == ["committed"]


@pytest.mark.asyncio
@pytest.mark.parametrize("round_", range(4))
async def test_each_test_starts_from_an_empty_table(db_session, round_):
    assert await db_session.scalar(COUNT) == 0
    await db_session.execute(widgets.insert().values(label=f"round {round_}"))
    await db_session.commit()
    assert await db_session.scalar(COUNT) == 1


@pytest.mark.asyncio
async def test_the_engine_sees_nothing_left_behind(db_engine):
    async with db_engine.connect() as connection:
        assert await connection.scalar(COUNT) == 0


@pytest.mark.asyncio(loop_scope="module")
async def test_on_another_loop(db_session):
    await db_session.scalar(COUNT)
"""


@pytest.mark.parametrize(
    "loops",
    [
        pytest.param(FUNCTION_LOOPS, id="function-loops"),
        pytest.param(SESSION_LOOPS, id="session-loops"),
    ],
)
def test_each_session_gets_a_fresh_database_and_each_test_a_clean_slate(
    pytester: pytest.Pytester, inner_server: str, loops: Mapping[str, str]
) -> None:
    server_url = inner_server
    write_ini(pytester, {"chassis_metadata": "inner_models:metadata", **loops})
    pytester.makepyfile(inner_models=INNER_MODELS, test_inner=INNER_TESTS)
    before = database_names(server_url, "chassis_test_%")

    # One line per failure, so source shown in tracebacks cannot match below.
    result = run_inner(pytester, "--tb=line")

    result.assert_outcomes(passed=7, errors=1)
    output = result.stdout.str()
    assert "different loop" not in output
    scope = loops["asyncio_default_fixture_loop_scope"]
    assert f"runs on the 'module' event loop but db_session on the '{scope}' one" in output
    database = json.loads((pytester.path / "database.json").read_text())
    assert database["name"] not in before
    after = database_names(server_url, "chassis_test_%")
    assert database["name"] not in after
    assert databases_made_by(database["pid"], before, after) == set()
