"""Opaque cursors for keyset pagination.

A cursor records the sort key of the last row of a page and the ordering it
belongs to, as URL-safe base64 of a small JSON document. It is opaque to clients
but not secret: it holds nothing a client could not see in the page itself.
A cursor made for another ordering, or one that does not decode, is rejected
with :class:`~fastapi_chassis.db.InvalidQuery`.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import decimal
import json
import uuid
from typing import Any

from fastapi_chassis.db.errors import InvalidQuery

__all__ = ["decode_cursor", "encode_cursor"]


def _plain(value: object) -> object:
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID | decimal.Decimal):
        return str(value)
    if isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"cannot put a {type(value).__name__} in a cursor")


def encode_cursor(ordering: str, values: tuple[object, ...]) -> str:
    """Return the cursor for a row whose sort key is ``values`` under ``ordering``."""
    document = {"o": ordering, "k": [_plain(value) for value in values]}
    raw = json.dumps(document, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str, ordering: str, width: int) -> list[Any]:
    """Return the raw sort-key values stored in ``cursor``.

    Args:
        cursor: The cursor from a previous page.
        ordering: The ordering of the current request; it must match the cursor's.
        width: How many values the sort key has.

    Raises:
        InvalidQuery: If the cursor is malformed or belongs to another ordering.
    """
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        document = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidQuery("the cursor is malformed") from None
    if not isinstance(document, dict) or not isinstance(document.get("k"), list):
        raise InvalidQuery("the cursor is malformed")
    if document.get("o") != ordering:
        raise InvalidQuery(
            f"the cursor belongs to ordering {document.get('o')!r}, not {ordering!r}"
        )
    values: list[Any] = document["k"]
    if len(values) != width:
        raise InvalidQuery("the cursor is malformed")
    return values
