"""One model call, done properly: cache, budget, pacing, timeout, retries, fallbacks.

The provider modules only translate (``build_request`` / ``parse_response``);
sending, waiting and deciding what to do about a failure all happen here.

A 429 the connection may wait out does not spend the row's ``max_retries``: the
limiter pauses the connection as the server asked, and the row tries again when
the pause is over (at most ``MAX_RATE_LIMIT_WAITS`` times).  A connection whose
429s never clear (``ConnectionLimiter.stalled``) or that is out of quota is closed:
its remaining rows fail at once (``engine.connections``).

A reply without usage has no known cost: its worst case stays charged against the
budget, and its row's cost and token columns are null.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import anyio
import httpx

from judgekit.cache import AnswerCache, CachedAnswer, NoCache, request_key
from judgekit.engine.budget import Budget
from judgekit.engine.connections import ConnectionHealth
from judgekit.engine.limits import ConnectionLimiter
from judgekit.engine.lookahead import FirstRequest, first_requests, still_cached
from judgekit.engine.network import Transports, aiohttp_client_error
from judgekit.engine.outcomes import Attempts, CallOutcome
from judgekit.engine.plan import ConnectionPlan
from judgekit.engine.quirks import ServerQuirks
from judgekit.engine.retry import backoff_s
from judgekit.engine.stats import Counters
from judgekit.errors import AuthError
from judgekit.pricing import (
    Price,
    cost_usd,
    estimate_input_tokens,
    input_token_bound,
    worst_case_usd,
)
from judgekit.providers.failures import (
    ErrorReply,
    Failure,
    MalformedReply,
    classify_exception,
    classify_response,
)
from judgekit.records import ModelCall, Usage

MAX_ADAPTATIONS = 4
MAX_WAIT_S = 60.0
MAX_RATE_LIMIT_WAITS = 100
"""Rate-limit pauses one row may wait out (they spend no retry) before it gives up."""


@dataclass(frozen=True, slots=True)
class _Attempt:
    """One request's end: an outcome, or a failure (with the error body and send time)."""

    outcome: CallOutcome | None
    failure: Failure | None = None
    body: str = ""
    sent_at: float | None = None
    """``time.monotonic()`` when the request went out (the limiter's rounds)."""


class Caller:
    """Sends model calls for the whole run; one instance per run."""

    def __init__(
        self,
        transports: Transports,
        cache: AnswerCache | NoCache,
        budget: Budget,
        limiters: dict[str, ConnectionLimiter],
        counters: Counters,
        notice: Callable[[str], None],
        rng: random.Random | None = None,
        on_retry: Callable[[str], None] | None = None,
        halted: Callable[[], bool] = lambda: False,
    ) -> None:
        self._transports = transports
        self._health = ConnectionHealth(notice)
        self._cache = cache
        self._budget = budget
        self._limiters = limiters
        self._counters = counters
        self._notice = notice
        self._on_retry = on_retry
        self._halted = halted
        self._sending = 0
        self._rng = rng or random.Random()
        self._quirks = ServerQuirks(cache, notice)
        self._noticed: set[str] = set()

    def affords(self, call: ModelCall, price: Price | None) -> bool:
        """Whether the budget covers ``call``'s worst case right now (never waits)."""
        if price is None:
            return True
        worst = worst_case_usd(input_token_bound(call), call.max_output_tokens, price)
        return self._budget.covers(worst)

    def notice_once(self, key: str, message: str) -> None:
        """Say ``message`` once per run for ``key``."""
        if key not in self._noticed:
            self._noticed.add(key)
            self._notice(message)

    def prepare(self, connection: ConnectionPlan, call: ModelCall) -> ModelCall:
        """Apply what this connection's server is known to reject (this run or earlier)."""
        return self._quirks.apply(connection, call)

    def in_flight(self) -> int:
        """Requests on the wire right now."""
        return self._sending

    def first_requests(
        self, calls: Sequence[tuple[ConnectionPlan, ModelCall]]
    ) -> list[FirstRequest | None]:
        """The first requests of ``calls``, built and looked up in the cache together
        (``engine.lookahead``); hand each to ``call``."""
        prepared = [(c, call, self.prepare(c, call)) for c, call in calls]
        return list(first_requests(self._cache, prepared, self._quirks.learnt))

    async def call(
        self,
        connection: ConnectionPlan,
        call: ModelCall,
        price: Price | None,
        first: FirstRequest | None = None,
    ) -> CallOutcome:
        """Answer ``call`` from the cache or the provider, retrying what is transient;
        ``first``: its request from ``first_requests``, used while it is still the one."""
        if first is not None and first.asked is call and first.learnt == self._quirks.learnt:
            call = first.call  # prepared with the quirks known now
        else:
            first = None
            call = self.prepare(connection, call)
        settings = connection.config
        attempt = adaptations = waits = 0
        attempts = Attempts()
        while True:
            if first is not None:
                request, key = first.request, first.key
                cached = still_cached(self._cache, first)
                first = None
            else:
                request = connection.adapter.build_request(connection.endpoint, call)
                key = request_key(request, settings.cache_endpoint)
                cached = self._cache.get(key)
            if cached is not None:
                self._counters.cache_hits += 1
                cost = cached.cost_usd
                if cost is None and cached.reply.usage is not None and price is not None:
                    cost = cost_usd(cached.reply.usage, price)  # priced since it was paid
                self._counters.saved_usd += cost or 0.0
                attempts.add(cached.reply.usage, cost)
                return attempts.settle(
                    CallOutcome(cached.reply, None, "", cost, cached.latency_ms, cached=True)
                )
            closed = self._health.closed(connection.name)
            if closed is not None:
                return attempts.settle(CallOutcome(None, "rate_limit", closed, 0.0, None))
            sent = await self._send(connection, call, request, key, price, attempts)
            if sent.outcome is not None:
                return attempts.settle(sent.outcome)
            failure, body = sent.failure, sent.body
            assert failure is not None
            if failure.kind == "auth":
                fix = (
                    f"check {settings.api_key_env}"
                    if settings.api_key_env
                    else "this connection sends no key: set api_key_env"
                )
                raise AuthError(
                    f"connection '{connection.name}': the provider refused the credentials "
                    f"({failure.message}); {fix}"
                )
            if failure.kind == "bad_request":
                adapted = connection.adapter.adapt(call, body)
                if adapted is None or adapted == call or adaptations >= MAX_ADAPTATIONS:
                    return attempts.settle(
                        CallOutcome(None, "bad_request", failure.message, 0.0, None)
                    )
                adaptations += 1
                self._quirks.learn(connection, call, adapted)
                # A call sent before others learnt more jumps straight to what works.
                call = self.prepare(connection, adapted)
                continue
            if failure.kind == "rate_limit":
                self._counters.rate_limited += 1
                waits += 1
                waited = self._wait_out(connection, failure, sent.sent_at, waits)
                if waited is None:
                    continue  # the limiter holds the connection back; no retry spent
                return attempts.settle(waited)
            if failure.retry == "no" or attempt >= settings.max_retries:
                return attempts.settle(CallOutcome(None, failure.kind, failure.message, 0.0, None))
            attempt += 1
            self._counters.retries += 1
            if self._on_retry is not None:
                self._on_retry(
                    f"connection '{connection.name}': {failure.kind} ({failure.message}); "
                    f"retry {attempt}/{settings.max_retries}"
                )
            await anyio.sleep(backoff_s(attempt, self._rng, _capped(failure)))

    def _wait_out(
        self, connection: ConnectionPlan, failure: Failure, sent_at: float | None, waits: int
    ) -> CallOutcome | None:
        """A 429: None to try again once the connection's pause is over, else the row's
        outcome (out of quota, a limit that never clears, too many waits)."""
        if failure.lasting:
            self._health.close(
                connection,
                f"connection '{connection.name}': out of quota or credit ({failure.message}); "
                "add credit, then rerun: answered rows come from the cache",
            )
        if failure.retry == "no":  # waiting will not help (quota, one request over the limit)
            return CallOutcome(None, "rate_limit", failure.message, 0.0, None)
        limiter = self._limiters[connection.name]
        limiter.on_rate_limited(_capped(failure), sent_at)
        if limiter.stalled:
            self._health.close(
                connection,
                f"connection '{connection.name}': rate-limited in {limiter.stats.rounds} rounds "
                f"of waiting as asked, and no request passed ({failure.message}); the limit is "
                "smaller than one request (shorten the prompt or lower max_output_tokens) or "
                "the key is throttled: rerun later, answered rows come from the cache",
            )
        closed = self._health.closed(connection.name)
        if closed is not None:  # closed now, or by another row's 429 while this one was out
            return CallOutcome(None, "rate_limit", closed, 0.0, None)
        if waits > MAX_RATE_LIMIT_WAITS:
            message = f"{failure.message}; still rate-limited after {MAX_RATE_LIMIT_WAITS} waits"
            return CallOutcome(None, "rate_limit", message, 0.0, None)
        if self._on_retry is not None:
            self._on_retry(
                f"connection '{connection.name}': rate_limit ({failure.message}); "
                f"waiting {limiter.paused_for_s():.1f} s (wait {waits})"
            )
        return None

    async def _send(
        self,
        connection: ConnectionPlan,
        call: ModelCall,
        request: httpx.Request,
        key: str,
        price: Price | None,
        attempts: Attempts,
    ) -> _Attempt:
        """One attempt under budget and pacing: an outcome, or a failure to act on; what it
        was billed is added to ``attempts``."""
        estimated = estimate_input_tokens(call)
        worst = (
            worst_case_usd(input_token_bound(call), call.max_output_tokens, price) if price else 0.0
        )
        if not await self._budget.reserve(worst):
            return _Attempt(CallOutcome(None, "budget_exhausted", "budget exhausted", 0.0, None))
        limiter = self._limiters[connection.name]
        charged = 0.0  # what the budget keeps of the reservation
        sent_at: float | None = None
        try:
            await limiter.acquire(estimated + call.max_output_tokens)
            try:
                if self._halted():  # stopped while this call waited for its slot
                    return _Attempt(CallOutcome(None, "connection", "interrupted", 0.0, None))
                self._counters.requests += 1
                self._sending += 1
                sent_at = time.monotonic()
                started = time.perf_counter()
                # The transport enforces the timeout (connect, and each read): cheaper
                # per call than a cancel scope, and surfaces as httpx.TimeoutException.
                timeout_s = connection.config.timeout_s
                request.extensions["timeout"] = {
                    "connect": timeout_s,
                    "read": timeout_s,
                    "pool": timeout_s,
                }
                try:
                    response = await self._transports[connection.name].handle_async_request(request)
                    await response.aread()
                finally:
                    self._sending -= 1
                latency_ms = (time.perf_counter() - started) * 1000
            finally:
                limiter.release()
            self._health.on_response(connection, response)
            failure = classify_response(response)
            if failure is not None:
                return _Attempt(None, failure, response.text, sent_at)
            reply = connection.adapter.parse_response(response)
        except ErrorReply as exc:
            # An error in a 2xx body is billed only when it says so (no usage: an error,
            # not an unknown bill); it keeps its text: a 400 in disguise may name a parameter.
            if exc.usage is not None:
                spent, charged = self._charge(connection, exc.usage, price, worst)
                attempts.add(exc.usage, spent)
            return _Attempt(None, classify_exception(exc), response.text, sent_at)
        except MalformedReply as exc:
            # An unusable 2xx reply (refusal, cut off) is billed: what it reports, else
            # its worst case stays charged.
            attempts.cut_off = exc.problem == "cut_off"
            spent, charged = self._charge(connection, exc.usage, price, worst)
            attempts.add(exc.usage, spent)
            return _Attempt(None, classify_exception(exc), "", sent_at)
        except (httpx.HTTPError, aiohttp_client_error(), OSError, TimeoutError) as exc:
            self._health.on_exception(connection, exc)
            return _Attempt(None, classify_exception(exc), "", sent_at)
        else:
            spent, charged = self._charge(connection, reply.usage, price, worst)
            usage = reply.usage
            if usage is not None:
                limiter.settle_tokens(
                    estimated + call.max_output_tokens, usage.input_tokens + usage.output_tokens
                )
            limiter.on_success()
            self._cache.put(key, CachedAnswer(reply, spent, latency_ms))
            attempts.add(usage, spent)
            return _Attempt(CallOutcome(reply, None, "", spent, latency_ms))
        finally:
            self._budget.settle(worst, charged)

    def _charge(
        self, connection: ConnectionPlan, usage: Usage | None, price: Price | None, worst: float
    ) -> tuple[float | None, float]:
        """(the reply's cost, None when unknown; what the budget keeps) for a billed reply,
        counted in the run's totals."""
        if usage is None:
            self._counters.calls_without_usage += 1
            self._counters.charged_without_usage_usd += worst
            self._health.tell_once(
                connection,
                "usage",
                "a reply reported no token usage: its cost is unknown, so its worst case "
                "stays charged against the budget, and its row's cost and token columns are "
                "null (said once)",
            )
            return None, worst
        if price is None:
            self._counters.calls_without_price += 1
            return None, 0.0
        spent = cost_usd(usage, price)
        return spent, spent

    def tally(
        self,
        outcomes: Sequence[CallOutcome],
        input_tokens: int | None,
        output_tokens: int | None,
        cost_usd: float | None,
    ) -> None:
        """Count one row's billed tokens and spend in the run's totals exactly as the row
        shows them (``J_input_tokens``, ``J_output_tokens``, ``J_cost_usd``), so that the
        summary is the sum of the rows: a row whose tokens or cost are unknown (null) adds
        nothing for them, and cache hits are saved, not spent."""
        fresh = [o for o in outcomes if not o.cached]
        if input_tokens is not None and output_tokens is not None:
            self._counters.input_tokens += sum(o.input_tokens or 0 for o in fresh)
            self._counters.output_tokens += sum(o.output_tokens or 0 for o in fresh)
        if cost_usd is not None:
            self._counters.spent_usd += sum(o.cost_usd or 0.0 for o in fresh)


def _capped(failure: Failure) -> float | None:
    """The server's wait, capped: a reset hint of minutes should not stall a whole run."""
    if failure.retry_after_s is None:
        return None
    return min(failure.retry_after_s, MAX_WAIT_S)
