"""Compatibility between schema versions, on schemas pydantic generates."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field

from fastapi_chassis.events import CompatibilityMode
from fastapi_chassis.events.compatibility import check_version_change, find_incompatibilities


def schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema()


class Base(BaseModel):
    total: int
    note: str | None = None


class Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")
    total: int
    note: str | None = None


class AddedOptional(BaseModel):
    total: int
    note: str | None = None
    channel: str = "web"


class AddedOptionalClosed(BaseModel):
    model_config = ConfigDict(extra="forbid")
    total: int
    note: str | None = None
    channel: str = "web"


class AddedRequired(BaseModel):
    total: int
    note: str | None = None
    channel: str


class RemovedOptional(BaseModel):
    total: int


class RemovedOptionalClosed(BaseModel):
    model_config = ConfigDict(extra="forbid")
    total: int


class RemovedRequired(BaseModel):
    note: str | None = None


class Retyped(BaseModel):
    total: str
    note: str | None = None


class Widened(BaseModel):
    total: float
    note: str | None = None


class Nullable(BaseModel):
    total: int | None
    note: str | None = None


class NowOptional(BaseModel):
    total: int = 0
    note: str | None = None


class Constrained(BaseModel):
    total: int = Field(ge=0)
    note: str | None = Field(default=None, max_length=10)


class Described(BaseModel):
    """Same shape, other words."""

    total: int = Field(description="In cents", title="Total amount")
    note: str | None = Field(default="x", examples=["hello"])


def kinds(found: list[Any]) -> set[str]:
    return {item.direction for item in found}


@pytest.mark.parametrize(
    ("old", "new", "breaks"),
    [
        (Base, Described, set()),
        (Base, AddedOptional, set()),
        (Closed, AddedOptionalClosed, {"forward"}),
        (Base, AddedRequired, {"backward"}),
        (Base, RemovedOptional, set()),
        (Closed, RemovedOptionalClosed, {"backward"}),
        (Base, RemovedRequired, {"forward"}),
        (Base, Retyped, {"backward", "forward"}),
        (Base, Widened, {"forward"}),
        (Base, Nullable, {"forward"}),
        (Nullable, Base, {"backward"}),
        (Base, NowOptional, {"forward"}),
        (NowOptional, Base, {"backward"}),
        (Base, Constrained, {"backward"}),
        (Constrained, Base, {"forward"}),
        (Base, Closed, {"backward"}),
    ],
)
def test_each_kind_of_change_breaks_the_expected_direction(
    old: type[BaseModel], new: type[BaseModel], breaks: set[str]
) -> None:
    found = find_incompatibilities(schema(old), schema(new), CompatibilityMode.FULL)
    assert kinds(found) == breaks, [str(item) for item in found]


def test_modes_check_only_their_directions() -> None:
    old, new = schema(Base), schema(AddedRequired)
    assert find_incompatibilities(old, new, CompatibilityMode.BACKWARD)
    assert not find_incompatibilities(old, new, CompatibilityMode.FORWARD)


def test_messages_name_the_field_and_the_change() -> None:
    found = find_incompatibilities(schema(Base), schema(Retyped), CompatibilityMode.BACKWARD)
    assert [str(item) for item in found] == ["backward: total: type changed from integer to string"]
    found = find_incompatibilities(schema(Base), schema(AddedRequired))
    assert str(found[0]) == "backward: channel: added as a required field"


class Address(BaseModel):
    street: str
    city: str


class AddressWithZip(BaseModel):
    street: str
    city: str
    zip: str


class Shipped(BaseModel):
    address: Address


class ShippedWithZip(BaseModel):
    address: AddressWithZip


def test_nested_models_are_compared_through_their_references() -> None:
    found = find_incompatibilities(schema(Shipped), schema(ShippedWithZip))
    assert [str(item) for item in found] == ["backward: address.zip: added as a required field"]


class Color(StrEnum):
    RED = "red"
    GREEN = "green"


class MoreColor(StrEnum):
    RED = "red"
    GREEN = "green"
    BLUE = "blue"


class Painted(BaseModel):
    color: Color


class PaintedMore(BaseModel):
    color: MoreColor


class Tagged(BaseModel):
    tags: list[str]
    kind: Literal["a", "b"]


class TaggedNumbers(BaseModel):
    tags: list[int]
    kind: Literal["a", "b", "c"]


def test_enums_lists_and_literals() -> None:
    assert kinds(find_incompatibilities(schema(Painted), schema(PaintedMore))) == {"forward"}
    assert kinds(find_incompatibilities(schema(PaintedMore), schema(Painted))) == {"backward"}
    found = [str(item) for item in find_incompatibilities(schema(Tagged), schema(TaggedNumbers))]
    assert "backward: tags[]: type changed from string to integer" in found
    assert any(item.startswith("forward: kind:") for item in found)


class Node(BaseModel):
    name: str
    children: list[Node] = []


def test_recursive_models_terminate() -> None:
    assert find_incompatibilities(schema(Node), schema(Node)) == []


@pytest.mark.parametrize(
    ("old_version", "new_version", "new", "ok"),
    [
        ("1.0", "1.0", Base, True),
        ("1.0", "1.0", AddedOptional, False),
        ("1.0", "1.1", AddedOptional, True),
        ("1.3", "2.0", AddedOptional, True),
        ("1.0", "1.1", AddedRequired, False),
        ("1.0", "1.1", Retyped, False),
        ("1.4", "2.0", Retyped, True),
        ("2.0", "1.9", Base, False),
    ],
)
def test_version_bumps(old_version: str, new_version: str, new: type[BaseModel], ok: bool) -> None:
    check = check_version_change(
        "shop.order.placed", old_version, schema(Base), new_version, schema(new)
    )
    assert check.ok is ok, check.problems


def test_a_breaking_change_without_a_major_bump_explains_itself() -> None:
    check = check_version_change("shop.order.placed", "1.0", schema(Base), "1.1", schema(Retyped))
    assert check.breaking
    assert check.changed
    assert "without a major version bump" in check.problems[0]
    assert "total: type changed" in check.problems[0]
