"""The wire format: a CloudEvents 1.0 envelope in structured JSON mode.

Every published event, whether the relay or a CDC pipeline carries it, is one
JSON object:

```json
{
  "specversion": "1.0",
  "id": "01964f4c-8a4e-7c3a-9f1e-2b7d5c0e9a11",
  "source": "shop-service",
  "type": "shop.order.placed",
  "subject": "01964f4c-8a40-7e55-b0c4-6f1f3a2d8e77",
  "time": "2026-04-01T09:30:00.123456Z",
  "datacontenttype": "application/json",
  "dataschema": "urn:schema:shop.order.placed:1.0",
  "schemaversion": "1.0",
  "correlationid": "c-123",
  "data": {"total_cents": 1200}
}
```

``id`` is the event's UUIDv7 (consumers deduplicate by it), ``subject`` the
aggregate id, ``source`` the producing service. ``schemaversion`` and
``correlationid`` are extension attributes; ``correlationid`` and the W3C
``traceparent`` (distributed tracing extension) are present when the event was
recorded inside a request or job that had them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "CLOUDEVENTS_CONTENT_TYPE",
    "CLOUDEVENTS_SPEC_VERSION",
    "DATA_CONTENT_TYPE",
    "EnvelopeSettings",
    "dataschema_uri",
]

CLOUDEVENTS_SPEC_VERSION = "1.0"
"""The CloudEvents specification version the envelopes follow."""

CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json"
"""The media type of a structured-mode CloudEvents JSON message."""

DATA_CONTENT_TYPE = "application/json"
"""The media type of the ``data`` member."""


def dataschema_uri(event_type: str, schema_version: str, base_url: str | None = None) -> str:
    """Return the URI that names the schema of one version of an event type.

    Args:
        event_type: Such as ``"shop.order.placed"``.
        schema_version: Such as ``"1.0"``.
        base_url: Where the schema snapshots are served; when given, the URI is
            ``<base_url>/<event_type>/<version>.json``, the layout that
            ``chassis events snapshot`` writes. Otherwise a URN names the schema.

    Example:
        >>> dataschema_uri("shop.order.placed", "1.0")
        'urn:schema:shop.order.placed:1.0'
        >>> dataschema_uri("shop.order.placed", "1.0", "https://schemas.example.com/events")
        'https://schemas.example.com/events/shop.order.placed/1.0.json'
    """
    if base_url:
        return f"{base_url.rstrip('/')}/{event_type}/{schema_version}.json"
    return f"urn:schema:{event_type}:{schema_version}"


@dataclass(frozen=True, slots=True)
class EnvelopeSettings:
    """What the producing service puts in every envelope.

    Attributes:
        source: The CloudEvents ``source``: the service that produced the event.
        dataschema_base_url: Base URL of the published schemas (see
            :func:`dataschema_uri`); a URN when ``None``.
    """

    source: str = "fastapi-chassis"
    dataschema_base_url: str | None = None

    def envelope(
        self,
        event_json: dict[str, Any],
        *,
        event_type: str,
        schema_version: str,
        data: dict[str, Any],
        correlation_id: str | None,
        traceparent: str | None,
    ) -> dict[str, Any]:
        """Build the envelope of one event.

        Args:
            event_json: The event's fields in JSON form (envelope fields included).
            event_type: The event type.
            schema_version: Its schema version.
            data: The payload, in JSON form.
            correlation_id: The correlation id of the request or job, if any.
            traceparent: The W3C ``traceparent`` of the request, if any.

        Returns:
            The CloudEvents object, ready to be stored as JSON.
        """
        envelope: dict[str, Any] = {
            "specversion": CLOUDEVENTS_SPEC_VERSION,
            "id": event_json["event_id"],
            "source": self.source,
            "type": event_type,
            "subject": event_json["aggregate_id"],
            "time": event_json["occurred_at"],
            "datacontenttype": DATA_CONTENT_TYPE,
            "dataschema": dataschema_uri(event_type, schema_version, self.dataschema_base_url),
            "schemaversion": schema_version,
        }
        if correlation_id is not None:
            envelope["correlationid"] = correlation_id
        if traceparent is not None:
            envelope["traceparent"] = traceparent
        envelope["data"] = data
        return envelope
