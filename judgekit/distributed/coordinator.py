"""The coordinator: one Ray actor that holds a whole cluster's budget and pacing.

Every worker asks it before each call and tells it after::

    worker ──reserve(worst case)──▶ coordinator.Budget          (hard cap, cluster-wide)
           ──acquire(connection)──▶ coordinator.ConnectionLimiter (RPM/TPM, 429 pauses)
           ... the request ...
           ──release / settle─────▶ both

It runs judgekit's own ``Budget`` and ``ConnectionLimiter`` (``judgekit.engine``) on
the actor's event loop, so the rules are exactly those of a one-machine run; only the
ledger is shared.  A 429 reported by any worker pauses its connection for every worker.

A killed worker cannot settle what it holds.  Its batch is retried under the same batch
key, and ``begin`` then settles the dead attempt's leftovers: each reservation keeps its
worst case charged (the provider may have billed the call), each limiter slot is freed.

This module imports no Ray: ``ray_engine`` wraps ``Coordinator`` with ``ray.remote``.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from judgekit.engine.budget import Budget
from judgekit.engine.limits import ConnectionLimiter


@dataclass(frozen=True, slots=True)
class PacingSpec:
    """One connection's declared limits (``ConnectionLimiter``'s arguments)."""

    requests_per_minute: float | None
    tokens_per_minute: float | None
    max_in_flight: int
    """Requests in flight on the connection across the whole cluster."""


@dataclass(slots=True)
class _Held:
    """What one attempt of one batch holds right now."""

    attempt: int
    reserved_usd: list[float] = field(default_factory=list)
    slots: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True, slots=True)
class BudgetView:
    """The budget as the coordinator saw it when it answered (a worker's ``covers``)."""

    committed_usd: float
    """Spent plus reserved, cluster-wide."""
    exhausted: bool


class Coordinator:
    """Budget ledger, pacing and notices of one distributed run (a Ray actor)."""

    def __init__(self, budget_usd: float | None, pacing: dict[str, PacingSpec]) -> None:
        self._budget = Budget(budget_usd)
        self._limiters = {
            name: ConnectionLimiter(s.requests_per_minute, s.tokens_per_minute, s.max_in_flight)
            for name, s in pacing.items()
        }
        self._held: dict[str, _Held] = {}
        self._attempts: Counter[str] = Counter()
        self._reports: dict[str, dict[str, Any]] = {}
        self._notices: list[str] = []
        self._noticed: set[str] = set()
        self._pids: dict[str, int] = {}
        self._lost_usd = 0.0
        self._failure: tuple[str, str] | None = None

    # -- a batch's life ---------------------------------------------------------------------

    def begin(self, batch: str, pid: int) -> int:
        """A batch (re)starts in process ``pid``: settle what an earlier, dead attempt
        held; returns this attempt's number."""
        old = self._held.pop(batch, None)
        if old is not None:
            for worst in old.reserved_usd:  # the call may have been billed: keep it charged
                self._budget.settle(worst, worst)
                self._lost_usd += worst
            for name, count in old.slots.items():
                for _ in range(count):
                    self._limiters[name].release()
        self._attempts[batch] += 1
        attempt = self._attempts[batch]
        self._held[batch] = _Held(attempt)
        self._pids[batch] = pid
        return attempt

    def finish(self, batch: str, report: dict[str, Any]) -> None:
        """A batch ended: keep its figures (a retried batch's last report wins)."""
        self._held.pop(batch, None)
        self._pids.pop(batch, None)
        self._reports[batch] = report

    def reports(self) -> list[dict[str, Any]]:
        """Every finished batch's figures (``Snapshot.as_dict``)."""
        return list(self._reports.values())

    def busy_pids(self) -> list[int]:
        """Processes scoring a batch right now."""
        return sorted(set(self._pids.values()))

    # -- budget -----------------------------------------------------------------------------

    async def reserve(self, batch: str, worst_case_usd: float) -> tuple[bool, BudgetView]:
        """``Budget.reserve`` for the whole cluster."""
        ok = await self._budget.reserve(worst_case_usd)
        if ok and batch in self._held:
            self._held[batch].reserved_usd.append(worst_case_usd)
        return ok, self._view()

    def settle(self, batch: str, worst_case_usd: float, actual_usd: float) -> BudgetView:
        """``Budget.settle`` for the whole cluster."""
        held = self._held.get(batch)
        if held is None or worst_case_usd not in held.reserved_usd:
            return self._view()  # a dead attempt's late message: already settled by begin
        held.reserved_usd.remove(worst_case_usd)
        self._budget.settle(worst_case_usd, actual_usd)
        return self._view()

    def budget(self) -> dict[str, Any]:
        """The ledger: spent, reserved, exhausted, lost (worst cases of killed calls)."""
        return {
            "spent_usd": self._budget.spent_usd,
            "reserved_usd": self._budget.reserved_usd,
            "exhausted": self._budget.exhausted,
            "lost_usd": self._lost_usd,
        }

    def _view(self) -> BudgetView:
        b = self._budget
        return BudgetView(b.spent_usd + b.reserved_usd, b.exhausted)

    # -- pacing -----------------------------------------------------------------------------

    async def acquire(self, batch: str, connection: str, tokens: int) -> None:
        """Wait for the connection's next cluster-wide slot (``ConnectionLimiter.acquire``)."""
        await self._limiters[connection].acquire(tokens)
        held = self._held.get(batch)
        if held is None:  # the batch was restarted while this call waited
            self._limiters[connection].release()
            return
        held.slots[connection] += 1

    def release(self, batch: str, connection: str) -> None:
        """A request finished."""
        held = self._held.get(batch)
        if held is None or held.slots[connection] <= 0:
            return  # already freed by begin
        held.slots[connection] -= 1
        self._limiters[connection].release()

    def settle_tokens(self, connection: str, estimated: int, actual: int) -> None:
        """``ConnectionLimiter.settle_tokens``."""
        self._limiters[connection].settle_tokens(estimated, actual)

    def on_success(self, connection: str) -> None:
        """``ConnectionLimiter.on_success``."""
        self._limiters[connection].on_success()

    def on_rate_limited(
        self, connection: str, retry_after_s: float | None, sent_age_s: float | None
    ) -> None:
        """A 429 on any worker pauses the connection for all; ``sent_age_s``: how long
        ago the request was sent (clocks of different machines are not comparable)."""
        sent_at = None if sent_age_s is None else time.monotonic() - sent_age_s
        self._limiters[connection].on_rate_limited(retry_after_s, sent_at)

    def paused_for_s(self, connection: str) -> float:
        """Seconds until the connection's current cluster-wide pause ends."""
        return self._limiters[connection].paused_for_s()

    # -- a fatal error --------------------------------------------------------------------

    def fail(self, kind: str, message: str) -> None:
        """A worker's run ended on a fatal JudgekitError (Ray passes on only its text)."""
        if self._failure is None:
            self._failure = (kind, message)

    def failure(self) -> tuple[str, str] | None:
        """The first fatal error: (exception class name in ``judgekit.errors``, message)."""
        return self._failure

    # -- notices ----------------------------------------------------------------------------

    def notice(self, message: str) -> None:
        """Keep a worker's notice once (every worker says the same things)."""
        if message not in self._noticed:
            self._noticed.add(message)
            self._notices.append(message)

    def take_notices(self) -> list[str]:
        """Notices not yet handed out, oldest first."""
        taken, self._notices = self._notices, []
        return taken


def pacing_of(plan_connections: dict[str, Any], max_in_flight: int) -> dict[str, PacingSpec]:
    """``PacingSpec`` of every connection of a plan (``RunPlan.connections``)."""
    return {
        name: PacingSpec(
            connection.config.requests_per_minute,
            connection.config.tokens_per_minute,
            max_in_flight,
        )
        for name, connection in plan_connections.items()
    }
