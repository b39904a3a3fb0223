"""Answers waiting for another process's cache lock: stored as soon as it frees while
the run goes on, and waited for (bounded) when the run ends.

The cache never blocks the event loop on a lock (``AnswerCache.put`` holds an answer
in memory instead); these two tasks are what brings held answers to disk.
"""

from __future__ import annotations

import signal
import time
from collections.abc import AsyncIterator, Callable
from typing import Protocol

import anyio

STORE_RETRY_S = 0.2
"""How often held answers are offered to the cache again."""


class WaitingStore(Protocol):
    """The part of an answer cache (``AnswerCache`` or ``NoCache``) these tasks use."""

    wait_s: float

    def waiting(self) -> int:
        """How many answers wait for the lock."""

    def store_waiting(self) -> bool:
        """Try once; True when none wait any more."""

    def give_up_waiting(self, waited_s: float) -> None:
        """Count what still waits as not stored."""


async def keep_storing(cache: WaitingStore) -> None:
    """Background task for the length of a run: store held answers once the lock frees."""
    while True:
        await anyio.sleep(STORE_RETRY_S)
        if cache.waiting():
            cache.store_waiting()


async def store_before_exit(
    cache: WaitingStore,
    notice: Callable[[str], None],
    signals: AsyncIterator[signal.Signals] | None,
) -> None:
    """End of a run: wait up to ``cache.wait_s`` for the lock to store what is held; the
    time running out or a signal from ``signals`` (None: do not listen) gives up on them."""
    if cache.store_waiting():
        return
    notice(
        f"waiting up to {cache.wait_s:g} s for the cache lock to store "
        f"{cache.waiting()} answers (a signal gives up)"
    )
    started = time.monotonic()
    with anyio.move_on_after(cache.wait_s) as timer:
        async with anyio.create_task_group() as waiting:
            if signals is not None:
                waiting.start_soon(_cancel_on_signal, waiting.cancel_scope, signals)
            while not cache.store_waiting():
                await anyio.sleep(STORE_RETRY_S)
            waiting.cancel_scope.cancel()
    waited_s = cache.wait_s if timer.cancelled_caught else round(time.monotonic() - started, 1)
    cache.give_up_waiting(waited_s)


async def _cancel_on_signal(
    scope: anyio.CancelScope, signals: AsyncIterator[signal.Signals]
) -> None:
    async for _ in signals:
        scope.cancel()
        return
