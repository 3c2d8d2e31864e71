"""Where MetricsMiddleware keeps its numbers, in one process or across workers.

Every request adds to five series. The public prometheus-client API checks, on
each call, what was settled when a child series was made, and takes a lock per
addition: about a dozen locked additions per request, a noticeable share of a
small endpoint's time. So:

* in one process, :class:`LocalSeries` keeps plain numbers, added to on the event
  loop without locks, and turns them into metric families when scraped (a
  prometheus-client custom collector);
* in multiprocess mode the numbers must reach the shared files, so
  :class:`SharedSeries` writes through prometheus-client's metric objects, adding
  straight to their value cells.

Both show the same names, labels and buckets.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Protocol, cast

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
    from prometheus_client.metrics_core import Metric

__all__ = ["Layout", "LocalSeries", "RequestSeries", "SeriesKey", "SharedSeries"]

SeriesKey = tuple[str, str, int, str | None]
"""Method, route template, status and API version (``None`` when none was chosen)."""

_LABELS = ("method", "route", "status", "api_version")
_DB_LABELS = ("method", "route")
_INFINITY = float("inf")

_REQUESTS = ("http_requests", "HTTP requests answered.")
_DURATION = (
    "http_request_duration_seconds",
    "Time from the request's arrival to the end of its response.",
)
_IN_PROGRESS = ("http_requests_in_progress", "HTTP requests being handled.")
_DB_QUERIES = ("http_request_db_queries", "SQL statements executed per request.")
_DB_DURATION = (
    "http_request_db_duration_seconds",
    "Time spent executing SQL statements, per request.",
)


def _bounds(buckets: Sequence[float]) -> tuple[float, ...]:
    bounds = tuple(sorted(float(bound) for bound in buckets))
    return bounds if bounds and bounds[-1] == _INFINITY else (*bounds, _INFINITY)


@dataclass(frozen=True)
class Layout:
    """The shape of the series: names, buckets, and whether database ones exist.

    Attributes:
        namespace: Prefix of every name (``shop`` makes ``shop_http_requests_total``).
        duration_buckets: Upper bounds of the duration histogram, ending in +Inf.
        db_query_buckets: Upper bounds of the statements-per-request histogram.
        db_duration_buckets: Upper bounds of the database time histogram.
        db: Whether the database histograms are kept.
        no_version: The ``api_version`` label of requests without a version.
    """

    namespace: str
    duration_buckets: tuple[float, ...]
    db_query_buckets: tuple[float, ...]
    db_duration_buckets: tuple[float, ...]
    db: bool
    no_version: str

    @classmethod
    def build(
        cls,
        *,
        namespace: str,
        duration_buckets: Sequence[float],
        db_query_buckets: Sequence[float],
        db_duration_buckets: Sequence[float],
        db: bool,
        no_version: str,
    ) -> Layout:
        """Make a layout, adding +Inf to bucket bounds that lack it."""
        return cls(
            namespace,
            _bounds(duration_buckets),
            _bounds(db_query_buckets),
            _bounds(db_duration_buckets),
            db,
            no_version,
        )

    def name(self, base: str) -> str:
        """The full name of a metric."""
        return f"{self.namespace}_{base}" if self.namespace else base

    def labels(self, key: SeriesKey) -> tuple[str, str, str, str]:
        """The label values of a series key."""
        method, route, status, version = key
        return method, route, str(status), version or self.no_version


class RequestSeries(Protocol):
    """What the middleware adds to, per request."""

    def start(self, method: str) -> None:
        """A request with this method label began."""

    def stop(self, method: str) -> None:
        """A request with this method label ended."""

    def record(self, key: SeriesKey, duration: float, db_queries: int, db_time: float) -> None:
        """A request ended: count it, and observe its duration and database work."""


@dataclass(slots=True, eq=False)
class _Counts:
    """One label combination's numbers; bucket lists hold per-bucket (not cumulative) counts."""

    requests: int = 0
    duration_sum: float = 0.0
    duration_buckets: list[int] = field(default_factory=list)
    db_queries_sum: float = 0.0
    db_query_buckets: list[int] = field(default_factory=list)
    db_time_sum: float = 0.0
    db_time_buckets: list[int] = field(default_factory=list)


class LocalSeries:
    """Plain numbers in this process, shown through a prometheus-client collector.

    Written from the event loop's thread only (the middleware runs there); a
    scrape reads them there too, so no lock is needed.

    Args:
        layout: Names and buckets.
        registry: The registry to register with.
    """

    def __init__(self, layout: Layout, registry: CollectorRegistry) -> None:
        self.layout = layout
        self.in_progress: dict[str, int] = {}
        self.counts: dict[SeriesKey, _Counts] = {}
        registry.register(self)

    def start(self, method: str) -> None:
        """A request with this method label began."""
        in_progress = self.in_progress
        in_progress[method] = in_progress.get(method, 0) + 1

    def stop(self, method: str) -> None:
        """A request with this method label ended."""
        self.in_progress[method] -= 1

    def record(self, key: SeriesKey, duration: float, db_queries: int, db_time: float) -> None:
        """A request ended: count it, and observe its duration and database work."""
        counts = self.counts.get(key)
        layout = self.layout
        if counts is None:
            counts = self.counts[key] = _Counts(
                duration_buckets=[0] * len(layout.duration_buckets),
                db_query_buckets=[0] * len(layout.db_query_buckets),
                db_time_buckets=[0] * len(layout.db_duration_buckets),
            )
        counts.requests += 1
        counts.duration_sum += duration
        counts.duration_buckets[bisect_left(layout.duration_buckets, duration)] += 1
        if layout.db:
            counts.db_queries_sum += db_queries
            counts.db_query_buckets[bisect_left(layout.db_query_buckets, db_queries)] += 1
            counts.db_time_sum += db_time
            counts.db_time_buckets[bisect_left(layout.db_duration_buckets, db_time)] += 1

    def describe(self) -> Iterable[Metric]:
        """The metric families, without samples (for the registry's duplicate check)."""
        return self._families()

    def collect(self) -> Iterable[Metric]:
        """The metric families with the current numbers."""
        return self._families(tuple(self.counts.items()), tuple(self.in_progress.items()))

    def _families(
        self,
        counts: tuple[tuple[SeriesKey, _Counts], ...] = (),
        in_progress: tuple[tuple[str, int], ...] = (),
    ) -> list[Metric]:
        from prometheus_client.core import (  # noqa: PLC0415 - see metrics_multiprocess
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        layout = self.layout
        requests = CounterMetricFamily(layout.name(_REQUESTS[0]), _REQUESTS[1], labels=_LABELS)
        duration = HistogramMetricFamily(layout.name(_DURATION[0]), _DURATION[1], labels=_LABELS)
        for key, series in counts:
            labels = layout.labels(key)
            requests.add_metric(labels, series.requests)
            duration.add_metric(
                labels,
                _cumulative(layout.duration_buckets, series.duration_buckets),
                series.duration_sum,
            )
        gauge = GaugeMetricFamily(layout.name(_IN_PROGRESS[0]), _IN_PROGRESS[1], labels=("method",))
        for method, value in in_progress:
            gauge.add_metric((method,), value)
        families: list[Metric] = [requests, duration, gauge]
        if layout.db:
            families += self._db_families(counts)
        return families

    def _db_families(self, counts: tuple[tuple[SeriesKey, _Counts], ...]) -> list[Metric]:
        from prometheus_client.core import HistogramMetricFamily  # noqa: PLC0415

        layout = self.layout
        # Database histograms are labelled by method and route only: add up the
        # series of every status and version.
        merged: dict[tuple[str, str], _Counts] = {}
        for (method, route, _, _), series in counts:
            total = merged.get((method, route))
            if total is None:
                total = merged[method, route] = _Counts(
                    db_query_buckets=[0] * len(layout.db_query_buckets),
                    db_time_buckets=[0] * len(layout.db_duration_buckets),
                )
            total.db_queries_sum += series.db_queries_sum
            total.db_time_sum += series.db_time_sum
            _add(total.db_query_buckets, series.db_query_buckets)
            _add(total.db_time_buckets, series.db_time_buckets)
        queries = HistogramMetricFamily(
            layout.name(_DB_QUERIES[0]), _DB_QUERIES[1], labels=_DB_LABELS
        )
        time = HistogramMetricFamily(
            layout.name(_DB_DURATION[0]), _DB_DURATION[1], labels=_DB_LABELS
        )
        for labels, total in merged.items():
            queries.add_metric(
                labels,
                _cumulative(layout.db_query_buckets, total.db_query_buckets),
                total.db_queries_sum,
            )
            time.add_metric(
                labels,
                _cumulative(layout.db_duration_buckets, total.db_time_buckets),
                total.db_time_sum,
            )
        return [queries, time]


def _add(into: list[int], values: list[int]) -> None:
    for index, value in enumerate(values):
        into[index] += value


@cache
def _le(bound: float) -> str:
    from prometheus_client.utils import floatToGoString  # noqa: PLC0415

    text: str = floatToGoString(bound)  # type: ignore[no-untyped-call]
    return text


def _cumulative(bounds: tuple[float, ...], counts: list[int]) -> list[tuple[str, float]]:
    buckets: list[tuple[str, float]] = []
    running = 0
    for bound, count in zip(bounds, counts, strict=True):
        running += count
        buckets.append((_le(bound), running))
    return buckets


_Add = Callable[[float], None]


def _adder(child: Counter | Gauge) -> _Add:
    """The cheapest way to add to a counter or gauge child.

    Its public ``inc`` re-checks on every call what was settled when the child was
    made; the value cell behind it (a float under a lock, or a slot in a shared
    memory-mapped file) only adds. Falls back to ``inc`` if prometheus-client's
    internals ever look different.
    """
    value = getattr(child, "_value", None)
    add = getattr(value, "inc", None)
    return cast("_Add", add) if callable(add) else child.inc


class _Buckets:
    """Observes into a histogram child's value cells: one bucket and the sum."""

    __slots__ = ("bounds", "buckets", "sum")

    def __init__(self, bounds: tuple[float, ...], buckets: tuple[_Add, ...], total: _Add) -> None:
        self.bounds = bounds
        self.buckets = buckets
        self.sum = total

    def observe(self, amount: float) -> None:
        # prometheus-client keeps one count per bucket and accumulates them when
        # scraped: an observation lands in the first bucket that holds it.
        self.buckets[bisect_left(self.bounds, amount)](1)
        if amount:
            self.sum(amount)


def _observer(child: Histogram) -> _Add:
    """The cheapest way to observe into a histogram child (see :func:`_adder`)."""
    bounds = getattr(child, "_upper_bounds", None)
    cells = getattr(child, "_buckets", None)
    total = getattr(getattr(child, "_sum", None), "inc", None)
    if (
        isinstance(bounds, list)
        and isinstance(cells, list)
        and len(bounds) == len(cells)
        and bounds[-1:] == [_INFINITY]
        and callable(total)
        and all(callable(getattr(cell, "inc", None)) for cell in cells)
    ):
        return _Buckets(tuple(bounds), tuple(cell.inc for cell in cells), total).observe
    return child.observe


@dataclass(frozen=True, slots=True)
class _Cells:
    requests: _Add
    duration: _Add
    db_queries: _Add | None
    db_duration: _Add | None


class SharedSeries:
    """prometheus-client metric objects, whose values multiprocess mode shares.

    Args:
        layout: Names and buckets.
        registry: The registry the metric objects register with.
    """

    def __init__(self, layout: Layout, registry: CollectorRegistry) -> None:
        from prometheus_client import Counter, Gauge, Histogram  # noqa: PLC0415

        self.layout = layout
        namespace = layout.namespace
        self._requests = Counter(*_REQUESTS, _LABELS, namespace=namespace, registry=registry)
        self._duration = Histogram(
            *_DURATION,
            _LABELS,
            buckets=layout.duration_buckets,
            namespace=namespace,
            registry=registry,
        )
        self._in_progress = Gauge(
            *_IN_PROGRESS,
            ("method",),
            multiprocess_mode="livesum",
            namespace=namespace,
            registry=registry,
        )
        self._db_queries: Histogram | None = None
        self._db_duration: Histogram | None = None
        if layout.db:
            self._db_queries = Histogram(
                *_DB_QUERIES,
                _DB_LABELS,
                buckets=layout.db_query_buckets,
                namespace=namespace,
                registry=registry,
            )
            self._db_duration = Histogram(
                *_DB_DURATION,
                _DB_LABELS,
                buckets=layout.db_duration_buckets,
                namespace=namespace,
                registry=registry,
            )
        # Finding a labelled child validates and joins label values under a lock
        # on every call: these caches make it one dictionary look-up.
        self._cells: dict[SeriesKey, _Cells] = {}
        self._in_flight: dict[str, _Add] = {}

    def start(self, method: str) -> None:
        """A request with this method label began."""
        add = self._in_flight.get(method)
        if add is None:
            add = self._in_flight[method] = _adder(self._in_progress.labels(method))
        add(1)

    def stop(self, method: str) -> None:
        """A request with this method label ended."""
        self._in_flight[method](-1)

    def record(self, key: SeriesKey, duration: float, db_queries: int, db_time: float) -> None:
        """A request ended: count it, and observe its duration and database work."""
        cells = self._cells.get(key)
        if cells is None:
            cells = self._cells[key] = self._new_cells(key)
        cells.requests(1)
        cells.duration(duration)
        if cells.db_queries is not None and cells.db_duration is not None:
            cells.db_queries(db_queries)
            cells.db_duration(db_time)

    def _new_cells(self, key: SeriesKey) -> _Cells:
        labels = self.layout.labels(key)
        method, route = labels[0], labels[1]
        db_queries = db_duration = None
        if self._db_queries is not None and self._db_duration is not None:
            db_queries = _observer(self._db_queries.labels(method, route))
            db_duration = _observer(self._db_duration.labels(method, route))
        return _Cells(
            _adder(self._requests.labels(*labels)),
            _observer(self._duration.labels(*labels)),
            db_queries,
            db_duration,
        )
