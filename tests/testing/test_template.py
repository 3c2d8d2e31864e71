"""The template database: built once, cloned per run, rebuilt when the schema changes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, Text, event

from fastapi_chassis.db import AuditMixin, Base, UUIDv7PrimaryKeyMixin
from fastapi_chassis.testing.template import (
    SchemaMode,
    SchemaSource,
    metadata_ddl,
    template_name,
)
from tests.testing.inner_sessions import FUNCTION_LOOPS, run_inner, template_facts, write_ini

# --- names and fingerprints ----------------------------------------------------


def test_a_template_is_named_after_its_project(tmp_path: Path) -> None:
    project = tmp_path / "My Shop-Service"
    project.mkdir()

    name = template_name(project)

    assert re.fullmatch(r"chassis_tpl_my_shop_service_[0-9a-f]{12}", name)
    assert template_name(project) == name
    other = tmp_path / "elsewhere" / "My Shop-Service"
    other.mkdir(parents=True)
    assert template_name(other) != name


def test_a_long_or_unreadable_directory_name_still_gives_a_valid_name(tmp_path: Path) -> None:
    long_name = tmp_path / ("x" * 80)
    long_name.mkdir()
    symbols = tmp_path / "---"
    symbols.mkdir()

    assert len(template_name(long_name)) <= 63
    assert re.fullmatch(r"chassis_tpl_[0-9a-f]{12}", template_name(symbols))


def _metadata(*columns: str) -> MetaData:
    metadata = MetaData()
    Table(
        "things",
        metadata,
        Column("id", Integer, primary_key=True),
        *(Column(c, Text) for c in columns),
    )
    return metadata


def test_the_fingerprint_is_stable_and_follows_the_schema() -> None:
    first = SchemaSource(SchemaMode.CREATE_ALL, _metadata("name")).fingerprint()

    assert SchemaSource(SchemaMode.CREATE_ALL, _metadata("name")).fingerprint() == first
    assert SchemaSource(SchemaMode.CREATE_ALL, _metadata("label")).fingerprint() != first
    assert SchemaSource(SchemaMode.CREATE_ALL, _metadata("name", "label")).fingerprint() != first


class _AuditedBase(Base):
    __abstract__ = True
    metadata = MetaData()


class AuditedThing(UUIDv7PrimaryKeyMixin, AuditMixin, _AuditedBase):
    __tablename__ = "audited_things"


def test_the_ddl_includes_what_ddl_events_install() -> None:
    statements = metadata_ddl(_AuditedBase.metadata)

    text = "\n".join(statements)
    assert "CREATE TABLE audited_things" in text
    assert "chassis_uuid7" in text
    assert "audit.log" in text
    assert "CREATE TRIGGER chassis_audit_insert" in text


def test_ddl_events_that_need_a_database_leave_the_tables_in_the_fingerprint() -> None:
    def needs_a_database(_table: Table, connection: object, **_: object) -> None:
        raise RuntimeError(f"cannot ask {connection!r} anything")

    metadata = _metadata("name")
    event.listen(metadata.tables["things"], "after_create", needs_a_database)

    statements = metadata_ddl(metadata)

    assert len(statements) == 1
    assert statements[0].startswith("CREATE TABLE things ( id SERIAL NOT NULL, name TEXT")
    wider = _metadata("name", "label")
    event.listen(wider.tables["things"], "after_create", needs_a_database)
    assert metadata_ddl(wider) != statements


def test_the_alembic_mode_needs_its_ini_file() -> None:
    source = SchemaSource(SchemaMode.ALEMBIC, _metadata())

    with pytest.raises(ValueError, match=r"alembic\.ini"):
        source.fingerprint()


# --- inner sessions: reuse, rebuild ------------------------------------------------

MODELS_V1 = """
from sqlalchemy import Column, Integer, MetaData, Table, Text, event

metadata = MetaData()
gadgets = Table("gadgets", metadata, Column("id", Integer, primary_key=True), Column("name", Text))
"""

MODELS_V2 = MODELS_V1.replace(
    'Column("name", Text))', 'Column("name", Text), Column("colour", Text))'
)

TEST = """
import json
import pytest
from pathlib import Path
from sqlalchemy import text


@pytest.mark.asyncio
async def test_columns(db_session):
    columns = await db_session.scalars(
        text("SELECT column_name FROM information_schema.columns WHERE table_name = 'gadgets'")
    )
    Path("columns.json").write_text(json.dumps(sorted(columns)))
"""


def _columns(pytester: pytest.Pytester) -> list[str]:
    columns: list[str] = json.loads((pytester.path / "columns.json").read_text())
    return columns


def test_the_template_is_reused_until_the_models_change(
    pytester: pytest.Pytester, inner_server: str
) -> None:
    write_ini(
        pytester,
        {"chassis_metadata": "gadget_models:metadata", "pythonpath": ".", **FUNCTION_LOOPS},
    )
    pytester.makepyfile(gadget_models=MODELS_V1, test_gadgets=TEST)
    name = template_name(pytester.path)
    assert template_facts(inner_server, name) is None

    run_inner(pytester).assert_outcomes(passed=1)
    built = template_facts(inner_server, name)
    assert built is not None
    assert built[1].startswith("fastapi-chassis test template ")
    assert _columns(pytester) == ["id", "name"]

    run_inner(pytester).assert_outcomes(passed=1)
    assert template_facts(inner_server, name) == built

    pytester.makepyfile(gadget_models=MODELS_V2)
    run_inner(pytester).assert_outcomes(passed=1)
    rebuilt = template_facts(inner_server, name)
    assert rebuilt is not None
    assert rebuilt[0] != built[0]
    assert rebuilt[1] != built[1]
    assert _columns(pytester) == ["colour", "id", "name"]

    run_inner(pytester, "--chassis-rebuild-template").assert_outcomes(passed=1)
    forced = template_facts(inner_server, name)
    assert forced is not None
    assert forced[0] != rebuilt[0]
    assert forced[1] == rebuilt[1]


FAILING_MODELS = """
from sqlalchemy import Column, DDL, Integer, MetaData, Table, event

metadata = MetaData()
broken = Table("broken", metadata, Column("id", Integer, primary_key=True))
event.listen(broken, "after_create", DDL("SELECT no_such_function()"))
"""


def test_a_failed_build_leaves_no_template(pytester: pytest.Pytester, inner_server: str) -> None:
    write_ini(
        pytester,
        {"chassis_metadata": "broken_models:metadata", "pythonpath": ".", **FUNCTION_LOOPS},
    )
    pytester.makepyfile(broken_models=FAILING_MODELS, test_broken=TEST)

    result = run_inner(pytester, "--tb=line")

    result.assert_outcomes(errors=1)
    assert "no_such_function" in result.stdout.str()
    assert template_facts(inner_server, template_name(pytester.path)) is None
