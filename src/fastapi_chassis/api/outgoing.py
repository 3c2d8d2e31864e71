"""Outgoing HTTP calls that carry the request's correlation id and trace on.

A service that calls another one should hand over what ties the two together:
the correlation id (``X-Correlation-ID``), so both services' log lines, audit
rows and events share it, and the W3C ``traceparent``, so a tracing backend
joins the two into one trace. :class:`AsyncContextTransport` (and
:class:`ContextTransport` for synchronous clients) wrap any httpx transport and
add both to every request, read from the
:class:`~fastapi_chassis.context.RequestContext` of the code that sends it:

    client = create_http_client(base_url="http://billing")
    await client.post("/invoices", json=invoice)  # inside a request: headers added

The ``traceparent`` sent keeps the trace id and flags of the one that came in and
names a fresh parent span id, as a hop in the trace should. When OpenTelemetry
has a span open (see :mod:`fastapi_chassis.observability.otel`), that span is
the parent instead, so the callee's spans nest under it. Headers the caller set
itself are left alone.

The context lives in a context variable, which FastAPI background tasks and
:func:`asyncio.create_task` copy when they start, so calls made from them carry
the request's ids too.
"""

from __future__ import annotations

import secrets
import sys
from typing import TYPE_CHECKING

import httpx
from typing_extensions import override

from fastapi_chassis.api.correlation import CORRELATION_HEADER, parse_traceparent
from fastapi_chassis.context import current_context

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "AsyncContextTransport",
    "ContextTransport",
    "create_http_client",
    "outgoing_headers",
]

_TRACEPARENT = "traceparent"


def outgoing_headers() -> dict[str, str]:
    """Return the headers that carry the current context to another service.

    Useful with clients other than httpx. Empty outside a request or job.

    Returns:
        ``X-Correlation-ID`` when a correlation id is bound, and ``traceparent``
        when a trace is known (from the incoming ``traceparent`` or an open
        OpenTelemetry span).

    Example:
        >>> with request_context(correlation_id="c-1"):
        ...     outgoing_headers()
        {'X-Correlation-ID': 'c-1'}
    """
    headers: dict[str, str] = {}
    context = current_context()
    if context.correlation_id is not None:
        headers[CORRELATION_HEADER] = context.correlation_id
    traceparent = _open_span_traceparent() or _child_traceparent(context.traceparent)
    if traceparent is not None:
        headers[_TRACEPARENT] = traceparent
    return headers


def _child_traceparent(incoming: str | None) -> str | None:
    if incoming is None or parse_traceparent(incoming) is None:
        return None
    version, trace_id, _, flags = incoming.split("-")
    span_id = "0" * 16
    while span_id == "0" * 16:  # all zeros is the invalid span id
        span_id = secrets.token_hex(8)
    return f"{version}-{trace_id}-{span_id}-{flags}"


def _open_span_traceparent() -> str | None:
    # Nothing imported OpenTelemetry, so no span can be open: do not import it.
    if "opentelemetry.trace" not in sys.modules:
        return None
    from opentelemetry import trace  # noqa: PLC0415 - already imported, see above

    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return (
        f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-"
        f"{span_context.trace_flags:02x}"
    )


def _add_context(request: httpx.Request) -> None:
    for name, value in outgoing_headers().items():
        if name not in request.headers:
            request.headers[name] = value


class AsyncContextTransport(httpx.AsyncBaseTransport):
    """An async httpx transport that adds the current context's headers to each request.

    Args:
        transport: The transport that sends the requests; a default
            :class:`httpx.AsyncHTTPTransport` when omitted. Configure TLS, proxies,
            retries and connection limits on it.

    Example:
        >>> client = httpx.AsyncClient(
        ...     transport=AsyncContextTransport(httpx.AsyncHTTPTransport(retries=2))
        ... )
    """

    def __init__(self, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._transport = transport if transport is not None else httpx.AsyncHTTPTransport()

    @override
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Add the context headers, then send the request with the wrapped transport."""
        _add_context(request)
        return await self._transport.handle_async_request(request)

    @override
    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self._transport.aclose()


class ContextTransport(httpx.BaseTransport):
    """The synchronous form of :class:`AsyncContextTransport`, for :class:`httpx.Client`.

    Synchronous endpoints run in a worker thread that FastAPI starts with a copy
    of the request's context, so calls from them carry it too.

    Args:
        transport: The transport that sends the requests; a default
            :class:`httpx.HTTPTransport` when omitted.
    """

    def __init__(self, transport: httpx.BaseTransport | None = None) -> None:
        self._transport = transport if transport is not None else httpx.HTTPTransport()

    @override
    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Add the context headers, then send the request with the wrapped transport."""
        _add_context(request)
        return self._transport.handle_request(request)

    @override
    def close(self) -> None:
        """Close the wrapped transport."""
        self._transport.close()


def create_http_client(
    *,
    base_url: str = "",
    headers: Mapping[str, str] | None = None,
    timeout: float | httpx.Timeout = 10.0,
    follow_redirects: bool = False,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """Make an :class:`httpx.AsyncClient` whose requests carry the current context.

    Create one client per downstream service at start-up (``chassis_startup``)
    and share it: the client pools connections, and the context is read per
    request, not when the client is made.

    Args:
        base_url: Prefix for relative request URLs.
        headers: Headers sent with every request.
        timeout: Seconds (or an :class:`httpx.Timeout`) allowed for each phase of
            a request (connect, write, read, pool).
        follow_redirects: Follow 3xx responses.
        transport: The transport to wrap (for TLS, proxies, retries, limits);
            a default :class:`httpx.AsyncHTTPTransport` when omitted.

    Returns:
        The client; close it with ``await client.aclose()`` (``chassis_shutdown``).

    Example:
        >>> @hookimpl
        ... async def chassis_startup(app):
        ...     app.state.billing = create_http_client(base_url="http://billing:8000")
    """
    return httpx.AsyncClient(
        base_url=base_url,
        headers=headers,
        timeout=timeout,
        follow_redirects=follow_redirects,
        transport=AsyncContextTransport(transport),
    )
