"""The event catalog: every event type a service produces, as Markdown (docs) or JSON (tools).

Each entry gives the type, its versions, the description (the class docstring),
the producer, the aggregate type and topic, and per version the JSON Schema of
``data`` and an example envelope. ``chassis events catalog --format md|json``
writes it; a docs site can generate the Markdown page at build time (this
project's own documentation does, with an MkDocs hook).

Examples come from the model when it has them (``model_config =
ConfigDict(json_schema_extra={"examples": [{...}]})``, or ``Field(examples=[...])``
per field), and are otherwise made up from the schema: the first enum member,
the lower bound of a number, a fixed UUID or timestamp for the formats that
need one. Fixed values keep the generated page identical from build to build.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from fastapi_chassis.events.domain_event import ENVELOPE_FIELDS
from fastapi_chassis.events.envelope import EnvelopeSettings, dataschema_uri
from fastapi_chassis.events.naming import aggregate_type_of
from fastapi_chassis.events.publishers.topics import DEFAULT_TOPIC_TEMPLATE, topic_for

if TYPE_CHECKING:
    from fastapi_chassis.events.domain_event import DomainEvent
    from fastapi_chassis.events.registry import EventRegistry

__all__ = [
    "CatalogEntry",
    "CatalogVersion",
    "build_catalog",
    "catalog_json",
    "catalog_markdown",
    "example_data",
]

EXAMPLE_EVENT_ID = "01964f4c-8a4e-7c3a-9f1e-2b7d5c0e9a11"
EXAMPLE_AGGREGATE_ID = "01964f4c-8a40-7e55-b0c4-6f1f3a2d8e77"
EXAMPLE_TIME = "2026-04-01T09:30:00Z"
EXAMPLE_CORRELATION_ID = "c-6f1f3a2d"
_MAX_DEPTH = 8
_STRING_FORMATS: dict[str, str] = {
    "date-time": EXAMPLE_TIME,
    "date": "2026-04-01",
    "time": "09:30:00Z",
    "duration": "PT1H",
    "uuid": "01964f4c-8a52-7d10-8c3e-51a2f0b6c4d9",
    "email": "customer@example.com",
    "uri": "https://example.com/",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "hostname": "example.com",
}


@dataclass(frozen=True, slots=True)
class CatalogVersion:
    """One version of an event type in the catalog.

    Attributes:
        version: ``<major>.<minor>``.
        dataschema: The URI the envelopes name as ``dataschema``.
        schema: The JSON Schema of ``data`` (with ``$id`` = ``dataschema``).
        example: An example envelope.
    """

    version: str
    dataschema: str
    schema: dict[str, Any]
    example: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """One event type in the catalog.

    Attributes:
        event_type: ``<context>.<aggregate>.<verb>``.
        aggregate_type: ``<context>.<aggregate>``.
        topic: Where the relay publishes it.
        description: The latest version's docstring.
        producer: The CloudEvents ``source`` of the producing service.
        versions: Oldest first.
    """

    event_type: str
    aggregate_type: str
    topic: str
    description: str
    producer: str
    versions: tuple[CatalogVersion, ...]


def build_catalog(
    registry: EventRegistry,
    *,
    producer: str,
    topic_template: str = DEFAULT_TOPIC_TEMPLATE,
    dataschema_base_url: str | None = None,
) -> list[CatalogEntry]:
    """Describe every registered event type.

    Args:
        registry: The event types.
        producer: The producing service (the envelopes' ``source``).
        topic_template: How topics are named (see ``events_topic_template``).
        dataschema_base_url: Where schemas are published, if anywhere.

    Returns:
        One entry per event type, sorted by type.
    """
    envelope = EnvelopeSettings(source=producer, dataschema_base_url=dataschema_base_url)
    entries: list[CatalogEntry] = []
    for event_type in registry.event_types():
        versions: list[CatalogVersion] = []
        for version in registry.versions(event_type):
            event_class = registry.get(event_type, version)
            uri = dataschema_uri(event_type, version, dataschema_base_url)
            schema = {"$id": uri, **registry.json_schema(event_type, version)}
            versions.append(
                CatalogVersion(version, uri, schema, _example_envelope(event_class, envelope))
            )
        latest = registry.get(event_type)
        aggregate_type = aggregate_type_of(event_type)
        entries.append(
            CatalogEntry(
                event_type=event_type,
                aggregate_type=aggregate_type,
                topic=topic_for(aggregate_type, topic_template),
                description=_description(latest),
                producer=producer,
                versions=tuple(versions),
            )
        )
    return entries


def catalog_json(entries: list[CatalogEntry]) -> dict[str, Any]:
    """Return the catalog as a JSON-compatible document."""
    return {
        "events": [
            {
                "type": entry.event_type,
                "aggregateType": entry.aggregate_type,
                "topic": entry.topic,
                "key": "aggregate id (the CloudEvents subject)",
                "description": entry.description,
                "producer": entry.producer,
                "versions": [
                    {
                        "version": version.version,
                        "dataschema": version.dataschema,
                        "schema": version.schema,
                        "example": version.example,
                    }
                    for version in entry.versions
                ],
            }
            for entry in entries
        ]
    }


def catalog_markdown(entries: list[CatalogEntry], *, title: str = "Event catalog") -> str:
    """Return the catalog as a Markdown page.

    Args:
        entries: From :func:`build_catalog`.
        title: The page's heading.
    """
    lines = [
        f"# {title}",
        "",
        (
            "Every event is published as a CloudEvents 1.0 JSON envelope (structured mode), "
            "keyed by its aggregate id, on the topic of its aggregate type. Consumers "
            "deduplicate by the envelope's `id`."
        ),
        "",
    ]
    if not entries:
        lines += ["No event types are registered.", ""]
        return "\n".join(lines)
    lines += [
        "| Event type | Versions | Topic | Description |",
        "| --- | --- | --- | --- |",
    ]
    for entry in entries:
        versions = ", ".join(version.version for version in entry.versions)
        summary = entry.description.split("\n\n", 1)[0].replace("\n", " ").replace("|", "\\|")
        anchor = "".join(char for char in entry.event_type if char.isalnum() or char in "-_")
        lines.append(
            f"| [`{entry.event_type}`](#{anchor}) | {versions} | `{entry.topic}` | {summary} |"
        )
    lines.append("")
    for entry in entries:
        lines += [
            f"## {entry.event_type}",
            "",
            entry.description or "(no description)",
            "",
            f"- **Producer:** `{entry.producer}`",
            f"- **Aggregate type:** `{entry.aggregate_type}` (message key: the aggregate id)",
            f"- **Topic:** `{entry.topic}`",
            f"- **Versions:** {', '.join(version.version for version in entry.versions)}",
            "",
        ]
        for version in reversed(entry.versions):
            lines += [
                f"### {entry.event_type} {version.version}",
                "",
                f"Schema: `{version.dataschema}`",
                "",
                "Example:",
                "",
                "```json",
                json.dumps(version.example, indent=2, ensure_ascii=False),
                "```",
                "",
                '<details markdown="1">',
                "<summary>JSON Schema of <code>data</code></summary>",
                "",
                "```json",
                json.dumps(version.schema, indent=2, ensure_ascii=False),
                "```",
                "",
                "</details>",
                "",
            ]
    return "\n".join(lines)


def _description(event_class: type[DomainEvent]) -> str:
    doc = event_class.__doc__ or ""
    lines = doc.strip().splitlines()
    if not lines:
        return ""
    # Dedent all but the first line, as inspect.cleandoc does.
    rest = [line for line in lines[1:] if line.strip()]
    indent = min((len(line) - len(line.lstrip()) for line in rest), default=0)
    return "\n".join([lines[0].strip(), *(line[indent:].rstrip() for line in lines[1:])]).strip()


def _example_envelope(event_class: type[DomainEvent], envelope: EnvelopeSettings) -> dict[str, Any]:
    schema = event_class.data_schema()
    data = example_data(schema)
    fields = {
        "aggregate_id": EXAMPLE_AGGREGATE_ID,
        "event_id": EXAMPLE_EVENT_ID,
        "occurred_at": EXAMPLE_TIME,
    }
    try:
        # The model's own JSON form of the example, when the made-up values pass.
        validated = event_class.model_validate({**data, **fields}).model_dump(mode="json")
        data = {name: value for name, value in validated.items() if name not in ENVELOPE_FIELDS}
        fields = {name: validated[name] for name in ENVELOPE_FIELDS}
    except ValidationError:
        pass
    return envelope.envelope(
        fields,
        event_type=event_class.event_type,
        schema_version=event_class.schema_version,
        data=data,
        correlation_id=EXAMPLE_CORRELATION_ID,
        traceparent=None,
    )


def example_data(schema: dict[str, Any]) -> dict[str, Any]:
    """Make an example ``data`` object from an event's JSON Schema.

    Args:
        schema: A schema from :meth:`EventRegistry.json_schema`.

    Returns:
        The model-level example when the schema has one, otherwise a value for
        every property.
    """
    examples = schema.get("examples")
    if isinstance(examples, list) and examples and isinstance(examples[0], dict):
        return {k: v for k, v in examples[0].items() if k not in ENVELOPE_FIELDS}
    value = _example(schema, schema, 0, top_level=True)
    return value if isinstance(value, dict) else {}


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    reference = schema.get("$ref")
    if not isinstance(reference, str) or not reference.startswith("#/"):
        return schema
    target: object = root
    for part in reference[2:].split("/"):
        target = target.get(part, {}) if isinstance(target, dict) else {}
    rest = {key: value for key, value in schema.items() if key != "$ref"}
    return {**(target if isinstance(target, dict) else {}), **rest}


def _example(  # noqa: PLR0911, PLR0912 - one branch per JSON type
    schema: object, root: dict[str, Any], depth: int, *, top_level: bool = False
) -> Any:
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return None
    schema = _resolve(schema, root)
    if not top_level:
        examples = schema.get("examples")
        if isinstance(examples, list) and examples:
            return examples[0]
        if "const" in schema:
            return schema["const"]
        if schema.get("default") is not None:
            return schema["default"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for union in ("anyOf", "oneOf"):
        branches = schema.get(union)
        if isinstance(branches, list) and branches:
            preferred = [
                b for b in branches if not (isinstance(b, dict) and b.get("type") == "null")
            ]
            return _example((preferred or branches)[0], root, depth + 1)
    all_of = schema.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1:
        return _example(all_of[0], root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((item for item in kind if item != "null"), None)
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        return {name: _example(sub, root, depth + 1) for name, sub in properties.items()}
    if kind == "array":
        prefix = schema.get("prefixItems")
        if isinstance(prefix, list):
            return [_example(item, root, depth + 1) for item in prefix]
        return [_example(schema.get("items", {}), root, depth + 1)]
    if kind == "string":
        return _STRING_FORMATS.get(
            str(schema.get("format")), "x" * max(int(schema.get("minLength", 0)), 6)
        )
    if kind in {"integer", "number"}:
        return _number(schema, integer=kind == "integer")
    if kind == "boolean":
        return True
    return None


def _number(schema: dict[str, Any], *, integer: bool) -> int | float:
    low = schema.get("minimum")
    if low is None and schema.get("exclusiveMinimum") is not None:
        low = schema["exclusiveMinimum"] + 1
    value = low if low is not None else 1
    high = schema.get("maximum")
    if high is not None and value > high:
        value = high
    return int(value) if integer else float(value)
