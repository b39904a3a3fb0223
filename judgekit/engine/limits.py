"""Per-connection pacing: requests and tokens per minute, 429 pauses, adaptive concurrency.

Declared limits are met by *spacing* requests evenly (virtual scheduling: each
request books the next free slot), a little under the declared rate, so that
a correctly declared limit produces almost no 429s even against a server that
counts in a sliding one-second window.  Token pacing books
``estimated tokens / rate`` seconds per request and gives back the difference
when the real usage is known.

A 429 pauses the whole connection until its ``Retry-After`` has passed and
slows the pace; successes bring it back gradually.  A 429 without any hint pauses
1 s, then twice as long for each further round of 429s without a success in
between (up to ``MAX_HINTLESS_PAUSE_S``).  A round is the 429s of requests sent
after the previous round's pause ended: a burst of 32 sent at once is one round,
and a round is only over once the connection waited as asked.  After
``STALL_ROUNDS`` rounds without one success, the limit is not clearing (smaller
than one request, or the key is throttled): ``stalled`` says so.  With no declared request
limit, the connection's concurrency adapts instead (halve on a 429, add one per
window of successes): AIMD, as TCP does.

Everything here runs on one event loop thread: the slot arithmetic between two
awaits is atomic, so no lock is needed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import anyio

# Booking slightly under the declared rate absorbs timer and network jitter.
PACE_MARGIN = 1.02
SLOWEST_FACTOR = 0.25
DEFAULT_PAUSE_S = 1.0
MAX_HINTLESS_PAUSE_S = 32.0
STALL_ROUNDS = 7
"""Rounds of 429s with no success in between before a connection counts as stalled:
about two minutes of pauses without hints (1+2+4+8+16+32+32 s)."""


@dataclass(slots=True)
class LimiterStats:
    """What the limiter did, for the summary."""

    rate_limited: int = 0
    paused_s: float = 0.0
    rounds: int = 0
    """Rounds of 429s since the last success (see the module docstring)."""


class ConnectionLimiter:
    """Paces one connection's requests; create one per connection per run."""

    def __init__(
        self,
        requests_per_minute: float | None,
        tokens_per_minute: float | None,
        max_in_flight: int,
    ) -> None:
        self._request_interval_s = 60.0 / requests_per_minute if requests_per_minute else 0.0
        self._token_rate_per_s = tokens_per_minute / 60.0 if tokens_per_minute else 0.0
        self._adaptive = requests_per_minute is None
        self._max_in_flight = max_in_flight
        self._in_flight_limit = float(max_in_flight)
        self._in_flight = 0
        self._next_request_at = 0.0
        self._next_tokens_at = 0.0
        self._paused_until = 0.0
        self._round_until = float("-inf")
        self._factor = 1.0
        self._changed = anyio.Event()
        self._waiters = 0
        self.stats = LimiterStats()

    async def acquire(self, tokens: int) -> None:
        """Wait until this connection may send a request of about ``tokens`` tokens."""
        while self._in_flight >= int(self._in_flight_limit):
            await self._wait_for_change()
        self._in_flight += 1
        try:
            await self._wait_for_slot(tokens)
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        """A request finished (whatever its outcome)."""
        self._in_flight -= 1
        self._notify()

    def settle_tokens(self, estimated: int, actual: int) -> None:
        """Give back (or take) the difference between booked and real token usage."""
        if self._token_rate_per_s:
            self._next_tokens_at -= (estimated - actual) / (self._token_rate_per_s * self._factor)

    def on_success(self) -> None:
        """Recover the pace and the adaptive concurrency gradually."""
        self.stats.rounds = 0
        if self._factor < 1.0:
            self._factor = min(1.0, self._factor * 1.01)
        if self._adaptive and self._in_flight_limit < self._max_in_flight:
            self._in_flight_limit = min(
                float(self._max_in_flight), self._in_flight_limit + 1.0 / self._in_flight_limit
            )
            self._notify()

    def paused_for_s(self) -> float:
        """Seconds until the connection's current 429 pause ends (0: not paused)."""
        return max(0.0, self._paused_until - time.monotonic())

    @property
    def stalled(self) -> bool:
        """Whether 429s have come for ``STALL_ROUNDS`` rounds without one success."""
        return self.stats.rounds >= STALL_ROUNDS

    def on_rate_limited(self, retry_after_s: float | None, sent_at: float | None = None) -> None:
        """A 429 for a request sent at ``sent_at`` (``time.monotonic()``; None: now):
        pause the whole connection (the server's wait, else a growing one), slow down."""
        self.stats.rate_limited += 1
        now = time.monotonic()
        if (now if sent_at is None else sent_at) >= self._round_until:
            self.stats.rounds += 1
        pause_s = retry_after_s if retry_after_s is not None else self._hintless_pause_s()
        until = now + pause_s
        self._round_until = max(self._round_until, until)
        if until > self._paused_until:
            self.stats.paused_s += until - max(now, self._paused_until)
            self._paused_until = until
        self._factor = max(SLOWEST_FACTOR, self._factor * 0.8)
        if self._adaptive:
            self._in_flight_limit = max(1.0, self._in_flight_limit / 2)

    def _hintless_pause_s(self) -> float:
        """1 s, doubling with each round of 429s since the last success."""
        doublings = max(0, self.stats.rounds - 1)
        return min(MAX_HINTLESS_PAUSE_S, DEFAULT_PAUSE_S * 2.0 ** min(doublings, 16))

    async def _wait_for_slot(self, tokens: int) -> None:
        while True:
            now = time.monotonic()
            start = max(now, self._paused_until, self._next_request_at, self._next_tokens_at)
            if self._request_interval_s:
                self._next_request_at = (
                    start + self._request_interval_s * PACE_MARGIN / self._factor
                )
            if self._token_rate_per_s:
                self._next_tokens_at = start + tokens * PACE_MARGIN / (
                    self._token_rate_per_s * self._factor
                )
            if start <= now:
                return
            await anyio.sleep(start - now)
            # A 429 may have paused the connection while we slept: book again.
            if time.monotonic() >= self._paused_until:
                return

    async def _wait_for_change(self) -> None:
        self._waiters += 1
        try:
            await self._changed.wait()
        finally:
            self._waiters -= 1

    def _notify(self) -> None:
        # Only when someone waits: a new Event per request is measurable CPU at 64+ in flight.
        if self._waiters:
            self._changed.set()
            self._changed = anyio.Event()
