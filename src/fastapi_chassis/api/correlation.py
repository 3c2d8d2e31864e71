"""Correlation ids: one id per request, on every log line, audit row, event and response.

:class:`CorrelationIdMiddleware` takes the id from ``X-Correlation-ID`` (or
``X-Request-ID``), keeps it only if it is short and made of safe characters (an id
ends up in log lines and headers, so CR, LF and the like are never accepted), and
otherwise makes a fresh UUIDv7. It binds the id, with the W3C trace id from a
``traceparent`` header, in the :mod:`fastapi_chassis.context` for the whole
request, and echoes it on the response. In an application made by ``create_app``
it sits outside Starlette's error handling, so the id is on unhandled 500s too
and exception handlers can read it, which asgi-correlation-id cannot offer.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextvars import Token
from typing import TYPE_CHECKING

from fastapi_chassis.api.facts import facts_for
from fastapi_chassis.api.lifecycle import add_headers
from fastapi_chassis.context import RequestContext, bind_context, current_context, unbind_context
from fastapi_chassis.db.uuid7 import uuid7
from fastapi_chassis.observability.logging import structlog_context_variable
from fastapi_chassis.plugins.contributions import MiddlewareOrder, MiddlewareSpec
from fastapi_chassis.plugins.markers import hookimpl

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = [
    "CORRELATION_HEADER",
    "CorrelationIdMiddleware",
    "CorrelationPlugin",
    "parse_traceparent",
]

CORRELATION_HEADER = "X-Correlation-ID"
_ALTERNATIVE_HEADER = "X-Request-ID"
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")
_NULL_TRACE = "0" * 32
_NULL_SPAN = "0" * 16


def _id_maker() -> Callable[[], object]:
    # A correlation id is text: uuid_utils' own UUID object formats itself ten
    # times faster than uuid.UUID, so the id is made from it when available.
    try:
        from uuid_utils import uuid7 as native_uuid7  # noqa: PLC0415
    except ImportError:  # pragma: no cover - exercised where the wheel is missing
        return uuid7
    return native_uuid7


_make_id = _id_maker()
"""Makes a UUIDv7 whose ``str()`` is a fresh correlation id."""


def parse_traceparent(value: str) -> str | None:
    """Return the trace id of a valid W3C ``traceparent`` (version 00), else ``None``."""
    match = _TRACEPARENT.match(value)
    if match is None or match.group(1) == _NULL_TRACE or match.group(2) == _NULL_SPAN:
        return None
    return match.group(1)


class CorrelationIdMiddleware:
    """Give every request a correlation id, bind it, and echo it on the response.

    The id (and the W3C trace id, when a valid ``traceparent`` came in) is bound
    for the request in :mod:`fastapi_chassis.context`, which logs, audited
    changes and recorded events read, and in structlog's context variables
    (``correlation_id``, ``trace_id``), for applications that configure structlog
    themselves with ``merge_contextvars``.

    Args:
        app: The ASGI application to wrap.
        header_name: The header read and echoed.
        accept_alternative: Also read ``X-Request-ID`` when ``header_name`` is absent.
        max_length: Longer incoming ids are replaced.
        pattern: Incoming ids must match this regular expression entirely.

    Example:
        >>> app.add_middleware(CorrelationIdMiddleware)
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        header_name: str = CORRELATION_HEADER,
        accept_alternative: bool = True,
        max_length: int = 128,
        pattern: str = r"[A-Za-z0-9._~:/+=-]+",
    ) -> None:
        if max_length < 1:
            raise ValueError("max_length must be positive")
        self.app = app
        self.header_name = header_name
        self._header = header_name.lower().encode("latin-1")
        self._alternative = _ALTERNATIVE_HEADER.lower().encode() if accept_alternative else None
        self._max_length = max_length
        self._pattern = re.compile(pattern)
        self._structlog_correlation_id = structlog_context_variable("correlation_id")
        self._structlog_trace_id = structlog_context_variable("trace_id")

    def _accept(self, raw: bytes) -> str | None:
        if not raw or len(raw) > self._max_length:
            return None
        try:
            value = raw.decode("ascii")
        except UnicodeDecodeError:
            return None
        return value if self._pattern.fullmatch(value) else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] not in {"http", "websocket"}:
            await self.app(scope, receive, send)
            return
        primary = alternative = traceparent = None
        header, alternative_header = self._header, self._alternative
        for name, value in scope["headers"]:
            if name == header:
                primary = value
            elif name == alternative_header:
                alternative = value
            elif name == b"traceparent":
                traceparent = value
        incoming = primary or alternative
        correlation_id = (self._accept(incoming) if incoming else None) or str(_make_id())
        trace_id = None
        traceparent_text = None
        if traceparent is not None:
            traceparent_text = traceparent.decode("latin-1").strip().lower()
            trace_id = parse_traceparent(traceparent_text)
            if trace_id is None:
                traceparent_text = None
        # Positional: a dataclass's __init__ takes keywords at twice the cost.
        context = RequestContext(
            correlation_id, current_context().actor, trace_id, traceparent_text
        )
        token = bind_context(context)
        # Also in structlog's own context, for applications that configure
        # structlog themselves with its merge_contextvars processor.
        correlation_token = self._structlog_correlation_id.set(correlation_id)
        trace_token: Token[object] | None = (
            None if trace_id is None else self._structlog_trace_id.set(trace_id)
        )
        facts = facts_for(scope)
        facts.correlation_id = correlation_id
        facts.trace_id = trace_id
        facts.context = context
        echoed = ((self._header, correlation_id.encode("ascii")),)
        try:
            await self.app(scope, receive, add_headers(scope, send, echoed))
        finally:
            if trace_token is not None:
                self._structlog_trace_id.reset(trace_token)
            self._structlog_correlation_id.reset(correlation_token)
            unbind_context(token)


class CorrelationPlugin:
    """Built-in plugin ``chassis.correlation``: adds :class:`CorrelationIdMiddleware`."""

    name = "chassis.correlation"

    @hookimpl
    def chassis_middleware(self) -> list[MiddlewareSpec]:
        """Place the correlation layer near the outside of the stack."""
        return [MiddlewareSpec(CorrelationIdMiddleware, order=MiddlewareOrder.CORRELATION)]
