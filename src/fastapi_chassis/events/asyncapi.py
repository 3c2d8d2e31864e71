"""An AsyncAPI 3.0 document of the events a service publishes, built from the catalog.

One channel per aggregate type, addressed to its topic; one message per event
type and version, whose payload is the CloudEvents envelope with the version's
``data`` schema inside, and whose Kafka binding declares the key: the aggregate
id. A single ``send`` operation per channel lists every message the service
publishes there. ``chassis events asyncapi`` writes it as JSON.

The data schemas are JSON Schema draft 2020-12, as pydantic writes them; their
``$defs`` move into ``components.schemas`` (prefixed with the message's name)
and their references follow, so the document resolves on its own.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi_chassis.events.catalog import CatalogEntry, CatalogVersion
from fastapi_chassis.events.envelope import (
    CLOUDEVENTS_CONTENT_TYPE,
    CLOUDEVENTS_SPEC_VERSION,
    DATA_CONTENT_TYPE,
)

__all__ = ["ASYNCAPI_VERSION", "asyncapi_document"]

ASYNCAPI_VERSION = "3.0.0"
"""The AsyncAPI specification version of the generated documents."""

_KAFKA_BINDING_VERSION = "0.5.0"


def asyncapi_document(
    entries: list[CatalogEntry],
    *,
    title: str,
    version: str,
    description: str | None = None,
) -> dict[str, Any]:
    """Build the AsyncAPI 3.0 document of a catalog.

    Args:
        entries: From :func:`~fastapi_chassis.events.catalog.build_catalog`.
        title: The document's title (usually the service's name).
        version: The version of the service's event API.
        description: An introduction, if any.

    Returns:
        The document, JSON-compatible.
    """
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for entry in entries:
        channel = channels.setdefault(
            entry.aggregate_type,
            {
                "address": entry.topic,
                "title": entry.aggregate_type,
                "description": (
                    f"Events of aggregate type `{entry.aggregate_type}`, keyed by aggregate id "
                    "(so one aggregate's events stay in order in one partition)."
                ),
                "messages": {},
                "bindings": {
                    "kafka": {"topic": entry.topic, "bindingVersion": _KAFKA_BINDING_VERSION}
                },
            },
        )
        for catalog_version in entry.versions:
            name = f"{entry.event_type}-{catalog_version.version}"
            messages[name] = _message(entry, catalog_version, name)
            schemas.update(_schemas(entry, catalog_version, name))
            channel["messages"][name] = {"$ref": f"#/components/messages/{name}"}
    for aggregate_type, channel in channels.items():
        operations[f"publish-{aggregate_type}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{aggregate_type}"},
            "summary": f"The service publishes the events of `{aggregate_type}`.",
            "messages": [
                {"$ref": f"#/channels/{aggregate_type}/messages/{name}"}
                for name in channel["messages"]
            ],
        }
    info: dict[str, Any] = {"title": title, "version": version}
    if description:
        info["description"] = description
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": info,
        "defaultContentType": CLOUDEVENTS_CONTENT_TYPE,
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def _message(entry: CatalogEntry, version: CatalogVersion, name: str) -> dict[str, Any]:
    summary = entry.description.split("\n\n", 1)[0].replace("\n", " ")
    message: dict[str, Any] = {
        "name": entry.event_type,
        "title": f"{entry.event_type} {version.version}",
        "contentType": CLOUDEVENTS_CONTENT_TYPE,
        "headers": {
            "type": "object",
            "properties": {
                "id": {"type": "string", "description": "The event id (CloudEvents id)."},
                "content-type": {"type": "string", "const": CLOUDEVENTS_CONTENT_TYPE},
            },
        },
        "payload": {"$ref": f"#/components/schemas/{name}"},
        "bindings": {
            "kafka": {
                "key": {
                    "type": "string",
                    "format": "uuid",
                    "description": "The aggregate id (the CloudEvents subject).",
                },
                "bindingVersion": _KAFKA_BINDING_VERSION,
            }
        },
        "examples": [{"name": "example", "payload": version.example}],
    }
    if summary:
        message["summary"] = summary
    if entry.description:
        message["description"] = entry.description
    return message


def _schemas(entry: CatalogEntry, version: CatalogVersion, name: str) -> dict[str, Any]:
    data_schema = copy.deepcopy(version.schema)
    definitions: dict[str, Any] = data_schema.pop("$defs", {})
    prefix = f"{name}."
    # A document-local "$id" would move the base of every reference below it, and
    # "$schema" names the 2020-12 dialect, which AsyncAPI schemas do not declare.
    for keyword in ("$id", "$schema"):
        data_schema.pop(keyword, None)
    found: dict[str, Any] = {f"{name}.data": _rewrite_refs(data_schema, prefix)}
    for definition, schema in definitions.items():
        found[f"{prefix}{definition}"] = _rewrite_refs(schema, prefix)
    found[name] = _envelope_schema(entry, version, name)
    return found


def _rewrite_refs(schema: object, prefix: str) -> Any:
    if isinstance(schema, dict):
        rewritten: dict[str, Any] = {}
        for key, value in schema.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/$defs/"):
                rewritten[key] = f"#/components/schemas/{prefix}{value.removeprefix('#/$defs/')}"
            else:
                rewritten[key] = _rewrite_refs(value, prefix)
        return rewritten
    if isinstance(schema, list):
        return [_rewrite_refs(item, prefix) for item in schema]
    return schema


def _envelope_schema(entry: CatalogEntry, version: CatalogVersion, name: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": f"CloudEvents {CLOUDEVENTS_SPEC_VERSION} envelope of {entry.event_type}.",
        "required": [
            "specversion",
            "id",
            "source",
            "type",
            "subject",
            "time",
            "datacontenttype",
            "dataschema",
            "schemaversion",
            "data",
        ],
        "properties": {
            "specversion": {"type": "string", "const": CLOUDEVENTS_SPEC_VERSION},
            "id": {
                "type": "string",
                "format": "uuid",
                "description": "The event id (a UUIDv7); deduplicate by it.",
            },
            "source": {"type": "string", "description": "The producing service."},
            "type": {"type": "string", "const": entry.event_type},
            "subject": {
                "type": "string",
                "format": "uuid",
                "description": "The aggregate id; also the message key.",
            },
            "time": {"type": "string", "format": "date-time"},
            "datacontenttype": {"type": "string", "const": DATA_CONTENT_TYPE},
            "dataschema": {"type": "string", "format": "uri", "const": version.dataschema},
            "schemaversion": {"type": "string", "const": version.version},
            "correlationid": {
                "type": "string",
                "description": "The correlation id of the request or job that recorded it.",
            },
            "traceparent": {"type": "string", "description": "W3C trace context."},
            "data": {"$ref": f"#/components/schemas/{name}.data"},
        },
    }
