"""Per-connection pacing (``judgekit.engine.limits``) and retry backoff (``engine.retry``).

Waits are checked as lower bounds on the event loop's clock (a slot booked for time T is
never granted before T) or as liveness under a generous ``fail_after``: never as speed.
"""

from __future__ import annotations

import random

import anyio
import pytest
from anyio.abc import TaskGroup

from judgekit.engine.limits import (
    MAX_HINTLESS_PAUSE_S,
    PACE_MARGIN,
    STALL_ROUNDS,
    ConnectionLimiter,
)
from judgekit.engine.retry import BASE_DELAY_S, MAX_DELAY_S, backoff_s

EPSILON_S = 1e-3
"""Timer slack allowed below a lower bound."""


@pytest.fixture
def anyio_backend() -> str:
    """asyncio only: the engine runs on asyncio (aiohttp)."""
    return "asyncio"


async def start_acquiring(
    tg: TaskGroup, limiter: ConnectionLimiter, tokens: int = 1
) -> list[float]:
    """Start ``limiter.acquire`` in the background; the clock time it got through lands in
    the list (empty while it waits)."""
    granted: list[float] = []

    async def acquire() -> None:
        await limiter.acquire(tokens)
        granted.append(anyio.current_time())

    tg.start_soon(acquire)
    await anyio.wait_all_tasks_blocked()
    return granted


async def fill(limiter: ConnectionLimiter, n: int) -> None:
    """Take ``n`` seats at once (fails the test if any of them has to wait long)."""
    with anyio.fail_after(5):
        for _ in range(n):
            await limiter.acquire(1)


# -- concurrency ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_at_most_max_in_flight_and_a_release_lets_the_next_in() -> None:
    limiter = ConnectionLimiter(None, None, max_in_flight=3)
    await fill(limiter, 3)
    async with anyio.create_task_group() as tg:
        fourth = await start_acquiring(tg, limiter)
        assert fourth == []
        limiter.release()
    assert len(fourth) == 1


@pytest.mark.anyio
async def test_without_declared_limits_a_429_halves_concurrency() -> None:
    limiter = ConnectionLimiter(None, None, max_in_flight=8)
    limiter.on_rate_limited(0.0)
    assert limiter.stats.rate_limited == 1
    await fill(limiter, 4)
    async with anyio.create_task_group() as tg:
        fifth = await start_acquiring(tg, limiter)
        assert fifth == []
        limiter.release()
    assert len(fifth) == 1


@pytest.mark.anyio
async def test_successes_bring_concurrency_back_gradually() -> None:
    limiter = ConnectionLimiter(None, None, max_in_flight=8)
    limiter.on_rate_limited(0.0)
    for _ in range(3):  # a few successes add less than one seat at 4 in flight
        limiter.on_success()
    await fill(limiter, 4)
    async with anyio.create_task_group() as tg:
        blocked = await start_acquiring(tg, limiter)
        assert blocked == []
        for _ in range(40):  # additive increase: +1/limit per success, back to 8
            limiter.on_success()
        await fill(limiter, 3)  # 4 + 1 (the waiter) + 3 = 8 in flight
    assert len(blocked) == 1
    async with anyio.create_task_group() as tg:
        ninth = await start_acquiring(tg, limiter)
        assert ninth == []  # never above max_in_flight
        limiter.release()


@pytest.mark.anyio
async def test_with_a_declared_request_limit_a_429_does_not_cut_concurrency() -> None:
    limiter = ConnectionLimiter(6_000_000, None, max_in_flight=4)  # pacing negligible
    limiter.on_rate_limited(0.0)
    await fill(limiter, 4)


@pytest.mark.anyio
async def test_a_cancelled_wait_gives_its_seat_back() -> None:
    limiter = ConnectionLimiter(None, None, max_in_flight=1)
    limiter.on_rate_limited(0.05)
    with anyio.move_on_after(0.01):
        await limiter.acquire(1)  # cancelled while the connection is paused
    # If the seat leaked, this would wait forever.
    await fill(limiter, 1)


# -- pauses and pacing ---------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_429_pauses_every_request_of_the_connection() -> None:
    limiter = ConnectionLimiter(None, None, max_in_flight=8)
    paused_at = anyio.current_time()
    limiter.on_rate_limited(0.05)
    async with anyio.create_task_group() as tg:
        waiters = [await start_acquiring(tg, limiter) for _ in range(3)]
    for granted in waiters:
        assert granted[0] >= paused_at + 0.05 - EPSILON_S


@pytest.mark.anyio
async def test_overlapping_pauses_are_counted_once() -> None:
    limiter = ConnectionLimiter(None, None, max_in_flight=1)
    limiter.on_rate_limited(0.2)
    limiter.on_rate_limited(0.1)  # inside the first pause: adds nothing
    limiter.on_rate_limited(0.3)  # extends it by about 0.1 s
    assert limiter.stats.rate_limited == 3
    assert limiter.stats.paused_s == pytest.approx(0.3, abs=0.01)


@pytest.mark.anyio
async def test_requests_per_minute_books_evenly_spaced_slots() -> None:
    limiter = ConnectionLimiter(1200, None, max_in_flight=8)  # one per 50 ms
    interval_s = 60 / 1200 * PACE_MARGIN
    granted = []
    for _ in range(4):
        await limiter.acquire(1)
        granted.append(anyio.current_time())
        limiter.release()
    for k in range(1, 4):
        assert granted[k] >= granted[0] + k * interval_s - EPSILON_S


@pytest.mark.anyio
async def test_a_429_while_waiting_for_a_slot_holds_the_request_until_the_pause_ends() -> None:
    limiter = ConnectionLimiter(1200, None, max_in_flight=8)
    await limiter.acquire(1)
    async with anyio.create_task_group() as tg:
        second = await start_acquiring(tg, limiter)  # sleeps until its slot, ~51 ms away
        paused_at = anyio.current_time()
        limiter.on_rate_limited(0.15)
    assert second[0] >= paused_at + 0.15 - EPSILON_S


@pytest.mark.anyio
async def test_tokens_per_minute_books_by_tokens_and_real_usage_corrects_it() -> None:
    limiter = ConnectionLimiter(None, 600_000, max_in_flight=8)  # 10,000 tokens per second
    await limiter.acquire(10)
    started = anyio.current_time()
    limiter.release()
    limiter.settle_tokens(10, 1_010)  # the call used 1,000 more tokens than booked: 0.1 s
    await limiter.acquire(10)
    assert anyio.current_time() >= started + 0.1 - EPSILON_S


@pytest.mark.anyio
async def test_unused_booked_tokens_are_given_back() -> None:
    limiter = ConnectionLimiter(None, 60_000, max_in_flight=8)  # 1,000 tokens per second
    await limiter.acquire(10_000)  # books the next ~10 s
    limiter.release()
    limiter.settle_tokens(10_000, 0)
    # Without the refund the next request would wait ~10 s.
    with anyio.fail_after(5):
        await limiter.acquire(1)


# -- 429s without a hint, rounds, stalls ------------------------------------------------------


def next_round(limiter: ConnectionLimiter, retry_after_s: float | None = None) -> float:
    """A 429 for a request sent after the current pause: the pause it starts, in seconds."""
    after_the_pause = anyio.current_time() + limiter.paused_for_s() + 1.0
    limiter.on_rate_limited(retry_after_s, after_the_pause)
    return limiter.paused_for_s()


@pytest.mark.anyio
async def test_a_429_without_a_hint_pauses_twice_as_long_each_round() -> None:
    limiter = ConnectionLimiter(None, None, max_in_flight=8)
    pauses = [next_round(limiter) for _ in range(8)]
    expected = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 32.0, 32.0]
    assert pauses == pytest.approx(expected, abs=0.05)
    assert MAX_HINTLESS_PAUSE_S == 32.0
    limiter.on_success()
    assert next_round(limiter) == pytest.approx(pauses[-1], abs=0.05)  # a pause is not cut
    assert limiter.stats.rounds == 1


@pytest.mark.anyio
async def test_a_burst_of_429s_sent_together_is_one_round() -> None:
    limiter = ConnectionLimiter(None, None, max_in_flight=64)
    sent_at = anyio.current_time()
    for _ in range(32):
        limiter.on_rate_limited(0.01, sent_at)
    assert (limiter.stats.rounds, limiter.stats.rate_limited) == (1, 32)
    assert not limiter.stalled


@pytest.mark.anyio
async def test_rounds_without_one_success_mark_the_connection_stalled() -> None:
    limiter = ConnectionLimiter(None, None, max_in_flight=8)
    for _ in range(STALL_ROUNDS - 1):
        next_round(limiter, 0.01)
    assert not limiter.stalled
    limiter.on_success()  # one request passed: the limit clears
    for _ in range(STALL_ROUNDS - 1):
        next_round(limiter, 0.01)
    assert not limiter.stalled
    next_round(limiter, 0.01)
    assert limiter.stalled
    assert STALL_ROUNDS == 7


# -- backoff -------------------------------------------------------------------------------


def test_backoff_uses_the_servers_wait_when_given() -> None:
    assert backoff_s(3, random.Random(0), retry_after_s=1.5) == 1.5
    assert backoff_s(1, random.Random(0), retry_after_s=0.0) == 0.0


@pytest.mark.parametrize("attempt", [1, 2, 3, 5, 8, 20])
def test_backoff_is_exponential_with_jitter_and_capped(attempt: int) -> None:
    ceiling = min(MAX_DELAY_S, BASE_DELAY_S * 2 ** (attempt - 1))
    delays = [backoff_s(attempt, random.Random(seed)) for seed in range(50)]
    assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert len(set(delays)) > 1  # jittered


def test_backoff_is_reproducible_with_a_seeded_rng() -> None:
    assert backoff_s(4, random.Random(7)) == backoff_s(4, random.Random(7))
