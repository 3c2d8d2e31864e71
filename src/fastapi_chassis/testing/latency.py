"""Latency of an endpoint or coroutine, for performance regression tests that compare ratios.

Absolute timings depend on the machine, its load and the CI runner of the day;
a test that asserts "under 20 ms" is either loose enough to be useless or
flaky. What holds across machines is a ratio against a baseline measured in
the same test, on the same machine, at the same moment:

```python
from fastapi_chassis.testing import compare


@pytest.mark.asyncio
async def test_listing_products_costs_at_most_three_health_checks(client, product_factory):
    await product_factory.create_batch(50)
    result = await compare(
        baseline=lambda: client.get("/health/live"),
        candidate=lambda: client.get("/products?limit=50"),
        runs=200,
    )
    assert result.ratio < 3.0, result
```

:func:`compare` interleaves the two (baseline, candidate, baseline...), so
drift in the machine's speed affects both alike, and compares medians, which a
few slow outliers do not move. :func:`measure` measures one callable on its own.
"""

from __future__ import annotations

import asyncio
import gc
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from typing_extensions import override

__all__ = ["Comparison", "Measurement", "compare", "measure"]

Call = Callable[[], Awaitable[object]]
"""What is measured: a function that starts one call (``lambda: client.get("/")``)."""


@dataclass(frozen=True)
class Measurement:
    """Latencies of repeated calls, and the throughput they add up to.

    Attributes:
        durations: Seconds each measured call took, in the order made.
        wall_seconds: Wall-clock time of all measured calls together.
        concurrency: How many calls ran at a time.
    """

    durations: tuple[float, ...]
    wall_seconds: float
    concurrency: int = 1

    @property
    def runs(self) -> int:
        """How many calls were measured (warm-up calls excluded)."""
        return len(self.durations)

    def percentile(self, fraction: float) -> float:
        """Return a latency percentile in seconds (nearest rank).

        Args:
            fraction: Between 0 and 1: 0.5 is the median, 0.99 the 99th percentile.
        """
        if not self.durations:
            return math.nan
        ordered = sorted(self.durations)
        rank = max(1, math.ceil(fraction * len(ordered)))
        return ordered[rank - 1]

    @property
    def p50_ms(self) -> float:
        """Median latency, milliseconds."""
        return self.percentile(0.50) * 1000.0

    @property
    def p95_ms(self) -> float:
        """95th percentile latency, milliseconds."""
        return self.percentile(0.95) * 1000.0

    @property
    def p99_ms(self) -> float:
        """99th percentile latency, milliseconds."""
        return self.percentile(0.99) * 1000.0

    @property
    def mean_ms(self) -> float:
        """Mean latency, milliseconds."""
        return sum(self.durations) / len(self.durations) * 1000.0 if self.durations else math.nan

    @property
    def throughput(self) -> float:
        """Calls per second over the measured wall-clock time."""
        return self.runs / self.wall_seconds if self.wall_seconds > 0 else math.inf

    def ratio_to(self, baseline: Measurement) -> float:
        """Return this median latency divided by ``baseline``'s (above 1: slower)."""
        return self.percentile(0.5) / baseline.percentile(0.5)

    @override
    def __str__(self) -> str:
        return (
            f"{self.runs} calls: p50 {self.p50_ms:.3f} ms, p95 {self.p95_ms:.3f} ms, "
            f"p99 {self.p99_ms:.3f} ms, {self.throughput:.1f}/s"
        )


@dataclass(frozen=True)
class Comparison:
    """Two measurements taken interleaved (see :func:`compare`).

    Attributes:
        baseline: The reference.
        candidate: What is compared with it.
    """

    baseline: Measurement
    candidate: Measurement

    @property
    def ratio(self) -> float:
        """Candidate median over baseline median (2.0: the candidate takes twice as long)."""
        return self.candidate.ratio_to(self.baseline)

    @override
    def __str__(self) -> str:
        return (
            f"candidate/baseline = {self.ratio:.2f} "
            f"(baseline {self.baseline}; candidate {self.candidate})"
        )


async def _timed(call: Call) -> float:
    started = time.perf_counter()
    await call()
    return time.perf_counter() - started


async def measure(
    call: Call, *, runs: int = 100, warmup: int = 10, concurrency: int = 1
) -> Measurement:
    """Call ``call`` ``warmup + runs`` times and measure the last ``runs`` calls.

    Warm-up calls fill caches (prepared statements, connection pools, imports)
    and are not counted. A garbage collection runs before measuring, so one
    left over from the set-up does not land in the numbers.

    Args:
        call: Starts one call: ``lambda: client.get("/products")``, or a coroutine
            function taking no arguments.
        runs: How many calls to measure.
        warmup: How many calls to make first without measuring.
        concurrency: How many calls run at the same time (throughput under load);
            with 1 they run one after another.

    Returns:
        The latencies and throughput.

    Raises:
        ValueError: If ``runs`` or ``concurrency`` is below 1, or ``warmup`` below 0.

    Example:
        >>> result = await measure(lambda: client.get("/products"), runs=200)
        >>> result.p95_ms, result.throughput
    """
    if runs < 1 or concurrency < 1 or warmup < 0:
        raise ValueError("runs and concurrency must be at least 1, warmup at least 0")
    for _ in range(warmup):
        await call()
    gc.collect()
    durations: list[float] = []
    started = time.perf_counter()
    if concurrency == 1:
        durations.extend([await _timed(call) for _ in range(runs)])
    else:
        remaining = iter(range(runs))

        async def worker() -> None:
            # The workers share one iterator: together they make exactly `runs` calls.
            durations.extend([await _timed(call) for _ in remaining])

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Measurement(tuple(durations), time.perf_counter() - started, concurrency)


async def compare(
    *, baseline: Call, candidate: Call, runs: int = 100, warmup: int = 10
) -> Comparison:
    """Measure two callables interleaved, so both see the same machine.

    Args:
        baseline: The reference call (a health check, the previous implementation).
        candidate: The call under test.
        runs: How many calls of each to measure.
        warmup: How many calls of each to make first without measuring.

    Returns:
        Both measurements; :attr:`Comparison.ratio` is the one to assert on.

    Raises:
        ValueError: If ``runs`` is below 1 or ``warmup`` below 0.
    """
    if runs < 1 or warmup < 0:
        raise ValueError("runs must be at least 1, warmup at least 0")
    for _ in range(warmup):
        await baseline()
        await candidate()
    gc.collect()
    times: tuple[list[float], list[float]] = ([], [])
    for index in range(2 * runs):
        # Alternate which goes first, so neither always follows the other.
        first = (index // 2) % 2
        slot = index % 2 ^ first
        times[slot].append(await _timed((baseline, candidate)[slot]))
    return Comparison(_summed(times[0]), _summed(times[1]))


def _summed(durations: Sequence[float]) -> Measurement:
    return Measurement(tuple(durations), sum(durations))
