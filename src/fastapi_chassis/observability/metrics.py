"""Prometheus request metrics, labelled by the route template routing matched.

:class:`MetricsMiddleware` counts requests and times them, labelled by method,
route template (``/shop/products/{product_id}``, never the raw path), status and
API version; it keeps an in-flight gauge by method, and per-request histograms of
the database statements a request ran and the time they took. It reads all of it
from the request's :class:`~fastapi_chassis.api.facts.RequestFacts`: the route
template comes from what routing matched, after the application answered (see
:meth:`~fastapi_chassis.api.facts.RequestFacts.resolve_route`), so included
routers, ``root_path`` and mounted sub-applications get the right label.

Each middleware has its own registry unless given one, so any number of
applications live in one process (tests build many) without colliding in
prometheus-client's global registry. :func:`metrics_endpoint` serves the
exposition: requests to the middleware's ``metrics_path`` are not measured and
carry the middleware to the endpoint, which shows its registry together with the
global one (process metrics, the application's own metrics). In multiprocess
mode (see :mod:`~fastapi_chassis.observability.metrics_multiprocess`) it shows
the totals of all workers instead.

The ``chassis.metrics`` plugin (:class:`MetricsPlugin`) puts the middleware in
every application built by ``create_app``, serves ``GET /metrics``, and counts
the database work of the application's engine.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import anyio.to_thread
from fastapi import Request
from starlette.responses import Response

from fastapi_chassis.api.facts import begin_request, end_request, track_route_templates
from fastapi_chassis.api.lifecycle import RESPONSE_HEADERS
from fastapi_chassis.observability._request_series import (
    Layout,
    LocalSeries,
    RequestSeries,
    SharedSeries,
)
from fastapi_chassis.observability.metrics_multiprocess import (
    clear_dead_workers,
    mark_worker_stopped,
    multiprocess_directory,
    use_multiprocess_directory,
)
from fastapi_chassis.observability.query_timing import install_query_timing, remove_query_timing
from fastapi_chassis.plugins.contributions import MiddlewareOrder, MiddlewareSpec
from fastapi_chassis.plugins.markers import hookimpl

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from fastapi import FastAPI
    from prometheus_client import CollectorRegistry
    from prometheus_client.metrics_core import Metric
    from prometheus_client.registry import Collector
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from fastapi_chassis.api.facts import RequestFacts
    from fastapi_chassis.settings import ChassisSettings

__all__ = [
    "DB_DURATION_BUCKETS",
    "DB_QUERY_BUCKETS",
    "DURATION_BUCKETS",
    "METRICS_PATH",
    "NO_API_VERSION",
    "OTHER_METHOD",
    "MetricsMiddleware",
    "MetricsPlugin",
    "metrics_endpoint",
    "render_process_metrics",
]

METRICS_PATH = "/metrics"
"""Where the exposition is served by default."""
NO_API_VERSION = "none"
"""The ``api_version`` label of requests served without an API version."""
OTHER_METHOD = "OTHER"
"""The ``method`` label of requests with a method HTTP does not define."""
DURATION_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip
"""Upper bounds (seconds) of the request duration histogram."""
DB_QUERY_BUCKETS: tuple[float, ...] = (0, 1, 2, 3, 5, 10, 20, 50, 100)
"""Upper bounds of the per-request statement count histogram (N+1 queries show here)."""
DB_DURATION_BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip
"""Upper bounds (seconds) of the per-request database time histogram."""

# A client chooses the method: anything else becomes one label, so made-up
# methods cannot create series without bound.
_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT", "QUERY"}
)
_SCOPE_KEY = "fastapi_chassis.metrics"


class MetricsMiddleware:
    """Measure every HTTP request for Prometheus (pure ASGI; streaming untouched).

    Metrics (each name prefixed with ``namespace_`` when a namespace is given):

    * ``http_requests_total`` (counter) and ``http_request_duration_seconds``
      (histogram, until the last byte of the response was handed to the server),
      labelled ``method``, ``route``, ``status``, ``api_version``;
    * ``http_requests_in_progress`` (gauge, ``livesum`` across workers), labelled
      ``method`` only: route and status are not known when a request starts;
    * ``http_request_db_queries`` and ``http_request_db_duration_seconds``
      (histograms of the statements per request and their total time, see
      :func:`~fastapi_chassis.observability.query_timing.install_query_timing`),
      labelled ``method`` and ``route``.

    ``route`` is the template routing matched with the mount prefix,
    :data:`~fastapi_chassis.api.facts.UNMATCHED_ROUTE` when nothing matched;
    ``api_version`` is :data:`NO_API_VERSION` when no version was chosen.

    Args:
        app: The ASGI application to wrap.
        registry: Where the metrics are registered; a new registry of this
            middleware's own by default (the exposition then adds the global one).
        namespace: A prefix for every metric name.
        metrics_path: Requests to this path (below ``root_path``) are not
            measured and are answered by :func:`metrics_endpoint` from this
            middleware's registry; ``None`` measures every path.
        duration_buckets: Upper bounds of the duration histogram, in seconds.
        db_metrics: Record the database histograms (off for a service with no
            database).

    Raises:
        ConfigurationError: If ``PROMETHEUS_MULTIPROC_DIR`` was set after
            prometheus-client was imported.

    Attributes:
        registry: The registry the metrics are registered in.
        owns_registry: Whether the registry was made for this middleware.
        metrics_path: The path whose requests are not measured.
        multiprocess_directory: The shared directory in multiprocess mode, else ``None``.

    Example:
        >>> app = FastAPI()
        >>> app.add_middleware(MetricsMiddleware)
        >>> app.add_api_route("/metrics", metrics_endpoint, include_in_schema=False)
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        registry: CollectorRegistry | None = None,
        namespace: str = "",
        metrics_path: str | None = METRICS_PATH,
        duration_buckets: Sequence[float] = DURATION_BUCKETS,
        db_metrics: bool = True,
    ) -> None:
        from prometheus_client import CollectorRegistry  # noqa: PLC0415 - see metrics_multiprocess

        self.app = app
        self.multiprocess_directory: Path | None = multiprocess_directory()
        self.registry: CollectorRegistry = registry if registry is not None else CollectorRegistry()
        self.owns_registry = registry is None
        self.metrics_path = metrics_path
        layout = Layout.build(
            namespace=namespace,
            duration_buckets=duration_buckets,
            db_query_buckets=DB_QUERY_BUCKETS,
            db_duration_buckets=DB_DURATION_BUCKETS,
            db=db_metrics,
            no_version=NO_API_VERSION,
        )
        self._series: RequestSeries = (
            LocalSeries(layout, self.registry)
            if self.multiprocess_directory is None
            else SharedSeries(layout, self.registry)
        )
        self._routes_tracked = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] != "http":
            if scope["type"] == "lifespan" and self.multiprocess_directory is not None:
                await self.app(scope, receive, self._lifespan_send(send))
                return
            await self.app(scope, receive, send)
            return
        if not self._routes_tracked:
            self._routes_tracked = True
            track_route_templates(scope.get("app"))
        if self.metrics_path is not None and self._is_exposition(scope):
            scope[_SCOPE_KEY] = self
            await self.app(scope, receive, send)
            return

        facts, token = begin_request(scope)
        method = facts.method if facts.method in _METHODS else OTHER_METHOD
        series = self._series
        # Under the chassis's outermost layer the facts already follow the
        # response; on its own, this layer watches ``send`` itself.
        observed = send if RESPONSE_HEADERS in scope else _observing(send, facts)
        series.start(method)
        try:
            await self.app(scope, receive, observed)
        finally:
            series.stop(method)
            route = facts.route or facts.resolve_route(scope)
            # No response at all means the exception escaped: the outermost
            # chassis layer (or the server) answers 500.
            key = (method, route, facts.status or 500, facts.api_version)
            duration = (facts.response_ended or time.perf_counter()) - facts.started
            series.record(key, duration, facts.db_queries, facts.db_time)
            if token is not None:
                end_request(scope, facts, token)

    def _is_exposition(self, scope: Scope) -> bool:
        path: str = scope["path"]
        metrics_path = self.metrics_path
        if metrics_path is None or not path.endswith(metrics_path):
            return False
        root_path: str = scope.get("root_path", "")
        if root_path and path.startswith(root_path):
            path = path[len(root_path) :]
        return path == metrics_path

    def _lifespan_send(self, send: Send) -> Send:
        directory = self.multiprocess_directory

        async def send_after_cleanup(message: Message) -> None:
            # Before the message: once the server hears shutdown is complete, the
            # process may exit at any moment.
            if directory is not None and message["type"] in {
                "lifespan.shutdown.complete",
                "lifespan.shutdown.failed",
            }:
                mark_worker_stopped(directory)
            await send(message)

        return send_after_cleanup

    def collector(self) -> Collector:
        """Return what the exposition shows for this middleware.

        All workers' files in multiprocess mode; otherwise this middleware's
        registry, plus the global registry when the middleware has its own.
        """
        from prometheus_client import REGISTRY  # noqa: PLC0415

        if self.multiprocess_directory is not None:
            return _all_workers(self.multiprocess_directory)
        if self.owns_registry:
            return _Together((self.registry, REGISTRY))
        return self.registry


class _Together:
    """A collector that shows several registries as one."""

    def __init__(self, collectors: Sequence[Collector]) -> None:
        self.collectors = collectors

    def collect(self) -> Iterable[Metric]:
        for collector in self.collectors:
            yield from collector.collect()


def _all_workers(directory: Path) -> Collector:
    from prometheus_client import CollectorRegistry  # noqa: PLC0415
    from prometheus_client.multiprocess import MultiProcessCollector  # noqa: PLC0415

    clear_dead_workers(directory)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    return registry


def _render(collector: Collector, accept: str) -> tuple[bytes, str]:
    from prometheus_client.exposition import choose_encoder  # noqa: PLC0415

    encoder, content_type = choose_encoder(accept)
    return encoder(collector), content_type


async def _exposition(directory: Path | None, local: Collector, accept: str) -> tuple[bytes, str]:
    """Render every worker's files (``directory`` set) or ``local``, where each belongs."""
    if directory is not None:
        # Every worker's files are read (and dead workers' removed): disk work,
        # off the event loop.
        return await anyio.to_thread.run_sync(lambda: _render(_all_workers(directory), accept))
    # In one process the numbers live on the event loop, which reads them.
    return _render(local, accept)


async def render_process_metrics(accept: str = "") -> tuple[bytes, str]:
    """Render this process's metrics, or every worker's in multiprocess mode.

    What ``/metrics`` shows where no :class:`MetricsMiddleware` is involved: the
    global registry (the outbox relay's metrics are there), or, when
    prometheus-client's multiprocess mode is on, the files of every live worker
    (dead workers' files are removed first, in a worker thread).

    Args:
        accept: The scraper's ``Accept`` header; OpenMetrics when it asks for it.

    Returns:
        The exposition and its content type.
    """
    from prometheus_client import REGISTRY  # noqa: PLC0415

    return await _exposition(multiprocess_directory(), REGISTRY, accept)


async def metrics_endpoint(request: Request) -> Response:
    """Serve the Prometheus exposition (text format, or OpenMetrics when asked for).

    Route it at the ``metrics_path`` of a :class:`MetricsMiddleware` to show that
    middleware's metrics; anywhere else it shows the global registry (or, in
    multiprocess mode, all workers' metrics). The content type is the one
    prometheus-client chose for the scraper's ``Accept`` header.

    Args:
        request: The scrape request.

    Returns:
        The exposition.
    """
    from prometheus_client import REGISTRY  # noqa: PLC0415

    middleware = request.scope.get(_SCOPE_KEY)
    accept = request.headers.get("accept", "")
    if not isinstance(middleware, MetricsMiddleware):
        middleware = None
    directory = (
        middleware.multiprocess_directory if middleware is not None else multiprocess_directory()
    )
    body, content_type = await _exposition(
        directory, middleware.collector() if middleware is not None else REGISTRY, accept
    )
    return Response(body, headers={"Content-Type": content_type})


class MetricsPlugin:
    """Built-in plugin ``chassis.metrics``: request metrics, ``/metrics``, database timing.

    Adds :class:`MetricsMiddleware` at :attr:`MiddlewareOrder.METRICS`, serves
    :func:`metrics_endpoint` at ``GET /metrics`` (outside API versioning and the
    OpenAPI document), and installs
    :func:`~fastapi_chassis.observability.query_timing.install_query_timing` on the
    application's engine at start-up. Does nothing when ``metrics_enabled`` is off.
    With ``metrics_multiprocess_dir`` set, turns prometheus-client's multiprocess
    mode on when the application is created.
    """

    name = "chassis.metrics"

    @hookimpl
    def chassis_middleware(self, settings: ChassisSettings) -> list[MiddlewareSpec]:
        """Add the metrics layer (and choose the multiprocess mode, before any import)."""
        if not settings.metrics_enabled:
            return []
        if settings.metrics_multiprocess_dir is not None:
            use_multiprocess_directory(settings.metrics_multiprocess_dir)
        options = {"metrics_path": METRICS_PATH, "db_metrics": settings.database_url is not None}
        return [MiddlewareSpec(MetricsMiddleware, options, order=MiddlewareOrder.METRICS)]

    @hookimpl
    def chassis_configure_app(self, app: FastAPI, settings: ChassisSettings) -> None:
        """Serve the exposition at ``GET /metrics``."""
        if settings.metrics_enabled:
            app.add_api_route(
                METRICS_PATH, metrics_endpoint, methods=["GET"], include_in_schema=False
            )

    @hookimpl
    def chassis_startup(self, app: FastAPI) -> None:
        """Count the database work of every request on the application's engine."""
        state = app.state.chassis
        if state.settings.metrics_enabled and state.engine is not None:
            install_query_timing(state.engine)

    @hookimpl
    def chassis_shutdown(self, app: FastAPI) -> None:
        """Stop counting on the engine, which is disposed of next."""
        engine = app.state.chassis.engine
        if engine is not None:
            remove_query_timing(engine)


def _observing(send: Send, facts: RequestFacts) -> Send:
    """Wrap ``send`` to keep the facts' status and end of response up to date."""

    async def send_observed(message: Message) -> None:
        facts.observe(message)
        await send(message)

    return send_observed
