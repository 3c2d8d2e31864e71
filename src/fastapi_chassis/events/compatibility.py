"""Schema compatibility between two versions of an event, and the version bump it needs.

Two questions decide whether a change breaks consumers, and a mode says which
ones must hold:

* **backward**: can a consumer that reads with the *new* schema process events
  written with the *old* one (events already on the topic, a producer not yet
  upgraded)?
* **forward**: can a consumer still on the *old* schema process events written
  with the *new* one?
* **full**: both (the default).

Each question is "does the reader's schema accept every value the writer's
schema allows?", answered by walking both schemas (``$ref`` resolved, titles,
descriptions and defaults ignored). Under ``full``, in practice:

* add an optional field: breaks forward compatibility when the old schema
  forbids extra properties;
* add a required field: breaks backward compatibility;
* remove a field: breaks backward compatibility when the new schema forbids
  extra properties, forward compatibility when the old schema requires it;
* make a field optional: breaks forward; make it required: breaks backward;
* change a field's type: breaks backward unless the new type accepts every old
  value (``int`` to ``float``, ``X`` to ``X | None``), forward unless the reverse
  holds;
* tighten a constraint (``max_length``, ``ge``, fewer enum members): breaks
  backward; loosening it breaks forward.

"Forbids extra properties" is pydantic's ``extra="forbid"``
(``additionalProperties: false``); with the default ``extra="ignore"`` a reader
ignores fields it does not know.

A change that breaks the chosen mode needs a major bump (``1.3`` to ``2.0``); any
other change to the schema needs at least a minor bump.

Limitations:
    * A field the reader knows and the writer's (open) schema does not list is
      taken as absent, although an open schema allows any value under that name.
    * ``pattern`` and ``format`` are compared by equality, not by the languages
      they describe; ``oneOf`` is treated like ``anyOf``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from typing_extensions import override

from fastapi_chassis.events.naming import parse_schema_version

__all__ = [
    "CompatibilityMode",
    "Incompatibility",
    "VersionCheck",
    "check_version_change",
    "find_incompatibilities",
    "normalized_schema",
]

Direction = Literal["backward", "forward"]


class CompatibilityMode(StrEnum):
    """Which consumers a schema change must keep working."""

    BACKWARD = "backward"
    """Consumers on the new schema read events written with the old one."""
    FORWARD = "forward"
    """Consumers on the old schema read events written with the new one."""
    FULL = "full"
    """Both."""

    def directions(self) -> tuple[Direction, ...]:
        """Return the directions this mode checks."""
        if self is CompatibilityMode.BACKWARD:
            return ("backward",)
        if self is CompatibilityMode.FORWARD:
            return ("forward",)
        return ("backward", "forward")


@dataclass(frozen=True, slots=True)
class Incompatibility:
    """One way in which a reader's schema rejects what a writer's schema allows.

    Attributes:
        direction: ``backward`` (new reads old) or ``forward`` (old reads new).
        path: The field, dotted for nested objects (``(root)`` for the whole).
        reason: What changed, in words.
    """

    direction: Direction
    path: str
    reason: str

    @override
    def __str__(self) -> str:
        return f"{self.direction}: {self.path}: {self.reason}"


@dataclass(frozen=True, slots=True)
class VersionCheck:
    """The outcome of checking one version of an event type against an earlier one.

    Attributes:
        event_type: The event type.
        old_version: The earlier version.
        new_version: The later version.
        changed: Whether the schemas differ (annotations aside).
        incompatibilities: What breaks consumers under the chosen mode.
        problems: Why the version change is not acceptable; empty when it is.
    """

    event_type: str
    old_version: str
    new_version: str
    changed: bool
    incompatibilities: tuple[Incompatibility, ...]
    problems: tuple[str, ...]

    @property
    def breaking(self) -> bool:
        """Whether the change breaks consumers under the chosen mode."""
        return bool(self.incompatibilities)

    @property
    def ok(self) -> bool:
        """Whether the version change is acceptable."""
        return not self.problems


def check_version_change(
    event_type: str,
    old_version: str,
    old_schema: dict[str, Any],
    new_version: str,
    new_schema: dict[str, Any],
    *,
    mode: CompatibilityMode = CompatibilityMode.FULL,
) -> VersionCheck:
    """Decide whether going from one schema version to another is acceptable.

    Args:
        event_type: The event type (for messages).
        old_version: The earlier version, such as ``"1.2"``.
        old_schema: Its JSON Schema.
        new_version: The later version.
        new_schema: Its JSON Schema.
        mode: The compatibility the change must keep.

    Returns:
        The check; ``ok`` is false when the schema changed without a version bump,
        when the version went down, or when a breaking change lacks a major bump.
    """
    old = parse_schema_version(old_version)
    new = parse_schema_version(new_version)
    changed = normalized_schema(old_schema) != normalized_schema(new_schema)
    found = tuple(find_incompatibilities(old_schema, new_schema, mode))
    problems: list[str] = []
    label = f"{event_type} {old_version} -> {new_version}"
    if new < old:
        problems.append(f"{label}: the version went down")
    elif new == old and changed:
        problems.append(
            f"{event_type} {new_version}: the schema changed but the version did not; "
            "bump the minor version for a compatible change, the major one for a breaking change"
        )
    if found and new.major <= old.major:
        details = "; ".join(str(item) for item in found)
        problems.append(
            f"{label}: breaking change ({mode.value} compatibility) without a major "
            f"version bump: {details}"
        )
    return VersionCheck(event_type, old_version, new_version, changed, found, tuple(problems))


def find_incompatibilities(
    old_schema: dict[str, Any],
    new_schema: dict[str, Any],
    mode: CompatibilityMode = CompatibilityMode.FULL,
) -> list[Incompatibility]:
    """List what breaks consumers when ``old_schema`` becomes ``new_schema``.

    Args:
        old_schema: The earlier JSON Schema.
        new_schema: The later JSON Schema.
        mode: Which directions to check.

    Returns:
        Every incompatibility found, backward ones first.

    Example:
        ```python
        old = {"type": "object", "properties": {"a": {"type": "integer"}}}
        new = {"type": "object", "properties": {"a": {"type": "string"}}}
        first = find_incompatibilities(old, new)[0]
        assert str(first) == "backward: a: type changed from integer to string"
        ```
    """
    found: list[Incompatibility] = []
    for direction in mode.directions():
        if direction == "backward":
            comparer = _Comparer(
                reader_root=new_schema, writer_root=old_schema, direction=direction
            )
        else:
            comparer = _Comparer(
                reader_root=old_schema, writer_root=new_schema, direction=direction
            )
        found.extend(comparer.compare())
    return found


_ANNOTATIONS = frozenset(
    {
        "$comment", "$id", "$schema", "default", "deprecated", "description", "examples",
        "readOnly", "title", "writeOnly", "x-event-type", "x-schema-version",
    }
)  # fmt: skip


def normalized_schema(schema: object) -> object:
    """Return ``schema`` without annotations (titles, descriptions, defaults, examples).

    Two schemas that normalize to the same value accept the same documents.
    """
    if isinstance(schema, dict):
        return {
            key: normalized_schema(value)
            for key, value in schema.items()
            if key not in _ANNOTATIONS
        }
    if isinstance(schema, list):
        return [normalized_schema(item) for item in schema]
    return schema


_LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")
_EXACT = ("pattern", "format")
_UNIONS = ("anyOf", "oneOf")
_JSON_TYPE_OF: dict[type, str] = {
    bool: "boolean", int: "integer", float: "number", str: "string",
    type(None): "null", list: "array", dict: "object",
}  # fmt: skip


class _Comparer:
    """Walks a reader schema and a writer schema together, collecting incompatibilities."""

    def __init__(
        self, *, reader_root: dict[str, Any], writer_root: dict[str, Any], direction: Direction
    ) -> None:
        self._reader_root = reader_root
        self._writer_root = writer_root
        self._direction = direction
        # The reader is the new schema when checking backward compatibility.
        self._reader_name, self._writer_name = (
            ("new", "old") if direction == "backward" else ("old", "new")
        )
        self._visiting: set[tuple[str, str]] = set()
        self._found: list[Incompatibility] = []

    def compare(self) -> list[Incompatibility]:
        self._check(self._reader_root, self._writer_root, "(root)")
        return self._found

    def _report(self, path: str, reason: str) -> None:
        self._found.append(Incompatibility(self._direction, path, reason))

    def _check(self, reader: object, writer: object, path: str) -> None:
        reader_ref = reader.get("$ref") if isinstance(reader, dict) else None
        writer_ref = writer.get("$ref") if isinstance(writer, dict) else None
        if reader_ref is not None or writer_ref is not None:
            # A recursive model refers to itself: a pair already being compared is
            # compared once.
            key = (str(reader_ref), str(writer_ref))
            if key in self._visiting:
                return
            self._visiting.add(key)
            try:
                self._check_resolved(
                    _resolve(reader, self._reader_root), _resolve(writer, self._writer_root), path
                )
            finally:
                self._visiting.discard(key)
            return
        self._check_resolved(_schema(reader), _schema(writer), path)

    def _check_resolved(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> None:
        if not reader or normalized_schema(reader) == normalized_schema(writer):
            return
        for union in _UNIONS:
            if union in writer:
                for branch in writer[union]:
                    self._check(reader, _merged(writer, union, branch), path)
                return
        for union in _UNIONS:
            if union in reader:
                self._check_union_reader(reader, union, writer, path)
                return
        if self._check_values(reader, writer, path):
            return
        if not self._check_types(reader, writer, path):
            return
        self._check_bounds(reader, writer, path)
        if "properties" in reader or "properties" in writer or _has_type(reader, "object"):
            self._check_object(reader, writer, path)
        if _has_type(reader, "array") or "items" in reader or "prefixItems" in reader:
            self._check_array(reader, writer, path)

    def _check_union_reader(
        self, reader: dict[str, Any], union: str, writer: dict[str, Any], path: str
    ) -> None:
        for branch in reader[union]:
            probe = _Comparer(
                reader_root=self._reader_root,
                writer_root=self._writer_root,
                direction=self._direction,
            )
            probe._visiting = set(self._visiting)
            probe._check(_merged(reader, union, branch), writer, path)
            if not probe._found:
                return
        self._report(
            path,
            f"the {self._reader_name} schema accepts none of the shapes "
            f"({_describe(writer)}) the {self._writer_name} schema allows",
        )

    def _check_values(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> bool:
        """Compare ``enum``/``const``; return True when that settles the comparison."""
        reader_values = _allowed_values(reader)
        writer_values = _allowed_values(writer)
        if reader_values is not None:
            if writer_values is None:
                self._report(
                    path,
                    f"the {self._reader_name} schema allows only {_listed(reader_values)}",
                )
                return True
            missing = [value for value in writer_values if value not in reader_values]
            if missing:
                self._report(
                    path,
                    f"{_listed(missing)} allowed by the {self._writer_name} schema "
                    f"but not by the {self._reader_name} one",
                )
            return True
        if writer_values is not None:
            types = _types(reader)
            if types is not None:
                for value in writer_values:
                    if not _type_accepts(types, _JSON_TYPE_OF.get(type(value), "object")):
                        self._report(path, f"value {value!r} no longer has an accepted type")
            return True
        return False

    def _check_types(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> bool:
        """Compare ``type``; return False when the types already differ."""
        reader_types = _types(reader)
        if reader_types is None:
            return True
        writer_types = _types(writer)
        if writer_types is None:
            self._report(
                path,
                f"the {self._writer_name} schema allows any value, the {self._reader_name} one "
                f"only {'/'.join(sorted(reader_types))}",
            )
            return False
        rejected = [kind for kind in writer_types if not _type_accepts(reader_types, kind)]
        if rejected:
            old, new = self._old_new("/".join(sorted(reader_types)), "/".join(sorted(writer_types)))
            self._report(path, f"type changed from {old} to {new}")
            return False
        return True

    def _old_new(self, reader_value: str, writer_value: str) -> tuple[str, str]:
        if self._direction == "backward":
            return writer_value, reader_value
        return reader_value, writer_value

    def _check_bounds(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> None:
        for keyword in _LOWER_BOUNDS:
            limit = reader.get(keyword)
            if limit is not None and (writer.get(keyword) is None or writer[keyword] < limit):
                self._constraint(path, keyword, limit, writer.get(keyword))
        for keyword in _UPPER_BOUNDS:
            limit = reader.get(keyword)
            if limit is not None and (writer.get(keyword) is None or writer[keyword] > limit):
                self._constraint(path, keyword, limit, writer.get(keyword))
        for keyword in _EXACT:
            if reader.get(keyword) is not None and reader.get(keyword) != writer.get(keyword):
                self._constraint(path, keyword, reader[keyword], writer.get(keyword))
        step = reader.get("multipleOf")
        if step is not None and (writer.get("multipleOf") is None or writer["multipleOf"] % step):
            self._constraint(path, "multipleOf", step, writer.get("multipleOf"))
        if reader.get("uniqueItems") is True and writer.get("uniqueItems") is not True:
            self._constraint(path, "uniqueItems", value=True, other=writer.get("uniqueItems"))

    def _constraint(self, path: str, keyword: str, value: object, other: object) -> None:
        self._report(
            path,
            f"the {self._reader_name} schema requires {keyword}={value!r} "
            f"(the {self._writer_name} one has {other!r})",
        )

    def _check_object(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> None:
        reader_properties: dict[str, Any] = reader.get("properties", {})
        writer_properties: dict[str, Any] = writer.get("properties", {})
        reader_required = set(reader.get("required", ()))
        writer_required = set(writer.get("required", ()))
        reader_extra = reader.get("additionalProperties", True)
        writer_extra = writer.get("additionalProperties", True)
        for name in sorted(reader_required - writer_required):
            self._report(_join(path, name), self._required_reason(name in writer_properties))
        for name in sorted(writer_properties):
            child = _join(path, name)
            if name in reader_properties:
                self._check(reader_properties[name], writer_properties[name], child)
            elif reader_extra is False:
                self._report(child, self._unknown_field_reason())
            elif isinstance(reader_extra, dict):
                self._check(reader_extra, writer_properties[name], child)
        if reader_extra is False and writer_extra is not False:
            self._report(
                path,
                f"the {self._reader_name} schema forbids properties it does not list, "
                f"which the {self._writer_name} schema allows",
            )
        elif isinstance(reader_extra, dict) and isinstance(writer_extra, dict):
            self._check(reader_extra, writer_extra, _join(path, "*"))

    def _required_reason(self, listed_by_writer: bool) -> str:  # noqa: FBT001
        if self._direction == "backward":
            return "became required" if listed_by_writer else "added as a required field"
        if listed_by_writer:
            return "became optional, but the old schema requires it"
        return "removed, but the old schema requires it"

    def _unknown_field_reason(self) -> str:
        if self._direction == "backward":
            return (
                "removed, and the new schema forbids unknown properties (extra='forbid'), "
                "so events written with the old schema are rejected"
            )
        return (
            "added, and the old schema forbids unknown properties (extra='forbid'), "
            "so consumers on the old schema reject new events"
        )

    def _check_array(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> None:
        reader_prefix = reader.get("prefixItems")
        writer_prefix = writer.get("prefixItems")
        if reader_prefix is not None or writer_prefix is not None:
            if not (
                isinstance(reader_prefix, list)
                and isinstance(writer_prefix, list)
                and len(reader_prefix) == len(writer_prefix)
            ):
                self._report(path, "the tuple's shape changed")
                return
            for index, (item_reader, item_writer) in enumerate(
                zip(reader_prefix, writer_prefix, strict=True)
            ):
                self._check(item_reader, item_writer, f"{path}[{index}]")
            return
        if "items" in reader:
            self._check(reader["items"], writer.get("items", {}), f"{path}[]")


_ANYTHING: dict[str, Any] = {}


def _schema(value: object) -> dict[str, Any]:
    if value is True or value is None:
        return _ANYTHING
    if value is False:
        return {"not": {}}
    if isinstance(value, dict):
        without_annotations = {k: v for k, v in value.items() if k not in _ANNOTATIONS}
        if not without_annotations:
            return _ANYTHING
        all_of = without_annotations.get("allOf")
        if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], dict):
            rest = {k: v for k, v in without_annotations.items() if k != "allOf"}
            return {**all_of[0], **rest}
        return without_annotations
    return _ANYTHING


def _resolve(value: object, root: dict[str, Any]) -> dict[str, Any]:
    schema = _schema(value)
    seen: set[str] = set()
    while isinstance(schema.get("$ref"), str):
        reference: str = schema["$ref"]
        if reference in seen or not reference.startswith("#/"):
            break
        seen.add(reference)
        target: object = root
        for part in reference[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**_schema(target), **rest}
    return schema


def _merged(parent: dict[str, Any], union: str, branch: object) -> dict[str, Any]:
    rest = {k: v for k, v in parent.items() if k != union}
    branch_schema = branch if isinstance(branch, dict) else _schema(branch)
    return {**rest, **branch_schema} if rest else branch_schema


def _types(schema: dict[str, Any]) -> set[str] | None:
    kind = schema.get("type")
    if kind is None:
        return None
    return {kind} if isinstance(kind, str) else set(kind)


def _has_type(schema: dict[str, Any], kind: str) -> bool:
    types = _types(schema)
    return types is not None and kind in types


def _type_accepts(accepted: set[str], kind: str) -> bool:
    return kind in accepted or (kind == "integer" and "number" in accepted)


def _allowed_values(schema: dict[str, Any]) -> list[object] | None:
    if "const" in schema:
        return [schema["const"]]
    enum = schema.get("enum")
    return list(enum) if isinstance(enum, list) else None


def _describe(schema: dict[str, Any]) -> str:
    types = _types(schema)
    if types:
        return "/".join(sorted(types))
    values = _allowed_values(schema)
    return _listed(values) if values is not None else "any value"


def _listed(values: list[object]) -> str:
    return ", ".join(repr(value) for value in values)


def _join(path: str, name: str) -> str:
    return name if path == "(root)" else f"{path}.{name}"
