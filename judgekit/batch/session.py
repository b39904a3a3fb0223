"""One ``score --batch`` run: collect what ended, judge every row from the cache, submit
the rest, and write the output only when nothing is pending.

Order of a run (``engine.score`` calls these)::

    collect()          recover unrecorded intents, poll open batches, store answers
    run(make_caller)   the usual pipeline; ``BatchCaller`` answers from the cache, else
                       queues the request and returns a pending outcome
    after_pass()       submit what was queued; raise BatchesPending (exit 3) while any
                       row waits, so the output is not written

The budget counts, across runs, what batches collected in this run cost, the worst
case of every request still pending (stored with it) and each new submission's worst
case at batch price.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import anyio
import httpx
import pyarrow as pa

from judgekit.batch.api import BatchApi, BatchApiError, ItemResult, Send
from judgekit.batch.providers import api_root, batch_api, batch_price
from judgekit.batch.state import BatchState, Billed, Queued, Submission
from judgekit.cache import AnswerCache, CachedAnswer, request_key
from judgekit.engine.calls import Caller
from judgekit.engine.lookahead import FirstRequest
from judgekit.engine.network import Transports
from judgekit.engine.outcomes import PENDING, CallOutcome
from judgekit.engine.plan import ConnectionPlan, RunPlan
from judgekit.engine.run import Sink, make_transports
from judgekit.errors import BatchesPending, IncompleteRun
from judgekit.pricing import Price, cost_usd, input_token_bound, worst_case_usd
from judgekit.providers.failures import MalformedReply, classify_exception
from judgekit.records import JudgeResult, ModelCall

"""The reasoning of a judgement waiting for a batch (never written: see ``after_pass``)."""


class BatchSession:
    """The state of one batch-mode run; see the module docstring."""

    def __init__(self, plan: RunPlan, cache: AnswerCache, notice: Any) -> None:
        """Raises ConfigError when a connection has no batch API."""
        self.plan = plan
        self.cache = cache
        self.notice = notice
        names = sorted({j.connection.name for j in plan.judges if j.is_llm and j.connection})
        self.connections = {name: plan.connections[name] for name in names}
        self.apis: dict[str, BatchApi] = {n: batch_api(c) for n, c in self.connections.items()}
        self.state = BatchState(cache.path)
        self.collected: set[str] = set()
        """Keys answered by a batch in this run: new spend, not cache hits."""
        self.collected_usd = 0.0
        self.queued: dict[str, dict[str, Queued]] = {name: {} for name in names}
        self.reserved: set[str] = set()
        self.pending_keys: set[str] = set()
        self.pending_rows = 0
        self.submitted: list[str] = []

    # -- before the pass ----------------------------------------------------------------

    def collect(self) -> None:
        """Bring every ended batch's answers into the cache (one commit per answer)."""
        anyio.run(self._collect)

    async def _collect(self) -> None:
        pairs = [(n, api_root(c)) for n, c in self.connections.items()]
        known = self.state.known_batch_ids()
        async with make_transports(self.plan) as transports:
            for submission in self.state.open_submissions(pairs):
                send = _sender(transports, self.connections[submission.connection])
                try:
                    await self._collect_one(submission, send, known)
                except BatchApiError as exc:
                    self.notice(
                        f"connection '{submission.connection}': batch "
                        f"{submission.batch_id or submission.intent_id}: {exc}; "
                        "it stays pending, the next run asks again"
                    )

    async def _collect_one(self, submission: Submission, send: Send, known: set[str]) -> None:
        api = self.apis[submission.connection]
        batch_id = submission.batch_id
        if batch_id is None:  # created, or not, by a run that died before recording it
            batch_id = await api.find(send, submission, known)
            if batch_id is None:
                self.state.abandon(submission.intent_id)
                return
            self.state.record_created(submission.intent_id, batch_id)
            known.add(batch_id)
            self.notice(
                f"connection '{submission.connection}': found batch {batch_id}, created by a "
                "run that stopped before recording it; not submitted again"
            )
        remote = await api.retrieve(send, batch_id)
        if remote.ending == "in_progress":
            return
        if remote.ending == "failed":
            for key in self.state.requests_of(submission.intent_id):
                message = f"the provider failed batch {batch_id}: {remote.detail}"
                self.state.settle_request(
                    submission.intent_id, key, "failed", "bad_request", message
                )
        else:
            self._store(submission, await api.results(send, remote))
        self.state.finish(submission.intent_id, f"batch {batch_id} {remote.ending} first")

    def _store(self, submission: Submission, items: Sequence[ItemResult]) -> None:
        """Answers into the cache, then each request's state: a crash in between only
        collects the same answer again."""
        models = self.state.requests_of(submission.intent_id)
        connection = self.connections[submission.connection]
        for item in items:
            model = models.get(item.custom_id)
            if model is None:  # not ours, or settled already
                continue
            key = item.custom_id
            if item.body is None:
                state = "failed" if item.final else "retry"
                self.state.settle_request(
                    submission.intent_id, key, state, item.error, item.message
                )
                continue
            try:
                reply = connection.adapter.parse_response(_as_response(item.body))
            except MalformedReply as exc:
                failure = classify_exception(exc)
                state = "failed" if failure.retry == "no" else "retry"
                billed = self._billed(connection, model, exc)
                self.state.settle_request(
                    submission.intent_id, key, state, failure.kind, failure.message, billed
                )
                if billed is not None:  # paid for: this run's spend, and its row's
                    self.collected.add(key)
                    self.collected_usd += billed.cost_usd or 0.0
                continue
            price = self._price(connection, model)
            cost = None
            if reply.usage is not None and price is not None:
                cost = cost_usd(reply.usage, price)
            self.cache.put(key, CachedAnswer(reply, cost, 0.0))
            self.state.settle_request(submission.intent_id, key, "answered")
            self.collected.add(key)
            self.collected_usd += cost or 0.0

    def _billed(self, connection: ConnectionPlan, model: str, exc: MalformedReply) -> Billed | None:
        """What an unusable reply (refused, cut off, empty) was billed; None for a reply
        that is not an answer at all (an error body, a broken one)."""
        if exc.problem == "malformed" or exc.usage is None:
            return None
        price = self._price(connection, model)
        cost = cost_usd(exc.usage, price) if price is not None else None
        return Billed(exc.usage.input_tokens, exc.usage.output_tokens, cost, exc.problem)

    def _price(self, connection: ConnectionPlan, model: str) -> Price | None:
        """The batch price of ``model`` on ``connection`` (a judge's price, discounted)."""
        for judge in self.plan.judges:
            if judge.connection is connection and judge.model == model and judge.price:
                return batch_price(judge.price, connection.config.batch_discount)
        return None

    # -- the pass -----------------------------------------------------------------------

    def make_caller(self, *args: Any, **kwargs: Any) -> BatchCaller:
        """The run's caller (``engine.run``'s ``make_caller``)."""
        return BatchCaller(self, *args, **kwargs)

    def sink(self, inner: Sink) -> Sink:
        """``inner``, counting the rows that wait for a batch."""
        return _CountingSink(self, inner)

    # -- after the pass -----------------------------------------------------------------

    def after_pass(self) -> None:
        """Submit what the pass queued; raise BatchesPending while any row waits."""
        if any(self.queued.values()):
            anyio.run(self._submit)
        if self.pending_rows == 0:
            return
        batches = self.state.pending_summary(self.pending_keys)
        described = ", ".join(
            f"{batch} on '{conn}' ({n} requests, submitted {_when(created)})"
            for conn, batch, created, n in batches
        )
        rows = "1 row waits" if self.pending_rows == 1 else f"{self.pending_rows} rows wait"
        plural = "batch" if len(batches) == 1 else "batches"
        waiting = f"{rows} for {len(batches)} provider {plural}: {described}"
        raise BatchesPending(
            f"{waiting}; nothing written yet: rerun the same command to collect",
            {
                "rows_pending": self.pending_rows,
                "requests_pending": len(self.pending_keys),
                "batches": [
                    {"connection": c, "batch": b, "requests": n, "submitted_at": _when(t)}
                    for c, b, t, n in batches
                ],
            },
            waiting,
        )

    async def _submit(self) -> None:
        async with make_transports(self.plan) as transports:
            for name, queued in self.queued.items():
                if not queued:
                    continue
                connection = self.connections[name]
                api = self.apis[name]
                send = _sender(transports, connection)
                for chunk in split_batches(list(queued.values()), api.max_requests, api.max_bytes):
                    await self._submit_chunk(connection, api, send, chunk)

    async def _submit_chunk(
        self, connection: ConnectionPlan, api: BatchApi, send: Send, chunk: list[Queued]
    ) -> None:
        """Intent first, then the batch, then its id: a crash anywhere pays once."""
        name = connection.name
        intent = self.state.record_intent(
            name, api_root(connection), connection.config.protocol, chunk
        )
        try:
            batch_id = await api.create(send, [q.line for q in chunk], intent)
        except BatchApiError as exc:
            if exc.refused:
                self.state.abandon(intent)
                raise IncompleteRun(
                    f"connection '{name}': the batch API refused a batch of {len(chunk)} "
                    f"requests ({exc}); nothing was submitted; fix that and rerun"
                ) from None
            self.notice(
                f"connection '{name}': creating a batch of {len(chunk)} requests failed ({exc}); "
                "the next run checks whether the provider created it before submitting again"
            )
            return
        self.state.record_created(intent, batch_id)
        self.submitted.append(batch_id)

    def close(self) -> None:
        """Close the state's database connection."""
        self.state.close()


class BatchCaller(Caller):
    """A Caller that never sends a judge call: it answers from the cache, from a
    request's final batch error, or queues the request and says it is pending."""

    def __init__(self, session: BatchSession, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._session = session
        # What batches collected in this run cost is this run's spend.
        self._budget.spent_usd += session.collected_usd

    def first_requests(
        self, calls: Sequence[tuple[ConnectionPlan, ModelCall]]
    ) -> list[FirstRequest | None]:
        """None for each: a batch run looks each call up as it queues it."""
        return [None] * len(calls)

    async def call(
        self,
        connection: ConnectionPlan,
        call: ModelCall,
        price: Price | None,
        first: FirstRequest | None = None,
    ) -> CallOutcome:
        """The cached answer, a final error, or a pending outcome (queued or in a batch);
        ``first`` is not used (``first_requests`` makes none)."""
        session = self._session
        request = connection.adapter.build_request(connection.endpoint, call)
        key = request_key(request, connection.config.cache_endpoint)
        cached = self._cache.get(key)
        if cached is not None:
            return self._from_cache(key, cached)
        known = session.state.request_state(key)
        if known.pending:
            if key not in session.reserved:  # money committed by an earlier run
                session.reserved.add(key)
                self._budget.hold(known.worst_case_usd, force=True)
            return self._pending(key)
        if known.error is not None:
            billed = known.billed
            if billed is None:
                return CallOutcome(None, known.error, known.message, 0.0, None)
            # A billed but unusable reply: its tokens and cost land on its row, and a cut-off
            # one lets judging ask again with a larger cap (in the next batch).
            return CallOutcome(
                None,
                known.error,
                known.message,
                billed.cost_usd,
                None,
                input_tokens=billed.input_tokens,
                output_tokens=billed.output_tokens,
                cut_off=billed.problem == "cut_off",
                # Spent in the run that collected it; an earlier run's bill on later rows.
                cached=key not in session.collected,
            )
        queued = session.queued[connection.name]
        if key in queued:
            return self._pending(key)
        discounted = batch_price(price, connection.config.batch_discount) if price else None
        worst = 0.0
        if discounted is not None:
            worst = worst_case_usd(input_token_bound(call), call.max_output_tokens, discounted)
        if not self._budget.hold(worst):
            return CallOutcome(None, "budget_exhausted", "budget exhausted", 0.0, None)
        line = session.apis[connection.name].line(key, request)
        queued[key] = Queued(key, call.model, worst, line)
        return self._pending(key)

    def _pending(self, key: str) -> CallOutcome:
        self._session.pending_keys.add(key)
        return CallOutcome(None, "connection", PENDING, 0.0, None)

    def _from_cache(self, key: str, cached: CachedAnswer) -> CallOutcome:
        """A cached answer; one a batch brought in this run counts as spent, not saved."""
        fresh = key in self._session.collected
        if not fresh:
            self._counters.cache_hits += 1
            self._counters.saved_usd += cached.cost_usd or 0.0
        usage = cached.reply.usage
        return CallOutcome(
            cached.reply,
            None,
            "",
            cached.cost_usd,
            cached.latency_ms,
            cached=not fresh,
            input_tokens=None if usage is None else usage.input_tokens,
            output_tokens=None if usage is None else usage.output_tokens,
        )


class _CountingSink:
    """Counts rows with a judgement pending, and passes every window on."""

    def __init__(self, session: BatchSession, inner: Sink) -> None:
        self._session = session
        self._inner = inner

    def write(self, window: pa.Table, results: Mapping[str, Sequence[JudgeResult]]) -> None:
        """Count, then hand the window to the real sink (discarded while rows wait)."""
        columns = list(results.values())
        for row in range(window.num_rows):
            if any(column[row].reasoning == PENDING for column in columns):
                self._session.pending_rows += 1
        self._inner.write(window, results)


def _sender(transports: Transports, connection: ConnectionPlan) -> Send:
    """``Send`` through the connection's transport (its proxy) with its timeout."""
    timeout_s = connection.config.timeout_s

    async def send(request: httpx.Request) -> httpx.Response:
        request.extensions["timeout"] = {"connect": timeout_s, "read": timeout_s, "pool": timeout_s}
        response = await transports[connection.name].handle_async_request(request)
        await response.aread()
        return response

    return send


def _as_response(body: dict[str, Any]) -> httpx.Response:
    """A batch answer as the online reply it stands for (what ``parse_response`` reads)."""
    return httpx.Response(200, json=body, request=httpx.Request("POST", "http://batch.invalid"))


def split_batches(queued: list[Queued], max_requests: int, max_bytes: int) -> list[list[Queued]]:
    """``queued`` split so that no batch exceeds the provider's request or byte limit."""
    chunks: list[list[Queued]] = [[]]
    size = 0
    for item in queued:
        extra = len(item.line) + 1
        if chunks[-1] and (len(chunks[-1]) >= max_requests or size + extra > max_bytes):
            chunks.append([])
            size = 0
        chunks[-1].append(item)
        size += extra
    return chunks


def _when(unix_s: float) -> str:
    """``2026-11-29T16:40:00Z``."""
    return datetime.fromtimestamp(unix_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
