"""Marking tables for audit and the SQL derived from the marks (no database needed)."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, Text
from sqlalchemy.orm import Mapped, mapped_column

from fastapi_chassis.db import NAMING_CONVENTION, AuditMixin, Base
from fastapi_chassis.db.audit import (
    DEFAULT_OWNER_ROLE,
    audit_entities,
    audit_history_router,
    configure_audit,
    enable_audit,
    parse_age,
)
from fastapi_chassis.db.audit.objects import audit_objects, table_audit_objects
from fastapi_chassis.db.audit.tables import audit_options, audit_owner_role, audited_tables
from fastapi_chassis.db.migrations import chassis_entities
from tests.db.audit.models import (
    AUDIT_METADATA,
    OWNER_ROLE,
    Account,
    Counter,
    Membership,
    Note,
    table_of,
)


def test_the_mixin_marks_the_table_in_its_metadata() -> None:
    options = audit_options(table_of(Account))

    assert options is not None
    # One name was an attribute (api_token), mapped to the column "token".
    assert options.exclude == {"password_hash", "token"}
    assert audit_options(table_of(Note)) is None
    assert table_of(Note) not in audited_tables(AUDIT_METADATA)
    assert table_of(Counter) in audited_tables(AUDIT_METADATA)


def test_the_owner_role_is_configured_per_metadata() -> None:
    assert audit_owner_role(AUDIT_METADATA) == OWNER_ROLE
    assert audit_owner_role(MetaData()) == DEFAULT_OWNER_ROLE
    with pytest.raises(ValueError, match="plain identifier"):
        configure_audit(MetaData(), owner_role='audit"; DROP ROLE postgres; --')


def _base() -> type[Base]:
    class Isolated(Base):
        __abstract__ = True
        metadata = MetaData(naming_convention=NAMING_CONVENTION)

    return Isolated


def test_excluding_an_unknown_column_fails_when_the_model_is_defined() -> None:
    base = _base()
    with pytest.raises(ValueError, match="passwd"):

        class Typo(AuditMixin, base):  # type: ignore[valid-type, misc]
            __tablename__ = "typo"
            __audit_exclude__ = frozenset({"passwd"})
            id: Mapped[int] = mapped_column(primary_key=True)
            password: Mapped[str]


def test_the_primary_key_cannot_be_excluded() -> None:
    table = Table("keyed", MetaData(), Column("id", Integer, primary_key=True))
    with pytest.raises(ValueError, match="primary key"):
        enable_audit(table, exclude={"id"})


def test_a_table_without_primary_key_cannot_be_audited() -> None:
    table = Table("heap", MetaData(), Column("value", Text))
    with pytest.raises(ValueError, match="no primary key"):
        enable_audit(table)


def test_a_single_string_is_not_mistaken_for_a_list_of_names() -> None:
    base = _base()
    with pytest.raises(TypeError, match="collection of names"):

        class Stringly(AuditMixin, base):  # type: ignore[valid-type, misc]
            __tablename__ = "stringly"
            __audit_exclude__ = "secret"
            id: Mapped[int] = mapped_column(primary_key=True)
            secret: Mapped[str]


def test_single_table_subclasses_add_their_exclusions() -> None:
    base = _base()

    class Person(AuditMixin, base):  # type: ignore[valid-type, misc]
        __tablename__ = "people"
        __mapper_args__ = {"polymorphic_on": "kind", "polymorphic_identity": "person"}
        id: Mapped[int] = mapped_column(primary_key=True)
        kind: Mapped[str]
        pin: Mapped[str | None]

    class Employee(Person):
        __mapper_args__ = {"polymorphic_identity": "employee"}
        __audit_exclude__ = frozenset({"salary"})
        salary: Mapped[int | None]

    options = audit_options(table_of(Person))
    assert options is not None
    assert options.exclude == {"salary"}
    assert table_of(Employee) is table_of(Person)


def test_each_audited_table_gets_three_capture_functions_and_four_statement_triggers() -> None:
    *functions, insert, update, delete, truncate = table_audit_objects(table_of(Counter))

    assert [(function.schema, function.name) for function in functions] == [
        ("audit", "capture_insert_public_audit_counters"),
        ("audit", "capture_update_public_audit_counters"),
        ("audit", "capture_delete_public_audit_counters"),
    ]
    for function in functions:
        assert "SECURITY DEFINER" in function.create_sql
        assert "SET search_path = pg_catalog, pg_temp" in function.create_sql
    # Each function names only the transition tables its trigger has.
    assert "chassis_old" not in functions[0].create_sql
    assert "chassis_new" not in functions[2].create_sql
    triggers = [insert, update, delete, truncate]
    assert [trigger.name for trigger in triggers] == [
        "chassis_audit_insert",
        "chassis_audit_update",
        "chassis_audit_delete",
        "chassis_audit_truncate",
    ]
    for trigger in triggers:
        assert "FOR EACH STATEMENT" in trigger.create_sql
        assert trigger.table == "public.audit_counters"
    assert "REFERENCING NEW TABLE AS chassis_new" in insert.create_sql
    assert "REFERENCING OLD TABLE AS chassis_old NEW TABLE AS chassis_new" in update.create_sql
    assert "audit.capture_update_public_audit_counters()" in update.create_sql
    assert "REFERENCING OLD TABLE AS chassis_old" in delete.create_sql
    assert "audit.record_truncate()" in truncate.create_sql


def test_long_names_are_shortened_to_fit_postgresql() -> None:
    table = Table("t" * 60, MetaData(), Column("id", Integer, primary_key=True))
    enable_audit(table)

    names = [item.name for item in table_audit_objects(table)[:3]]

    assert all(len(name) <= 63 for name in names)
    assert len(set(names)) == 3


def test_housekeeping_and_excluded_columns_are_not_compared() -> None:
    (_, update, _, *_) = table_audit_objects(table_of(Account))
    statement = update.create_sql

    for quiet in ("updated_at", "version", "is_deleted", "password_hash", "token", "id"):
        assert f"n.{quiet} IS DISTINCT FROM" not in statement, quiet
    for compared in ("email", "balance", "note", "deleted_at"):
        assert f"n.{compared} IS DISTINCT FROM" in statement, compared
    assert "(to_jsonb(n) - ARRAY['password_hash', 'token'])" in statement


def test_entities_follow_the_objects_and_join_the_chassis_entities() -> None:
    objects = audit_objects(AUDIT_METADATA)
    entities = audit_entities(AUDIT_METADATA)
    everything = [entity.identity for entity in chassis_entities(AUDIT_METADATA)]

    assert [entity.identity for entity in entities][:2] == [
        "PGFunction: audit.record_truncate()",
        "PGFunction: audit.create_partitions(months_ahead integer)",
    ]
    assert len(entities) == len(objects)
    assert everything[-len(entities) :] == [entity.identity for entity in entities]
    assert everything.count("PGFunction: public.chassis_uuid7()") == 1
    assert audit_entities(MetaData()) == []


def test_the_uuid7_function_comes_with_the_audit_when_no_table_brings_it() -> None:
    metadata = MetaData()
    enable_audit(Table("counts", metadata, Column("id", Integer, primary_key=True)))

    identities = [entity.identity for entity in audit_entities(metadata)]

    assert identities[0] == "PGFunction: public.chassis_uuid7()"


@pytest.mark.parametrize(
    ("age", "interval"),
    [
        ("400d", "400 days"),
        ("8w", "8 weeks"),
        ("13mo", "13 months"),
        ("2y", "2 years"),
        (" 30 days ", "30 days"),
    ],
)
def test_ages_read_as_intervals(age: str, interval: str) -> None:
    assert parse_age(age) == interval


@pytest.mark.parametrize("age", ["400", "12m", "d", "-3d", "1.5y", "400dd"])
def test_unclear_ages_are_refused(age: str) -> None:
    with pytest.raises(ValueError, match="expected an age"):
        parse_age(age)


def test_the_router_needs_an_audited_model_with_a_simple_key() -> None:
    with pytest.raises(ValueError, match="not audited"):
        audit_history_router(Note, prefix="/notes")
    with pytest.raises(ValueError, match="composite primary key"):
        audit_history_router(Membership, prefix="/memberships")
