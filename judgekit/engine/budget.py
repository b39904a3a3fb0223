"""The run's hard spending cap.

Before each call its worst case (``pricing.input_token_bound``, the most input
tokens a provider can bill, x input price + max_output_tokens x output price) is
reserved; after it, the reservation is replaced by the real cost.  A reply that
reports no usage has no known cost: its worst case stays charged, so the cap
holds whatever the server reports.  A call starts only if ``spent + reserved + worst
case <= budget``, so spend never exceeds the budget whatever the concurrency.
When a call does not fit but others are in flight, it waits for them to settle
(their real cost is usually far below their worst case); when it does not fit
with nothing in flight, the budget is exhausted and no call starts again.
"""

from __future__ import annotations

import anyio

ROUNDING_USD = 1e-12
"""Float sums of reservations drift by ~1e-19 USD: five reservations of $0.0002 fit
a $0.001 budget.  A trillionth of a dollar is no overspend."""


class Budget:
    """Reserve-then-settle accounting of one run's new spend (cache hits are free)."""

    def __init__(self, limit_usd: float | None) -> None:
        self.limit_usd = limit_usd
        self.spent_usd = 0.0
        self.reserved_usd = 0.0
        self.exhausted = False
        self._in_flight = 0
        self._settled = anyio.Event()
        self._waiters = 0

    async def reserve(self, worst_case_usd: float) -> bool:
        """Reserve ``worst_case_usd``; False once the budget cannot cover it."""
        if self.limit_usd is None:
            self._in_flight += 1
            return True
        while not self.exhausted:
            if self.spent_usd + self.reserved_usd + worst_case_usd <= self.limit_usd + ROUNDING_USD:
                self.reserved_usd += worst_case_usd
                self._in_flight += 1
                return True
            if self._in_flight == 0:
                self.exhausted = True
                break
            self._waiters += 1
            try:
                await self._settled.wait()
            finally:
                self._waiters -= 1
        return False

    def settle(self, worst_case_usd: float, actual_usd: float) -> None:
        """Replace a reservation by what the call really cost."""
        self._in_flight -= 1
        self.spent_usd += actual_usd
        if self.limit_usd is not None:
            self.reserved_usd = max(0.0, self.reserved_usd - worst_case_usd)
        if self._waiters:
            self._settled.set()
            self._settled = anyio.Event()

    @property
    def remaining_usd(self) -> float | None:
        """What is left to spend, or None without a budget."""
        return None if self.limit_usd is None else max(0.0, self.limit_usd - self.spent_usd)

    def covers(self, worst_case_usd: float) -> bool:
        """Whether a call of this worst case would be admitted now, next to what is spent
        and reserved; never waits and never marks the budget exhausted (an optional call,
        such as a re-ask with a larger output cap, asks this first)."""
        if self.limit_usd is None:
            return True
        fits = self.spent_usd + self.reserved_usd + worst_case_usd <= self.limit_usd
        return fits and not self.exhausted

    def hold(self, worst_case_usd: float, *, force: bool = False) -> bool:
        """Reserve ``worst_case_usd`` for a request answered in a later run (a provider
        batch): never waits, never settled in this run; False when it does not fit.
        ``force``: money an earlier run committed, counted whether it fits or not."""
        if not force and not self.covers(worst_case_usd):
            return False
        self.reserved_usd += worst_case_usd
        return True
