"""One model call, done properly: cache, budget, pacing, timeout, retries, fallbacks.

The provider modules only translate (``build_request`` / ``parse_response``);
sending, waiting and deciding what to do about a failure all happen here.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import aiohttp
import anyio
import httpx

from judgekit.cache import AnswerCache, CachedAnswer, NoCache, request_key
from judgekit.engine.budget import Budget
from judgekit.engine.limits import ConnectionLimiter
from judgekit.engine.plan import ConnectionPlan
from judgekit.engine.retry import backoff_s
from judgekit.engine.stats import Counters
from judgekit.errors import AuthError, ErrorKind
from judgekit.pricing import Price, cost_usd, estimate_input_tokens, worst_case_usd
from judgekit.providers.failures import (
    Failure,
    MalformedReply,
    classify_exception,
    classify_response,
)
from judgekit.providers.wire import OUTPUT_MODES
from judgekit.records import ModelCall, Reply

MAX_ADAPTATIONS = 4
MAX_WAIT_S = 60.0


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """What one logical call produced: a reply, or the error that ended it."""

    reply: Reply | None
    error: ErrorKind | None
    message: str
    cost_usd: float
    latency_ms: float | None
    cached: bool = False


@dataclass(frozen=True, slots=True)
class Quirks:
    """What a connection's server turned out not to accept, learnt once per run."""

    output_mode: str | None = None
    drop_temperature: bool = False
    token_param: str | None = None


class Caller:
    """Sends model calls for the whole run; one instance per run."""

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport,
        cache: AnswerCache | NoCache,
        budget: Budget,
        limiters: dict[str, ConnectionLimiter],
        counters: Counters,
        notice: Callable[[str], None],
        rng: random.Random | None = None,
        on_retry: Callable[[str], None] | None = None,
        halted: Callable[[], bool] = lambda: False,
    ) -> None:
        self._transport = transport
        self._cache = cache
        self._budget = budget
        self._limiters = limiters
        self._counters = counters
        self._notice = notice
        self._on_retry = on_retry
        self._halted = halted
        self._sending = 0
        self._rng = rng or random.Random()
        self._quirks: dict[str, Quirks | None] = {}

    def prepare(self, connection: ConnectionPlan, call: ModelCall) -> ModelCall:
        """Apply what this connection's server is known to reject (this run or earlier)."""
        quirks = self._known_quirks(_endpoint_key(connection, call))
        if quirks is None:
            return call
        if quirks.output_mode is not None and _rank(quirks.output_mode) > _rank(call.output_mode):
            call = replace(call, output_mode=quirks.output_mode)  # type: ignore[arg-type]
        if quirks.drop_temperature:
            call = replace(call, temperature=None)
        if quirks.token_param is not None:
            call = replace(call, token_param=quirks.token_param)  # type: ignore[arg-type]
        return call

    def in_flight(self) -> int:
        """Requests on the wire right now."""
        return self._sending

    async def call(
        self, connection: ConnectionPlan, call: ModelCall, price: Price | None
    ) -> CallOutcome:
        """Answer ``call`` from the cache or the provider, retrying what is transient."""
        call = self.prepare(connection, call)
        settings = connection.config
        attempt = adaptations = 0
        while True:
            request = connection.adapter.build_request(connection.endpoint, call)
            key = request_key(request, settings.cache_endpoint)
            cached = self._cache.get(key)
            if cached is not None:
                self._counters.cache_hits += 1
                self._counters.saved_usd += cached.cost_usd
                return CallOutcome(
                    cached.reply, None, "", cached.cost_usd, cached.latency_ms, cached=True
                )
            outcome, failure, body = await self._send(connection, call, request, key, price)
            if outcome is not None:
                return outcome
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
                    return CallOutcome(None, "bad_request", failure.message, 0.0, None)
                adaptations += 1
                self._learn(connection, call, adapted)
                # A call sent before others learnt more jumps straight to what works.
                call = self.prepare(connection, adapted)
                continue
            if failure.kind == "rate_limit":
                self._counters.rate_limited += 1
                if failure.retry != "no":  # "no": out of quota, waiting will not help
                    self._limiters[connection.name].on_rate_limited(_capped(failure))
            if failure.retry == "no" or attempt >= settings.max_retries:
                return CallOutcome(None, failure.kind, failure.message, 0.0, None)
            attempt += 1
            self._counters.retries += 1
            if self._on_retry is not None:
                self._on_retry(
                    f"connection '{connection.name}': {failure.kind} ({failure.message}); "
                    f"retry {attempt}/{settings.max_retries}"
                )
            if failure.kind != "rate_limit":  # the limiter already holds the connection back
                await anyio.sleep(backoff_s(attempt, self._rng, _capped(failure)))

    async def _send(
        self,
        connection: ConnectionPlan,
        call: ModelCall,
        request: httpx.Request,
        key: str,
        price: Price | None,
    ) -> tuple[CallOutcome | None, Failure | None, str]:
        """One attempt under budget and pacing: (outcome, None, "") or (None, failure, body)."""
        estimated = estimate_input_tokens(call)
        worst = worst_case_usd(estimated, call.max_output_tokens, price) if price else 0.0
        if not await self._budget.reserve(worst):
            return CallOutcome(None, "budget_exhausted", "budget exhausted", 0.0, None), None, ""
        limiter = self._limiters[connection.name]
        spent = 0.0
        try:
            await limiter.acquire(estimated + call.max_output_tokens)
            try:
                if self._halted():  # stopped while this call waited for its slot
                    return CallOutcome(None, "connection", "interrupted", 0.0, None), None, ""
                self._counters.requests += 1
                self._sending += 1
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
                    response = await self._transport.handle_async_request(request)
                    await response.aread()
                finally:
                    self._sending -= 1
                latency_ms = (time.perf_counter() - started) * 1000
            finally:
                limiter.release()
            failure = classify_response(response)
            if failure is not None:
                return None, failure, response.text
            reply = connection.adapter.parse_response(response)
        except MalformedReply as exc:
            # An unusable reply (refusal, cut off) is still billed when it reports usage.
            if exc.usage is not None and price is not None:
                spent = cost_usd(exc.usage, price)
                self._counters.spent_usd += spent
            return None, classify_exception(exc), ""
        except (httpx.HTTPError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            return None, classify_exception(exc), ""
        else:
            spent = cost_usd(reply.usage, price) if price else 0.0
            usage = reply.usage
            limiter.settle_tokens(
                estimated + call.max_output_tokens, usage.input_tokens + usage.output_tokens
            )
            limiter.on_success()
            self._cache.put(key, CachedAnswer(reply, spent, latency_ms))
            self._counters.input_tokens += usage.input_tokens
            self._counters.output_tokens += usage.output_tokens
            self._counters.spent_usd += spent
            return CallOutcome(reply, None, "", spent, latency_ms), None, ""
        finally:
            self._budget.settle(worst, spent)

    def _known_quirks(self, endpoint: str) -> Quirks | None:
        """This run's quirks for ``endpoint``, loaded once from the cache."""
        if endpoint not in self._quirks:
            stored = self._cache.get_quirks(endpoint)
            self._quirks[endpoint] = Quirks(**json.loads(stored)) if stored else None
        return self._quirks[endpoint]

    def _learn(self, connection: ConnectionPlan, before: ModelCall, after: ModelCall) -> None:
        """Remember a fallback for the rest of the run and say so once."""
        endpoint = _endpoint_key(connection, before)
        old = self._known_quirks(endpoint) or Quirks()
        # Only ever down the ladder: a call that was in flight while another learnt a
        # lower mode must not bring back a mode the server is known to reject.
        moved = after.output_mode != before.output_mode
        quirks = Quirks(
            output_mode=after.output_mode
            if moved and _rank(after.output_mode) > _rank(old.output_mode)
            else old.output_mode,
            drop_temperature=old.drop_temperature
            or (after.temperature is None and before.temperature is not None),
            token_param=after.token_param
            if after.token_param != before.token_param
            else old.token_param,
        )
        if quirks != old:
            self._quirks[endpoint] = quirks
            self._cache.put_quirks(endpoint, json.dumps(asdict(quirks)))
            self._notice(f"connection '{connection.name}': {_describe_change(before, after)}")


def _endpoint_key(connection: ConnectionPlan, call: ModelCall) -> str:
    """What quirks belong to: a server, its wire format and the model (reasoning models
    reject temperature where others on the same server accept it)."""
    return f"{connection.config.protocol} {connection.endpoint.base_url} {call.model}"


def _rank(mode: str | None) -> int:
    """Position of an output mode on the fallback ladder (-1: none learnt yet)."""
    return OUTPUT_MODES.index(mode) if mode in OUTPUT_MODES else -1


def _capped(failure: Failure) -> float | None:
    """The server's wait, capped: a reset hint of minutes should not stall a whole run."""
    if failure.retry_after_s is None:
        return None
    return min(failure.retry_after_s, MAX_WAIT_S)


def _describe_change(before: ModelCall, after: ModelCall) -> str:
    if after.output_mode != before.output_mode:
        return (
            f"the server rejected output mode {before.output_mode}; using {after.output_mode} "
            "for the rest of the run"
        )
    if after.temperature is None and before.temperature is not None:
        return "the model rejects 'temperature'; sending none for the rest of the run"
    return f"the server wants '{after.token_param}'; using it for the rest of the run"
