"""measure() and compare(): percentiles, throughput, warm-up, interleaving, concurrency."""

from __future__ import annotations

import asyncio
import math

import pytest

from fastapi_chassis.testing import Comparison, Measurement, compare, measure


class Clock:
    """A clock that moves only when a call under test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr("time.perf_counter", fake)
    return fake


def test_percentiles_are_nearest_rank() -> None:
    result = Measurement(tuple(n / 1000 for n in range(1, 101)), wall_seconds=2.0)

    assert result.runs == 100
    assert result.p50_ms == pytest.approx(50.0)
    assert result.p95_ms == pytest.approx(95.0)
    assert result.p99_ms == pytest.approx(99.0)
    assert result.mean_ms == pytest.approx(50.5)
    assert result.throughput == pytest.approx(50.0)
    assert result.percentile(1.0) == pytest.approx(0.1)
    assert "100 calls: p50 50.000 ms" in str(result)


def test_an_empty_measurement_has_no_percentiles() -> None:
    result = Measurement((), wall_seconds=0.0)

    assert math.isnan(result.p50_ms)
    assert math.isnan(result.mean_ms)
    assert result.throughput == math.inf


@pytest.mark.asyncio
async def test_warm_up_calls_are_made_but_not_counted(clock: Clock) -> None:
    calls = 0

    async def call() -> None:
        nonlocal calls
        calls += 1
        # Warm-up calls are slow (a cold cache), measured ones take 2 ms.
        clock.now += 1.0 if calls <= 5 else 0.002

    result = await measure(call, runs=20, warmup=5)

    assert calls == 25
    assert result.runs == 20
    assert result.p99_ms == pytest.approx(2.0)
    assert result.throughput == pytest.approx(500.0)


@pytest.mark.asyncio
async def test_compare_interleaves_and_divides_the_medians(clock: Clock) -> None:
    order: list[str] = []

    async def baseline() -> None:
        order.append("b")
        clock.now += 0.001

    async def candidate() -> None:
        order.append("c")
        clock.now += 0.003

    result = await compare(baseline=baseline, candidate=candidate, runs=4, warmup=1)

    assert isinstance(result, Comparison)
    assert order == ["b", "c", "b", "c", "c", "b", "b", "c", "c", "b"]
    assert result.baseline.runs == result.candidate.runs == 4
    assert result.ratio == pytest.approx(3.0)
    assert str(result).startswith("candidate/baseline = 3.00")


@pytest.mark.asyncio
async def test_concurrent_calls_never_exceed_the_concurrency() -> None:
    running = 0
    peak = 0

    async def call() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.001)
        running -= 1

    result = await measure(call, runs=30, warmup=0, concurrency=4)

    assert result.runs == 30
    assert result.concurrency == 4
    assert peak == 4


@pytest.mark.asyncio
async def test_nonsense_counts_are_refused() -> None:
    async def call() -> None:
        pass

    with pytest.raises(ValueError, match="at least 1"):
        await measure(call, runs=0)
    with pytest.raises(ValueError, match="at least 1"):
        await measure(call, concurrency=0)
    with pytest.raises(ValueError, match="at least 0"):
        await compare(baseline=call, candidate=call, warmup=-1)
