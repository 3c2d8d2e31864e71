"""Prometheus metrics of the outbox relay.

Prometheus collectors are process-wide: registering a second collector under a
name that is taken fails. So the relay's collectors are created once per
process and per registry (:meth:`RelayMetrics.default` on the global registry,
which ``/metrics`` exposes), and every relay in the process shares them,
telling itself apart by the ``relay`` label. Tests that want their own numbers
pass ``RelayMetrics(CollectorRegistry())``.

* ``chassis_outbox_published_total`` (counter; relay, aggregate_type): events
  acknowledged by every publisher;
* ``chassis_outbox_publish_failures_total`` (counter; relay, aggregate_type):
  failed delivery attempts;
* ``chassis_outbox_dead_lettered_total`` (counter; relay, aggregate_type): events
  that failed their last attempt;
* ``chassis_outbox_delivery_seconds`` (histogram; relay): from the start of the
  recording transaction to the broker's acknowledgement;
* ``chassis_outbox_pending_events`` (gauge; relay): events not yet published,
  dead letters included;
* ``chassis_outbox_dead_letters`` (gauge; relay): dead letters waiting for an
  operator, each blocking its aggregate;
* ``chassis_outbox_lag_seconds`` (gauge; relay): age of the oldest pending event.

The gauges are read from the table every ``stats_interval`` seconds, so they
describe the outbox, whichever relay published what. In multiprocess mode they
report the largest value among live processes.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

# prometheus-client is imported when the metrics are first made, not with this
# module: its multiprocess mode is chosen by the environment at import time, and
# the application may set that up after the events package has been imported.

__all__ = ["RelayMetrics"]

_DELIVERY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class RelayMetrics:
    """The relay's collectors, registered once in ``registry``.

    Args:
        registry: Where the collectors are registered. Each registry may hold one
            ``RelayMetrics``; use :meth:`default` for the global registry.

    Attributes:
        registry: The registry the collectors are in.
    """

    _default: ClassVar[RelayMetrics | None] = None
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, registry: CollectorRegistry) -> None:
        from prometheus_client import Counter, Gauge, Histogram  # noqa: PLC0415

        self.registry = registry
        self.published = Counter(
            "chassis_outbox_published",
            "Events acknowledged by every publisher.",
            ["relay", "aggregate_type"],
            registry=registry,
        )
        self.failures = Counter(
            "chassis_outbox_publish_failures",
            "Failed delivery attempts.",
            ["relay", "aggregate_type"],
            registry=registry,
        )
        self.dead_lettered = Counter(
            "chassis_outbox_dead_lettered",
            "Events that failed their last attempt and now wait for an operator.",
            ["relay", "aggregate_type"],
            registry=registry,
        )
        self.delivery_seconds = Histogram(
            "chassis_outbox_delivery_seconds",
            "Seconds from the recording transaction's start to the broker's acknowledgement.",
            ["relay"],
            buckets=_DELIVERY_BUCKETS,
            registry=registry,
        )
        self.pending = Gauge(
            "chassis_outbox_pending_events",
            "Events not yet published, dead letters included.",
            ["relay"],
            multiprocess_mode="livemax",
            registry=registry,
        )
        self.dead_letters = Gauge(
            "chassis_outbox_dead_letters",
            "Dead-lettered events waiting for an operator; each blocks its aggregate.",
            ["relay"],
            multiprocess_mode="livemax",
            registry=registry,
        )
        self.lag_seconds = Gauge(
            "chassis_outbox_lag_seconds",
            "Age in seconds of the oldest pending event (0 when none is pending).",
            ["relay"],
            multiprocess_mode="livemax",
            registry=registry,
        )

    @classmethod
    def default(cls) -> RelayMetrics:
        """Return the process-wide metrics on the global registry, creating them once."""
        with cls._lock:
            if cls._default is None:
                from prometheus_client import REGISTRY  # noqa: PLC0415

                cls._default = cls(REGISTRY)
            return cls._default
