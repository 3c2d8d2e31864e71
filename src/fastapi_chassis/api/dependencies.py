"""Small FastAPI dependencies that read the request's facts and context.

Each is an ordinary function too: called outside a request, it returns what is
known (``None`` or the configured default).
"""

from __future__ import annotations

from fastapi_chassis.api.facts import current_facts
from fastapi_chassis.context import current_correlation_id

__all__ = ["api_version", "correlation_id"]


def correlation_id() -> str | None:
    """The current request's correlation id (``Depends(correlation_id)`` or a plain call)."""
    return current_correlation_id()


def api_version() -> str | None:
    """The API version serving the current request (``Depends(api_version)`` or a plain call).

    The version :class:`~fastapi_chassis.api.APIVersionMiddleware` chose from the
    ``X-API-Version`` header, or the default one when the header is absent. A
    versioned route reached without the middleware (``chassis.versioning``
    disabled) is served by, and reports, the default version. ``None`` outside a
    request, and on routes outside versioning when the header names no version.

    Example:
        ```python
        @router.get("/orders/{order_id}")
        async def read(order_id: UUID, version: Annotated[str, Depends(api_version)]):
            ...
        ```
    """
    facts = current_facts()
    return facts.api_version if facts is not None else None
