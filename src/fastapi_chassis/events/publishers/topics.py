"""How topics are named: one per aggregate type, from a template.

The template has one placeholder, ``{aggregate_type}``; the default is the
aggregate type itself (``shop.order``). The relay's Kafka publisher and the CDC
configurations that ``chassis cdc doctor`` prints use the same template, so a
switch between them keeps every topic name.
"""

from __future__ import annotations

import re
import string

__all__ = ["DEFAULT_TOPIC_TEMPLATE", "check_topic_template", "topic_for"]

DEFAULT_TOPIC_TEMPLATE = "{aggregate_type}"
"""Topic name = aggregate type (``shop.order``)."""

_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")
_PLACEHOLDER = "aggregate_type"


def check_topic_template(template: str) -> str:
    """Check a topic template and return it.

    Args:
        template: Such as ``"{aggregate_type}"`` or ``"events.{aggregate_type}.v1"``.

    Raises:
        ValueError: If it has another placeholder than ``{aggregate_type}``, or
            does not make legal Kafka topic names.
    """
    fields = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    if any(name != _PLACEHOLDER for name in fields):
        raise ValueError(
            f"topic template {template!r} may only use the {{aggregate_type}} placeholder"
        )
    if _TOPIC.fullmatch(template.format(aggregate_type="shop.order")) is None:
        raise ValueError(
            f"topic template {template!r} does not make a legal Kafka topic name "
            "(letters, digits, '.', '_' and '-', at most 249 characters)"
        )
    return template


def topic_for(aggregate_type: str, template: str = DEFAULT_TOPIC_TEMPLATE) -> str:
    """Return the topic of an aggregate type.

    Example:
        >>> topic_for("shop.order", "events.{aggregate_type}")
        'events.shop.order'
    """
    return template.format(aggregate_type=aggregate_type)
