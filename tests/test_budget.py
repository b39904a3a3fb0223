"""The run's hard spending cap (``judgekit.engine.budget``): reserve the worst case, settle
the real cost, never spend past the limit whatever the concurrency."""

from __future__ import annotations

import random

import anyio
import pytest
from anyio.abc import TaskGroup
from anyio.lowlevel import checkpoint

from judgekit.engine.budget import Budget


@pytest.fixture
def anyio_backend() -> str:
    """asyncio only: the engine runs on asyncio (aiohttp)."""
    return "asyncio"


async def start_reserving(tg: TaskGroup, budget: Budget, worst_usd: float) -> list[bool]:
    """Start ``budget.reserve(worst_usd)`` in the background; its answer lands in the list
    (empty while it waits)."""
    answer: list[bool] = []

    async def reserve() -> None:
        answer.append(await budget.reserve(worst_usd))

    tg.start_soon(reserve)
    await anyio.wait_all_tasks_blocked()
    return answer


@pytest.mark.anyio
async def test_without_a_limit_everything_is_reserved_and_spend_is_counted() -> None:
    budget = Budget(None)
    assert all([await budget.reserve(1e9) for _ in range(5)])
    for _ in range(5):
        budget.settle(1e9, 0.25)
    assert (budget.spent_usd, budget.remaining_usd, budget.exhausted) == (1.25, None, False)


@pytest.mark.anyio
async def test_reservations_fit_up_to_the_limit_inclusive() -> None:
    budget = Budget(1.0)
    assert await budget.reserve(0.5)
    assert await budget.reserve(0.5)
    assert budget.reserved_usd == 1.0
    budget.settle(0.5, 0.125)
    budget.settle(0.5, 0.125)
    assert (budget.spent_usd, budget.reserved_usd, budget.remaining_usd) == (0.25, 0.0, 0.75)


@pytest.mark.anyio
async def test_a_call_that_does_not_fit_waits_for_calls_in_flight_to_settle() -> None:
    budget = Budget(1.0)
    assert await budget.reserve(0.6)
    async with anyio.create_task_group() as tg:
        waiting = await start_reserving(tg, budget, 0.6)
        assert waiting == []  # 0.6 + 0.6 > 1: it waits rather than fail
        budget.settle(0.6, 0.1)  # the real cost was far below the worst case
    assert waiting == [True]
    assert budget.reserved_usd == 0.6
    assert not budget.exhausted


@pytest.mark.anyio
async def test_with_nothing_in_flight_a_call_that_does_not_fit_exhausts_the_budget() -> None:
    budget = Budget(1.0)
    assert await budget.reserve(0.6)
    async with anyio.create_task_group() as tg:
        waiting = await start_reserving(tg, budget, 0.6)
        budget.settle(0.6, 0.5)  # spent 0.5: another 0.6 can never fit
    assert waiting == [False]
    assert budget.exhausted
    assert budget.spent_usd == 0.5


@pytest.mark.anyio
async def test_once_exhausted_no_call_starts_again_however_small() -> None:
    budget = Budget(0.01)
    assert not await budget.reserve(0.02)
    assert budget.exhausted
    assert not await budget.reserve(0.000001)
    assert (budget.spent_usd, budget.reserved_usd) == (0.0, 0.0)


@pytest.mark.anyio
async def test_every_waiter_learns_of_the_exhaustion() -> None:
    budget = Budget(1.0)
    assert await budget.reserve(0.9)
    async with anyio.create_task_group() as tg:
        waiters = [await start_reserving(tg, budget, 0.5) for _ in range(5)]
        budget.settle(0.9, 0.9)
    assert waiters == [[False]] * 5


@pytest.mark.anyio
@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_spend_never_exceeds_the_limit_under_heavy_concurrency(seed: int) -> None:
    rng = random.Random(seed)
    limit = 1.0
    budget = Budget(limit)
    started = 0
    highest = 0.0

    async def call() -> None:
        nonlocal started, highest
        worst = rng.uniform(0.01, 0.2)
        if not await budget.reserve(worst):
            return
        started += 1
        assert budget.spent_usd + budget.reserved_usd <= limit + 1e-12
        for _ in range(rng.randrange(3)):
            await checkpoint()
        budget.settle(worst, worst * rng.uniform(0.0, 1.0))
        highest = max(highest, budget.spent_usd)

    async with anyio.create_task_group() as tg:
        for _ in range(300):
            tg.start_soon(call)
    assert highest <= limit
    assert budget.spent_usd <= limit
    assert budget.reserved_usd == pytest.approx(0.0, abs=1e-12)
    assert budget.exhausted
    assert 0 < started < 300
