"""Committed schema snapshots and the check CI runs against them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

from pydantic import ConfigDict

from fastapi_chassis.events import CompatibilityMode, DomainEvent, EventRegistry
from fastapi_chassis.events.snapshots import check_snapshots, read_snapshots, write_snapshots
from tests.events.events import OrderCancelled, OrderPlaced


def placed(version: str, **fields: object) -> type[DomainEvent]:
    """An OrderPlaced variant with the given version and payload fields."""
    namespace: dict[str, object] = {
        "__annotations__": {
            "event_type": "ClassVar[str]",
            "schema_version": "ClassVar[str]",
            **fields,
        },
        "event_type": "shop.order.placed",
        "schema_version": version,
    }
    return type(f"Placed_{version.replace('.', '_')}", (DomainEvent,), namespace)


def test_snapshots_are_one_sorted_json_file_per_type_and_version(tmp_path: Path) -> None:
    written = write_snapshots(EventRegistry([OrderPlaced, OrderCancelled]), tmp_path)
    assert [path.relative_to(tmp_path).as_posix() for path in written] == [
        "shop.order.cancelled/1.0.json",
        "shop.order.placed/1.0.json",
    ]
    text = (tmp_path / "shop.order.placed" / "1.0.json").read_text()
    assert text.endswith("}\n")
    assert json.loads(text) == OrderPlaced.data_schema()
    assert read_snapshots(tmp_path)["shop.order.placed"]["1.0"] == OrderPlaced.data_schema()


def test_an_unchanged_registry_passes(tmp_path: Path) -> None:
    registry = EventRegistry([OrderPlaced, OrderCancelled])
    write_snapshots(registry, tmp_path)
    report = check_snapshots(registry, tmp_path)
    assert report.ok
    assert report.problems == []


def test_changing_a_published_version_fails(tmp_path: Path) -> None:
    write_snapshots(EventRegistry([placed("1.0", total_cents=int)]), tmp_path)
    report = check_snapshots(
        EventRegistry([placed("1.0", total_cents=int, channel=str | None)]), tmp_path
    )
    assert not report.ok
    assert "differs from its snapshot" in report.problems[0]


def test_a_breaking_change_needs_a_major_bump(tmp_path: Path) -> None:
    write_snapshots(EventRegistry([placed("1.0", total_cents=int)]), tmp_path)
    minor = check_snapshots(EventRegistry([placed("1.1", total_cents=str)]), tmp_path)
    assert not minor.ok
    assert "without a major version bump" in minor.problems[0]
    assert "total_cents: type changed from integer to string" in minor.problems[0]
    major = check_snapshots(EventRegistry([placed("2.0", total_cents=str)]), tmp_path)
    assert major.ok, major.problems
    assert any("not yet snapshotted" in note for note in major.notes)
    assert any("snapshot without a registered model" in note for note in major.notes)


def test_a_compatible_change_needs_a_minor_bump_only(tmp_path: Path) -> None:
    class WithNote(DomainEvent):
        event_type: ClassVar[str] = "shop.order.placed"
        schema_version: ClassVar[str] = "1.1"
        total_cents: int
        note: str | None = None

    write_snapshots(EventRegistry([placed("1.0", total_cents=int)]), tmp_path)
    report = check_snapshots(EventRegistry([WithNote]), tmp_path)
    assert report.ok, report.problems
    assert any("compatible (full) change" in note for note in report.notes)


def test_extra_forbid_makes_an_added_field_break_forward_compatibility(tmp_path: Path) -> None:
    class Closed(DomainEvent):
        model_config = ConfigDict(extra="forbid")
        event_type: ClassVar[str] = "shop.order.placed"
        total_cents: int

    class ClosedWithNote(DomainEvent):
        model_config = ConfigDict(extra="forbid")
        event_type: ClassVar[str] = "shop.order.placed"
        schema_version: ClassVar[str] = "1.1"
        total_cents: int
        note: str | None = None

    write_snapshots(EventRegistry([Closed]), tmp_path)
    registry = EventRegistry([ClosedWithNote])
    assert not check_snapshots(registry, tmp_path).ok
    assert check_snapshots(registry, tmp_path, CompatibilityMode.BACKWARD).ok


def test_new_types_are_noted_not_failed(tmp_path: Path) -> None:
    report = check_snapshots(EventRegistry([OrderPlaced]), tmp_path / "missing")
    assert report.ok
    assert report.notes == ["shop.order.placed: new event type, not yet snapshotted"]


def test_versions_registered_side_by_side_are_checked_too(tmp_path: Path) -> None:
    registry = EventRegistry([placed("1.0", total_cents=int), placed("1.1", total_cents=str)])
    report = check_snapshots(registry, tmp_path)
    assert not report.ok
    assert len(report.problems) == 1
