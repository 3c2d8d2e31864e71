"""OpenTelemetry server spans built from the request facts (built-in plugin ``chassis.otel``).

With ``otel_enabled`` on, every HTTP request gets one ``SERVER`` span, named
``<METHOD> <route template>`` (``GET /products/{product_id}``), a child of the
W3C ``traceparent`` the request came with, so the span's trace id is the
caller's. It is current while the request runs, so spans the application starts
(database, outgoing calls) nest under it, and
:mod:`fastapi_chassis.api.outgoing` passes its id downstream. Its attributes
come from the same :class:`~fastapi_chassis.api.facts.RequestFacts` that logs
and metrics read (``http.route``, ``http.response.status_code``,
``error.type``), plus the chassis's own: correlation id, API version, and the
request's database query count and time.

FastAPI 0.165 and later trace requests themselves once a global tracer provider
is configured: they open a server span around the whole application. When a
request arrives with such a span already open (FastAPI's, or
``opentelemetry-instrumentation-asgi``'s), this plugin opens no second one: it
adds the chassis attributes to that span instead. So there is always exactly one
server span per request.

The module imports OpenTelemetry only when the plugin is enabled, and
``create_app`` registers the plugin only where ``opentelemetry`` is installed.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from fastapi_chassis import __version__
from fastapi_chassis.api.facts import UNMATCHED_ROUTE, RequestFacts, facts_for
from fastapi_chassis.plugins.contributions import MiddlewareOrder, MiddlewareSpec
from fastapi_chassis.plugins.markers import hookimpl

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.trace import Span, Tracer, TracerProvider
    from opentelemetry.util.types import AttributeValue
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from fastapi_chassis.settings import ChassisSettings

__all__ = ["INSTRUMENTATION_NAME", "OpenTelemetryPlugin"]

logger = logging.getLogger("fastapi_chassis.otel")

INSTRUMENTATION_NAME = "fastapi_chassis"
"""The instrumentation scope of the chassis's spans."""

# Other methods are reported as "_OTHER" and named "HTTP", as the semantic
# conventions ask, so a scanner sending made-up methods cannot create span names.
_KNOWN_METHODS = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "QUERY", "TRACE"}
)
_SERVER_ERROR = 500


class OpenTelemetryPlugin:
    """Built-in plugin ``chassis.otel``: one OpenTelemetry server span per request.

    Off unless ``otel_enabled`` is set. The built-in instance uses the global
    tracer provider (set by the OpenTelemetry SDK or ``opentelemetry-instrument``).
    To send spans to another provider, disable the built-in and register your own
    instance::

        create_app(
            ChassisSettings(otel_enabled=True, disabled_plugins=["chassis.otel"]),
            plugins=[OpenTelemetryPlugin(tracer_provider=provider)],
        )

    Args:
        tracer_provider: The provider to create spans with; the global one when
            omitted.
    """

    def __init__(self, tracer_provider: TracerProvider | None = None) -> None:
        self._provider = tracer_provider
        # Spans this plugin opened, until the request's facts are final.
        self._open: dict[RequestFacts, Span] = {}

    @hookimpl
    def chassis_middleware(self, settings: ChassisSettings) -> list[MiddlewareSpec]:
        """Add the layer that opens the span, outside every other chassis layer."""
        if not settings.otel_enabled:
            return []
        from opentelemetry import trace  # noqa: PLC0415 - only when enabled

        tracer = trace.get_tracer(INSTRUMENTATION_NAME, __version__, tracer_provider=self._provider)
        return [
            MiddlewareSpec(
                _ServerSpanMiddleware,
                {"tracer": tracer, "open_spans": self._open},
                order=MiddlewareOrder.TRACING,
            )
        ]

    @hookimpl
    def chassis_startup(self, app: FastAPI) -> None:
        """Warn when tracing is on but no tracer provider was configured."""
        settings: ChassisSettings = app.state.chassis.settings
        if not settings.otel_enabled or self._provider is not None:
            return
        from opentelemetry import trace  # noqa: PLC0415 - only when enabled

        if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
            logger.warning(
                "otel_enabled is set but no OpenTelemetry tracer provider is configured, "
                "so spans are dropped: set one up with the SDK (the otel extra) or run "
                "under opentelemetry-instrument"
            )

    @hookimpl
    def chassis_request_finished(self, facts: RequestFacts) -> None:
        """End the request's span with what the request's facts say happened."""
        span = self._open.pop(facts, None)
        if span is not None:
            _finish(span, facts)


class _ServerSpanMiddleware:
    """Open a server span per HTTP request, or enrich the one an outer layer opened."""

    def __init__(
        self, app: ASGIApp, *, tracer: Tracer, open_spans: dict[RequestFacts, Span]
    ) -> None:
        self.app = app
        self.tracer = tracer
        self.open_spans = open_spans

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from opentelemetry import context, propagate, trace  # noqa: PLC0415 - cached

        outer = trace.get_current_span()
        if outer.is_recording() and _is_server_span(outer):
            await self._enrich(outer, scope, receive, send)
            return
        method, attributes = _request_attributes(scope)
        parent = propagate.extract(_headers(scope))
        span = self.tracer.start_span(
            method if method != "_OTHER" else "HTTP",
            context=parent,
            kind=trace.SpanKind.SERVER,
            attributes=attributes,
        )
        self.open_spans[facts_for(scope)] = span
        token = context.attach(trace.set_span_in_context(span, parent))
        try:
            await self.app(scope, receive, send)
        finally:
            context.detach(token)

    async def _enrich(self, span: Span, scope: Scope, receive: Receive, send: Send) -> None:
        facts = facts_for(scope)
        described = False

        async def send_described(message: Message) -> None:
            nonlocal described
            await send(message)
            # The outer layer ends its span once the body is sent, not before;
            # after the start message went through, the status is in the facts.
            if message["type"] == "http.response.start":
                _describe(span, facts, scope)
                described = True

        try:
            await self.app(scope, receive, send_described)
        finally:
            if not described and span.is_recording():
                _describe(span, facts, scope)  # an escaped exception: no response yet


def _is_server_span(span: Span) -> bool:
    from opentelemetry.trace import SpanKind  # noqa: PLC0415 - cached

    # The API's Span has no kind; the SDK's (and most others') does. An unknown
    # implementation counts as "not a server span": a nested span beats a lost one.
    return getattr(span, "kind", None) is SpanKind.SERVER


def _headers(scope: Scope) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in scope["headers"]:
        key = name.decode("latin-1")
        text = value.decode("latin-1")
        headers[key] = f"{headers[key]},{text}" if key in headers else text
    return headers


def _request_attributes(scope: Scope) -> tuple[str, dict[str, AttributeValue]]:
    original = scope.get("method", "")
    method = original if original in _KNOWN_METHODS else "_OTHER"
    attributes: dict[str, AttributeValue] = {
        "http.request.method": method,
        "url.path": scope.get("path", ""),
        "url.scheme": scope.get("scheme", "http"),
    }
    if method != original:
        attributes["http.request.method_original"] = original
    if scope.get("http_version"):
        attributes["network.protocol.version"] = scope["http_version"]
    server = scope.get("server")
    if server and server[0]:
        attributes["server.address"] = server[0]
        if server[1] is not None:
            attributes["server.port"] = server[1]
    return method, attributes


def _chassis_attributes(facts: RequestFacts) -> dict[str, AttributeValue]:
    attributes: dict[str, AttributeValue] = {
        "chassis.db.query_count": facts.db_queries,
        "chassis.db.duration": facts.db_time,
    }
    if facts.correlation_id is not None:
        attributes["chassis.correlation_id"] = facts.correlation_id
    if facts.api_version is not None:
        attributes["chassis.api_version"] = facts.api_version
    return attributes


def _name(span: Span, facts: RequestFacts, attributes: dict[str, AttributeValue]) -> None:
    if facts.route is not None and facts.route != UNMATCHED_ROUTE:
        attributes["http.route"] = facts.route
        method = facts.method if facts.method in _KNOWN_METHODS else "HTTP"
        span.update_name(f"{method} {facts.route}")


def _describe(span: Span, facts: RequestFacts, scope: Scope) -> None:
    """Add the chassis's facts to a span another layer opened and will end."""
    attributes = _chassis_attributes(facts)
    if facts.route is None:
        facts.resolve_route(scope)
    _name(span, facts, attributes)
    span.set_attributes(attributes)


def _finish(span: Span, facts: RequestFacts) -> None:
    from opentelemetry.trace import StatusCode  # noqa: PLC0415 - cached

    attributes = _chassis_attributes(facts)
    _name(span, facts, attributes)
    if facts.status is not None:
        attributes["http.response.status_code"] = facts.status
    failed = facts.exception is not None or facts.status is None or facts.status >= _SERVER_ERROR
    if facts.exception is not None:
        kind = type(facts.exception)
        attributes["error.type"] = f"{kind.__module__}.{kind.__qualname__}"
        span.record_exception(facts.exception)
    elif failed:
        attributes["error.type"] = str(facts.status or "incomplete_response")
    span.set_attributes(attributes)
    if failed:
        span.set_status(StatusCode.ERROR)
    span.end()
