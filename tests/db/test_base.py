from __future__ import annotations

import datetime
import uuid
from typing import Any

import pytest
from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    inspect,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from fastapi_chassis.db import (
    NAMING_CONVENTION,
    Base,
    SoftDeleteMixin,
    TimestampMixin,
    UUIDv7PrimaryKeyMixin,
    VersionMixin,
    assert_foreign_keys_indexed,
    unindexed_foreign_keys,
)
from tests.db import models


class LocalBase(Base):
    """Keeps these tables out of the shared test database."""

    __abstract__ = True
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ConfirmRowsMixin:
    __mapper_args__ = {"confirm_deleted_rows": False}


class CommentMixin:
    __table_args__: Any = {"comment": "audited widgets", "info": {"owner": "mixin"}}


class IndexedNameMixin:
    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:  # noqa: N805
        return (Index(None, "name"),)


class Widget(
    ConfirmRowsMixin,
    CommentMixin,
    IndexedNameMixin,
    UUIDv7PrimaryKeyMixin,
    TimestampMixin,
    VersionMixin,
    LocalBase,
):
    __tablename__ = "widgets"
    __mapper_args__ = {"eager_defaults": False}
    __table_args__ = (
        CheckConstraint("length(name) > 0", name="name_not_empty"),
        {"info": {"owner": "model"}, "postgresql_with_oids": None},
    )

    name: Mapped[str] = mapped_column(String(50), unique=True)
    data: Mapped[dict[str, Any]]
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("widgets.id"))


def test_mapper_args_from_every_mixin_take_effect() -> None:
    mapper = inspect(Widget)
    assert mapper.version_id_col is Widget.__table__.c.version
    assert mapper.version_id_generator is False
    assert mapper.confirm_deleted_rows is False
    # The model's own arguments win over Base's default.
    assert mapper.eager_defaults is False


def test_default_models_fetch_server_values_eagerly() -> None:
    assert inspect(models.Product).eager_defaults is True
    assert inspect(models.Product).version_id_col is models.Product.__table__.c.version


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def test_table_args_from_every_mixin_and_the_model_are_merged() -> None:
    table = _table(Widget)
    assert table.comment == "audited widgets"
    assert table.info == {"owner": "model"}
    assert {index.name for index in table.indexes} == {"ix_widgets_name"}
    assert "ck_widgets_name_not_empty" in {constraint.name for constraint in table.constraints}


def test_naming_convention_names_every_constraint() -> None:
    names = {str(constraint.name) for constraint in _table(Widget).constraints}
    assert {
        "pk_widgets",
        "uq_widgets_name",
        "fk_widgets_parent_id_widgets",
        "ck_widgets_name_not_empty",
    } <= names


def test_type_map_uses_postgresql_types() -> None:
    columns = _table(Widget).c
    assert isinstance(columns.data.type, JSONB)
    assert isinstance(columns.created_at.type, DateTime)
    assert columns.created_at.type.timezone is True
    assert columns.id.type.python_type is uuid.UUID
    assert columns.created_at.type.python_type is datetime.datetime


def test_mixin_columns_come_after_the_key_and_before_nothing_else() -> None:
    assert [column.name for column in models.Product.__table__.columns][:1] == ["id"]
    assert [column.name for column in models.Product.__table__.columns][-5:] == [
        "created_at",
        "updated_at",
        "version",
        "deleted_at",
        "is_deleted",
    ]


def test_mapped_subclasses_inherit_without_reapplying_mixin_arguments() -> None:
    class Gadget(UUIDv7PrimaryKeyMixin, VersionMixin, LocalBase):
        __tablename__ = "gadgets"
        kind: Mapped[str]
        __mapper_args__ = {"polymorphic_on": "kind", "polymorphic_identity": "g"}

    class SmartGadget(Gadget):
        __tablename__ = "smart_gadgets"
        id: Mapped[uuid.UUID] = mapped_column(ForeignKey("gadgets.id"), primary_key=True)
        __mapper_args__ = {"polymorphic_identity": "smart"}

    mapper = inspect(SmartGadget)
    assert mapper.polymorphic_identity == "smart"
    assert mapper.version_id_col is Gadget.__table__.c.version


def test_bad_mapper_args_are_reported() -> None:
    class BrokenMixin:
        __mapper_args__: Any = ("not", "a", "dict")

    with pytest.raises(TypeError, match="must be a dict"):

        class Broken(BrokenMixin, UUIDv7PrimaryKeyMixin, LocalBase):
            __tablename__ = "broken"


def test_bad_table_args_are_reported() -> None:
    class BrokenTableMixin:
        __table_args__: Any = "nope"

    with pytest.raises(TypeError, match="must be a tuple or a dict"):

        class BrokenTable(BrokenTableMixin, SoftDeleteMixin, UUIDv7PrimaryKeyMixin, LocalBase):
            __tablename__ = "broken_table"
            __table_args__ = ({"comment": "x"},)


class FkIndexBase(Base):
    __abstract__ = True
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Parent(UUIDv7PrimaryKeyMixin, FkIndexBase):
    __tablename__ = "parents"
    code: Mapped[str]
    region: Mapped[str]
    __table_args__ = (UniqueConstraint("code", "region"),)


class Child(UUIDv7PrimaryKeyMixin, FkIndexBase):
    __tablename__ = "children"
    indexed_parent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("parents.id"), index=True)
    bare_parent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("parents.id"))
    partial_parent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("parents.id"))
    region: Mapped[str]
    code: Mapped[str]
    __table_args__: Any = (
        Index(None, "partial_parent_id", postgresql_where="region = 'eu'"),
        # A composite key is served by an index with the same leading columns in any order.
        Index("ix_children_region_code_extra", "region", "code", "id"),
        {"info": {}},
    )


class Link(FkIndexBase):
    __tablename__ = "links"
    # The primary key's leading column serves the first foreign key only.
    left_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("parents.id"), primary_key=True)
    right_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("parents.id"), primary_key=True)


_table(Child).append_constraint(
    ForeignKeyConstraint(["code", "region"], ["parents.code", "parents.region"])
)


def test_foreign_keys_without_a_leading_index_are_reported() -> None:
    missing = {(item.table, item.columns) for item in unindexed_foreign_keys(FkIndexBase.metadata)}
    assert missing == {
        ("children", ("bare_parent_id",)),
        ("children", ("partial_parent_id",)),
        ("links", ("right_id",)),
    }


def test_assert_foreign_keys_indexed_lists_every_offender() -> None:
    with pytest.raises(AssertionError, match="3 foreign key") as failure:
        assert_foreign_keys_indexed(FkIndexBase.metadata)
    assert "children(bare_parent_id) -> parents" in str(failure.value)


def test_the_shared_test_models_index_every_foreign_key() -> None:
    assert_foreign_keys_indexed(Base.metadata)
