"""``OutboxRelay``: publishes committed outbox events, in order, at least once.

A relay repeats three steps, each short:

1. **Claim** whole pending runs of aggregates under a lease, in one committed
   transaction (``FOR UPDATE SKIP LOCKED`` on each run's first row; see
   :mod:`fastapi_chassis.events.claims`). Other relays skip what is leased; a
   crashed relay's lease simply runs out and its rows become claimable again.
2. **Publish** outside any transaction. The claimed rows go out in waves: each
   wave holds the next event of every aggregate in the claim, and an aggregate's
   next event is sent only once every publisher acknowledged the one before. If
   an event fails, the rest of its aggregate's run stays unsent, so consumers
   never see an aggregate's events out of order.
3. **Settle**: mark what was acknowledged as published, schedule what failed for
   a retry with exponential back-off (or dead-letter it after ``max_attempts``),
   hand back what was not attempted.

Delivery is at least once: a relay that dies between publishing and settling
leaves its rows leased, and they are published again once the lease runs out.
Consumers deduplicate by the CloudEvents ``id`` (also the ``id`` header), which
every copy shares.

The relay wakes when PostgreSQL announces committed events (``LISTEN`` on a
dedicated connection, see :mod:`~fastapi_chassis.events.listener`) and polls
every ``poll_interval`` seconds anyway, which also picks up retries whose
back-off has passed. Run it inside the application (``events_relay_enabled``)
or on its own (``chassis events relay``); any number of relays may run at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter, deque
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Self

from fastapi_chassis.errors import ConfigurationError
from fastapi_chassis.events.claims import (
    NO_BOUND,
    Claim,
    ClaimOutcome,
    claim,
    outbox_stats,
    pending_bound,
    settle,
)
from fastapi_chassis.events.listener import NotificationListener, asyncpg_dsn
from fastapi_chassis.events.metrics import RelayMetrics
from fastapi_chassis.events.outbox import NOTIFY_CHANNEL
from fastapi_chassis.events.publishers.base import OutboxMessage, Publisher

if TYPE_CHECKING:
    from types import TracebackType
    from uuid import UUID

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from fastapi_chassis.settings import ChassisSettings

__all__ = ["OutboxRelay"]

logger = logging.getLogger("fastapi_chassis.events.relay")

_ERROR_LIMIT = 2000
# A wave is started only when the lease has this much time left beyond the
# publish timeout, so a lease never runs out while its rows are being sent.
_LEASE_MARGIN = 1.0

AggregateKey = tuple[str, "UUID"]


class OutboxRelay:
    """Publishes the outbox's committed events to one or more publishers.

    Args:
        sessionmaker: Makes the sessions the relay claims and settles in.
        publishers: Where every event goes; an event counts as published once all
            of them acknowledged it.
        name: Names the relay in logs and metrics.
        batch_size: Rows (and aggregates) claimed at a time.
        lease_seconds: How long a claim keeps other relays away. Longer than the
            slowest batch: a lease that runs out lets another relay publish the
            same events again.
        publish_timeout: Seconds one wave may take before its events count as failed.
        max_attempts: Failed attempts after which an event is dead-lettered.
        retry_backoff: Seconds before the first retry; doubled for each further
            failure, with jitter.
        max_retry_backoff: Upper bound of the retry delay.
        poll_interval: Seconds between looks at the outbox when nothing wakes the relay.
        listen: Wake on ``NOTIFY`` (needs the outbox trigger and a direct connection).
        listen_url: Where the ``LISTEN`` connection goes; the sessionmaker's
            database by default. Point it past PgBouncer.
        stats_interval: Seconds between refreshes of the outbox gauges.
        metrics: The metrics to update; the process-wide ones by default.

    Raises:
        ConfigurationError: If no publisher is given or a value is out of range.

    Example:
        >>> publisher = InMemoryPublisher()
        >>> relay = OutboxRelay(sessionmaker, publishers=[publisher])
        >>> await relay.run_once()
        3
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        publishers: Sequence[Publisher],
        *,
        name: str = "outbox-relay",
        batch_size: int = 500,
        lease_seconds: float = 30.0,
        publish_timeout: float = 10.0,
        max_attempts: int = 10,
        retry_backoff: float = 1.0,
        max_retry_backoff: float = 300.0,
        poll_interval: float = 1.0,
        listen: bool = True,
        listen_url: str | None = None,
        stats_interval: float = 15.0,
        metrics: RelayMetrics | None = None,
    ) -> None:
        if not publishers:
            raise ConfigurationError("the outbox relay needs at least one publisher")
        for publisher in publishers:
            if not isinstance(publisher, Publisher):
                raise ConfigurationError(f"{publisher!r} is not a publisher (see Publisher)")
        if batch_size < 1 or max_attempts < 1 or poll_interval <= 0 or publish_timeout <= 0:
            raise ConfigurationError(
                "batch_size and max_attempts must be at least 1, poll_interval and "
                "publish_timeout above 0"
            )
        if lease_seconds < publish_timeout + 2 * _LEASE_MARGIN:
            raise ConfigurationError(
                f"lease_seconds ({lease_seconds}) must exceed publish_timeout "
                f"({publish_timeout}) by at least {2 * _LEASE_MARGIN} seconds"
            )
        self.name = name
        self._sessionmaker = sessionmaker
        self._publishers = tuple(publishers)
        self._batch_size = batch_size
        self._lease_seconds = lease_seconds
        self._publish_timeout = publish_timeout
        self._max_attempts = max_attempts
        self._retry_backoff = retry_backoff
        self._max_retry_backoff = max_retry_backoff
        self._poll_interval = poll_interval
        self._listen_url = listen_url if listen else None
        if listen and listen_url is None:
            self._listen_url = _bound_url(sessionmaker)
        self._stats_interval = stats_interval
        self._next_stats = 0.0
        self._metrics = metrics or RelayMetrics.default()
        self._started = False
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener: NotificationListener | None = None

    @classmethod
    def from_settings(
        cls,
        settings: ChassisSettings,
        sessionmaker: async_sessionmaker[AsyncSession],
        publishers: Sequence[Publisher],
        *,
        metrics: RelayMetrics | None = None,
    ) -> OutboxRelay:
        """Build a relay configured by the ``events_*`` settings.

        Without ``events_listen_url`` the relay listens on the database URL, unless
        ``db_pgbouncer`` says that URL goes through PgBouncer: it then only polls.
        """
        listen_url: str | None = None
        listen = True
        if settings.events_listen_url is not None:
            listen_url = settings.events_listen_url.get_secret_value()
        elif settings.db_pgbouncer:
            logger.warning(
                "the outbox relay polls only: db_pgbouncer is set and events_listen_url is not"
            )
            listen = False
        return cls(
            sessionmaker,
            publishers,
            name=f"{settings.service_name}-outbox-relay",
            batch_size=settings.events_batch_size,
            lease_seconds=settings.events_lease_seconds,
            publish_timeout=settings.events_publish_timeout,
            max_attempts=settings.events_max_attempts,
            poll_interval=settings.events_poll_interval,
            listen=listen,
            listen_url=listen_url,
            metrics=metrics,
        )

    @property
    def listening(self) -> bool:
        """Whether the relay is currently woken by ``NOTIFY`` (otherwise it polls)."""
        return self._listener is not None and self._listener.connected

    @property
    def stopping(self) -> bool:
        """Whether the relay was asked to stop (and stops after the batch in flight)."""
        return self._stopping.is_set()

    async def __aenter__(self) -> Self:
        await self._start_publishers()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def run_once(self) -> int:
        """Publish every event that is committed and claimable now, then return.

        Events recorded after the call started are left for the next call, as are
        events that another relay holds, that wait for a retry, or that are blocked
        by an earlier event of their aggregate.

        Returns:
            How many events were published.
        """
        await self._start_publishers()
        bound = await pending_bound(self._sessionmaker)
        if bound == 0:
            return 0
        published, _ = await self._drain(bound, continuous=False)
        return published

    async def run(self) -> None:
        """Publish continuously until :meth:`stop` (or :meth:`request_stop`) is called.

        A stop lets the batch in flight finish publishing and settle. Database
        and broker errors (a broker that cannot be reached at start-up included)
        are logged and retried with growing delays; they never end the loop.
        """
        if self._listen_url is not None and self._listener is None:
            self._listener = NotificationListener(
                asyncpg_dsn(self._listen_url), NOTIFY_CHANNEL, self._wake.set
            )
            await self._listener.start()
        failures = 0
        try:
            while not self._stopping.is_set():
                self._wake.clear()
                try:
                    # A broker that is down at start-up is retried like any failure:
                    # events wait in the outbox meanwhile.
                    await self._start_publishers()
                    await self._drain(NO_BOUND, continuous=True)
                    await self._refresh_stats_when_due()
                    failures = 0
                except Exception:
                    failures += 1
                    logger.exception("outbox relay %s failed; retrying", self.name)
                    await self._sleep(min(self._poll_interval * 2**failures, 30.0))
                    continue
                await self._sleep(self._poll_interval)
        finally:
            if self._listener is not None:
                await self._listener.stop()
                self._listener = None

    async def start(self) -> None:
        """Run :meth:`run` in a background task (for an application's lifespan).

        Returns at once: publishers connect in the background, so an unreachable
        broker delays publishing but not the application's start-up.
        """
        if self._task is None or self._task.done():
            self._stopping.clear()
            self._task = asyncio.create_task(self.run(), name=f"chassis-{self.name}")

    def request_stop(self) -> None:
        """Ask :meth:`run` to return after the batch in flight (safe in signal handlers)."""
        self._stopping.set()
        self._wake.set()

    async def stop(self, timeout: float = 30.0) -> None:
        """Stop running, let the batch in flight settle, and stop the publishers.

        Args:
            timeout: Seconds to wait for the batch in flight; after that it is
                cancelled, and its leases run out (its events are published again).
        """
        self.request_stop()
        task, self._task = self._task, None
        if task is not None:
            try:
                await asyncio.wait_for(task, timeout=timeout)
            except TimeoutError:
                logger.warning("outbox relay %s did not stop within %.0fs", self.name, timeout)
            except Exception:
                logger.exception("outbox relay %s failed while stopping", self.name)
        if self._started:
            self._started = False
            for publisher in self._publishers:
                try:
                    await publisher.stop()
                except Exception:
                    logger.exception("publisher %s failed to stop", publisher.name)

    async def _start_publishers(self) -> None:
        if self._started:
            return
        started: list[Publisher] = []
        try:
            for publisher in self._publishers:
                await publisher.start()
                started.append(publisher)
        except BaseException:
            for publisher in reversed(started):
                with contextlib.suppress(Exception):
                    await publisher.stop()
            raise
        self._started = True

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)

    async def _drain(self, bound: int, *, continuous: bool) -> tuple[int, bool]:
        """Claim and publish until nothing pending (up to ``bound``) is claimable.

        The next batch is claimed while the previous one is being published (its
        aggregates are leased, so the two never share an aggregate), and at most
        one batch is in flight. Windows of pending rows are examined from the
        oldest; the search moves to a later window only when nothing is in
        flight and a window yields nothing, and it goes back to the oldest rows
        whenever publishing may have unblocked them.

        Returns:
            How many events were published, and whether anything was claimed.
        """
        published = 0
        claimed = False
        after = 0
        in_flight: asyncio.Task[int] | None = None
        try:
            while not (continuous and self._stopping.is_set()):
                if continuous:
                    await self._refresh_stats_when_due()
                claimed_at = time.monotonic()
                current = await claim(
                    self._sessionmaker,
                    batch_size=self._batch_size,
                    lease_seconds=self._lease_seconds,
                    after=after,
                    bound=bound,
                )
                if current.messages:
                    claimed = True
                    if in_flight is not None:
                        published += await in_flight
                        in_flight = None
                    if continuous and self._stopping.is_set():
                        # Stopping: hand the batch claimed ahead back at once.
                        await settle(
                            self._sessionmaker,
                            current,
                            ClaimOutcome(released=current.messages),
                            max_attempts=self._max_attempts,
                        )
                        break
                    in_flight = asyncio.create_task(self._deliver(current, claimed_at))
                    after = 0
                    continue
                if in_flight is not None:
                    delivered = await in_flight
                    in_flight = None
                    published += delivered
                    if delivered:
                        after = 0
                        continue
                if not current.window_full:
                    break
                after = current.window_end
        finally:
            if in_flight is not None:
                # Let the batch in flight settle, whatever interrupted the loop.
                published += await asyncio.shield(in_flight)
        return published, claimed

    async def _deliver(self, current: Claim, claimed_at: float) -> int:
        """Publish a claim, settle it, and return how many of its events were published."""
        outcome = await self._publish(current, deadline=claimed_at + self._lease_seconds)
        dead = await settle(self._sessionmaker, current, outcome, max_attempts=self._max_attempts)
        self._record(outcome, dead)
        return len(outcome.published)

    async def _publish(self, current: Claim, *, deadline: float) -> ClaimOutcome:
        runs: dict[AggregateKey, deque[OutboxMessage]] = {}
        for message in current.messages:
            runs.setdefault((message.aggregate_type, message.aggregate_id), deque()).append(message)
        published: list[OutboxMessage] = []
        failed: list[tuple[OutboxMessage, str, float]] = []
        released: list[OutboxMessage] = []
        while runs:
            if time.monotonic() + self._publish_timeout + _LEASE_MARGIN > deadline:
                break
            wave = [run[0] for run in runs.values()]
            errors = await self._send(wave)
            for message, error in zip(wave, errors, strict=True):
                key = (message.aggregate_type, message.aggregate_id)
                run = runs[key]
                run.popleft()
                if error is None:
                    published.append(message)
                    if not run:
                        del runs[key]
                    continue
                failed.append((message, _describe(error), self._backoff(message.attempts + 1)))
                released.extend(run)
                del runs[key]
                logger.warning(
                    "publishing %s %s (attempt %d) failed: %s",
                    message.event_type,
                    message.id,
                    message.attempts + 1,
                    _describe(error),
                )
        for run in runs.values():
            released.extend(run)
        return ClaimOutcome(tuple(published), tuple(failed), tuple(released))

    async def _send(self, wave: list[OutboxMessage]) -> list[BaseException | None]:
        results = await asyncio.gather(
            *(self._send_to(publisher, wave) for publisher in self._publishers)
        )
        errors: list[BaseException | None] = [None] * len(wave)
        for outcome in results:
            for index, error in enumerate(outcome):
                if error is not None and errors[index] is None:
                    errors[index] = error
        return errors

    async def _send_to(
        self, publisher: Publisher, wave: list[OutboxMessage]
    ) -> Sequence[BaseException | None]:
        try:
            outcome = await asyncio.wait_for(publisher.publish(wave), timeout=self._publish_timeout)
        except Exception as error:  # noqa: BLE001 - every message of the call failed
            return [error] * len(wave)
        if len(outcome) != len(wave):
            mismatch = RuntimeError(
                f"publisher {publisher.name} returned {len(outcome)} outcomes "
                f"for {len(wave)} messages"
            )
            return [mismatch] * len(wave)
        return outcome

    def _backoff(self, attempt: int) -> float:
        delay = min(self._max_retry_backoff, self._retry_backoff * 2.0 ** (attempt - 1))
        # Full jitter keeps relays that failed together from retrying together.
        return delay * (0.5 + random.random() / 2)  # noqa: S311 - not for security

    def _record(self, outcome: ClaimOutcome, dead: list[OutboxMessage]) -> None:
        metrics = self._metrics
        now = datetime.now(UTC)
        # Looking a labelled child up takes a lock: once per label set, not per event.
        delivery = metrics.delivery_seconds.labels(self.name)
        for aggregate_type, count in Counter(m.aggregate_type for m in outcome.published).items():
            metrics.published.labels(self.name, aggregate_type).inc(count)
        for message in outcome.published:
            delivery.observe(max(0.0, (now - message.created_at).total_seconds()))
        for aggregate_type, count in Counter(
            m.aggregate_type for m, _, _ in outcome.failed
        ).items():
            metrics.failures.labels(self.name, aggregate_type).inc(count)
        for message in dead:
            metrics.dead_lettered.labels(self.name, message.aggregate_type).inc()
            logger.error(
                "event %s %s is dead-lettered after %d attempts; it blocks aggregate %s %s "
                "until released or skipped (chassis events dead-letters)",
                message.event_type,
                message.id,
                self._max_attempts,
                message.aggregate_type,
                message.aggregate_id,
            )

    async def _refresh_stats_when_due(self) -> None:
        if time.monotonic() < self._next_stats:
            return
        self._next_stats = time.monotonic() + self._stats_interval
        try:
            await self._refresh_stats()
        except Exception:
            logger.exception("outbox relay %s could not read the outbox statistics", self.name)

    async def _refresh_stats(self) -> None:
        async with self._sessionmaker() as session:
            stats = await outbox_stats(session)
            await session.commit()
        self._metrics.pending.labels(self.name).set(stats.pending)
        self._metrics.dead_letters.labels(self.name).set(stats.dead_letters)
        self._metrics.lag_seconds.labels(self.name).set(stats.lag_seconds)

    async def refresh_metrics(self) -> None:
        """Read the outbox gauges (pending, dead letters, lag) from the table now."""
        await self._refresh_stats()


def _describe(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return text[:_ERROR_LIMIT]


def _bound_url(sessionmaker: async_sessionmaker[AsyncSession]) -> str | None:
    bind = sessionmaker.kw.get("bind")
    url = getattr(bind, "url", None)
    if url is None:
        return None
    return str(url.render_as_string(hide_password=False))
