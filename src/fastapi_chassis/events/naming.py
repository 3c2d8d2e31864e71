"""The event taxonomy: how event types and schema versions are spelled.

Every event type has three lowercase, dot-separated parts,
``<bounded context>.<aggregate>.<past-tense verb>``: ``shop.order.placed``,
``billing.invoice.paid``, ``catalog.product.price_changed``. Each part starts with a
letter and holds letters, digits and underscores. The first two parts name the
aggregate type (``shop.order``), which is also the unit of ordering and, by
default, the topic.

An event records something that has happened, so the verb is in the past tense.
The rule applied is deliberately simple and predictable: the last word of the
verb part (after its last underscore) either ends in ``ed`` (``placed``,
``cancelled``, ``price_changed``) or is one of the irregular past participles in
:data:`IRREGULAR_PAST_PARTICIPLES` (``paid``, ``sent``, ``written``...). A verb
the rule rejects can usually be rephrased (``shop.order.dispatched`` rather than
``shop.order.ship``).

Schema versions are ``"<major>.<minor>"`` (``"1.0"``, ``"2.3"``): the major number
goes up on a breaking change, the minor one on a compatible change.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from typing_extensions import override

__all__ = [
    "IRREGULAR_PAST_PARTICIPLES",
    "SchemaVersion",
    "aggregate_type_of",
    "check_event_type",
    "parse_schema_version",
]

IRREGULAR_PAST_PARTICIPLES: frozenset[str] = frozenset(
    {
        "been", "begun", "bent", "bid", "bitten", "blown", "bought", "bound", "broken",
        "brought", "built", "burnt", "cast", "caught", "chosen", "come", "cut", "dealt",
        "done", "drawn", "driven", "dug", "eaten", "fallen", "fed", "felt", "fled", "flown",
        "forbidden", "forgiven", "forgotten", "fought", "found", "frozen", "given", "gone",
        "got", "gotten", "ground", "grown", "had", "heard", "held", "hidden", "hit", "hung",
        "hurt", "kept", "known", "laid", "led", "left", "lent", "let", "lit", "lost", "made",
        "meant", "met", "overcome", "overridden", "paid", "proven", "put", "quit", "read",
        "rebuilt", "redone", "remade", "repaid", "reset", "resent", "rewritten", "ridden",
        "risen", "run", "rung", "said", "seen", "sent", "set", "shaken", "shed", "shown",
        "shut", "slept", "sold", "sought", "spent", "split", "spoken", "spread", "spun",
        "stolen", "stood", "struck", "stuck", "sung", "sunk", "swept", "sworn", "taken",
        "taught", "thought", "thrown", "told", "torn", "undone", "understood", "upheld",
        "upset", "withdrawn", "withheld", "woken", "won", "worn", "wound", "written",
    }
)  # fmt: skip
"""Past participles accepted as the verb of an event type although they do not end in ``ed``."""

_PART = r"[a-z][a-z0-9_]*"
_EVENT_TYPE = re.compile(rf"{_PART}\.{_PART}\.{_PART}")
_SCHEMA_VERSION = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")


class SchemaVersion(NamedTuple):
    """A parsed ``"<major>.<minor>"`` schema version; compares numerically.

    Attributes:
        major: Goes up on a breaking change.
        minor: Goes up on a compatible change.
    """

    major: int
    minor: int

    @override
    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


def parse_schema_version(version: str) -> SchemaVersion:
    """Parse a ``"<major>.<minor>"`` version.

    Args:
        version: Such as ``"1.0"`` or ``"2.13"`` (no leading zeros, no third part).

    Returns:
        The version as two integers.

    Raises:
        ValueError: If ``version`` is not of that form.

    Example:
        >>> parse_schema_version("2.10") > parse_schema_version("2.9")
        True
    """
    match = _SCHEMA_VERSION.fullmatch(version)
    if match is None:
        raise ValueError(f"schema version {version!r} is not '<major>.<minor>' (for example '1.0')")
    return SchemaVersion(int(match.group(1)), int(match.group(2)))


def check_event_type(event_type: str) -> None:
    """Check that ``event_type`` follows the taxonomy.

    Args:
        event_type: Such as ``"shop.order.placed"``.

    Raises:
        ValueError: Naming the rule that is broken.
    """
    if _EVENT_TYPE.fullmatch(event_type) is None:
        raise ValueError(
            f"event type {event_type!r} is not '<context>.<aggregate>.<past-tense verb>': "
            "three lowercase parts separated by dots, each starting with a letter "
            "(for example 'shop.order.placed')"
        )
    verb = event_type.rsplit(".", 1)[1]
    last_word = verb.rsplit("_", 1)[-1]
    if not (last_word.endswith("ed") or last_word in IRREGULAR_PAST_PARTICIPLES):
        raise ValueError(
            f"event type {event_type!r} does not end in a past-tense verb: {last_word!r} "
            "neither ends in 'ed' nor is a known irregular past participle "
            "(an event records what happened: 'placed', 'paid', 'price_changed')"
        )


def aggregate_type_of(event_type: str) -> str:
    """Return the aggregate type of an event type: its first two parts.

    Example:
        >>> aggregate_type_of("shop.order.placed")
        'shop.order'
    """
    return event_type.rsplit(".", 1)[0]
