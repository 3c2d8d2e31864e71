"""Committed schema snapshots, and the check that keeps schema changes honest.

``chassis events snapshot`` writes the JSON Schema of every registered event
type and version into a directory that the application commits, one file per
version::

    event-schemas/
      shop.order.placed/
        1.0.json
        2.0.json

``chassis events check`` (in CI) compares the registry with those files and
fails when:

* the schema of a version that has a snapshot changed (bump the version
  instead);
* a new version breaks compatibility with the newest older snapshot of its
  type (under the chosen mode) without a major bump, or its number went down;
* two registered versions of a type are themselves in that relation.

New event types and new versions are reported, so the snapshot can be taken and
committed with them. A snapshot whose type or version is no longer registered
is reported too (consumers may still expect it), without failing.

The snapshot layout matches :func:`~fastapi_chassis.events.envelope.dataschema_uri`
with a base URL, so the directory can be served as is for the envelopes'
``dataschema`` links.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi_chassis.events.compatibility import (
    CompatibilityMode,
    check_version_change,
    normalized_schema,
)
from fastapi_chassis.events.naming import parse_schema_version

if TYPE_CHECKING:
    from fastapi_chassis.events.registry import EventRegistry

__all__ = ["SnapshotReport", "check_snapshots", "read_snapshots", "schema_json", "write_snapshots"]


def schema_json(schema: dict[str, Any]) -> str:
    """Render a schema as snapshots store it: sorted keys, two-space indent, final newline."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_snapshots(registry: EventRegistry, directory: Path) -> list[Path]:
    """Write one snapshot file per registered event type and version.

    Existing files are overwritten; files of types or versions no longer
    registered are left alone (delete them deliberately).

    Args:
        registry: The event types to snapshot.
        directory: The snapshot directory; created if missing.

    Returns:
        The files written, sorted.
    """
    written: list[Path] = []
    for event_class in registry:
        path = directory / event_class.event_type / f"{event_class.schema_version}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(schema_json(event_class.data_schema()), encoding="utf-8")
        written.append(path)
    return sorted(written)


def read_snapshots(directory: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """Read a snapshot directory into ``{event_type: {version: schema}}``.

    Files that are not ``<type>/<major>.<minor>.json`` are ignored.

    Raises:
        ValueError: If a snapshot file is not valid JSON.
    """
    snapshots: dict[str, dict[str, dict[str, Any]]] = {}
    if not directory.is_dir():
        return snapshots
    for path in sorted(directory.glob("*/*.json")):
        version = path.stem
        try:
            parse_schema_version(version)
        except ValueError:
            continue
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not valid JSON: {error}") from error
        snapshots.setdefault(path.parent.name, {})[version] = schema
    return snapshots


@dataclass(slots=True)
class SnapshotReport:
    """What ``chassis events check`` found.

    Attributes:
        problems: Reasons to fail; empty when the registry is consistent with
            the snapshots.
        notes: New types and versions to snapshot, snapshots without a
            registered model, and compatible changes found.
    """

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether no problem was found."""
        return not self.problems


def check_snapshots(
    registry: EventRegistry,
    directory: Path,
    mode: CompatibilityMode = CompatibilityMode.FULL,
) -> SnapshotReport:
    """Compare the registry with the committed snapshots.

    Args:
        registry: The event types as the code defines them now.
        directory: The committed snapshot directory.
        mode: The compatibility a new version must keep with the one before it.

    Returns:
        The report; ``ok`` is false when a change needs a version bump it lacks.
    """
    report = SnapshotReport()
    snapshots = read_snapshots(directory)
    for check in registry.check_versions(mode):
        report.problems.extend(check.problems)
    for event_type in registry.event_types():
        committed = snapshots.get(event_type, {})
        if not committed:
            report.notes.append(f"{event_type}: new event type, not yet snapshotted")
        for version in registry.versions(event_type):
            schema = registry.json_schema(event_type, version)
            if version in committed:
                if normalized_schema(committed[version]) != normalized_schema(schema):
                    report.problems.append(
                        f"{event_type} {version}: the schema differs from its snapshot; "
                        "a published version never changes: bump the version (minor for a "
                        "compatible change, major for a breaking one)"
                    )
                continue
            if committed:
                report.notes.append(f"{event_type} {version}: new version, not yet snapshotted")
            older = [
                known
                for known in committed
                if parse_schema_version(known) < parse_schema_version(version)
            ]
            if not older:
                continue
            previous = max(older, key=parse_schema_version)
            check = check_version_change(
                event_type, previous, committed[previous], version, schema, mode=mode
            )
            report.problems.extend(check.problems)
            if check.ok and check.changed:
                report.notes.append(
                    f"{event_type} {previous} -> {version}: compatible ({mode.value}) change"
                )
    for event_type, versions in sorted(snapshots.items()):
        for version in sorted(versions, key=parse_schema_version):
            if event_type not in registry or version not in registry.versions(event_type):
                report.notes.append(
                    f"{event_type} {version}: snapshot without a registered model "
                    "(consumers may still expect it)"
                )
    # The registry's own versions and the snapshots can report the same pair.
    report.problems = list(dict.fromkeys(report.problems))
    return report
