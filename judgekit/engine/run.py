"""The fan-out: read windows, judge every row with every judge, write in input order.

Shape of a run (all tasks in one anyio task group)::

    producer ──jobs──▶ N workers (N = concurrency) ──results──▶ window buffers
        │                                                          │
        └─ rule judges inline                 complete windows, in order ──▶ OutputWriter

At most ``WINDOWS_IN_FLIGHT`` windows are held at once, so memory stays flat
however large the dataset.  A ticker task hands progress snapshots out; a
signal task turns SIGINT/SIGTERM/SIGHUP into a graceful stop; a storing task brings
answers held while another process locks the cache to disk once it frees.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import anyio
import pyarrow as pa
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from judgekit.cache import AnswerCache, NoCache
from judgekit.engine.budget import Budget
from judgekit.engine.calls import Caller
from judgekit.engine.judge_row import judge_row
from judgekit.engine.judging import judge_prepared, judge_rule, prepare_call
from judgekit.engine.limits import ConnectionLimiter
from judgekit.engine.lookahead import LOOKAHEAD
from judgekit.engine.network import Transports, needs_tls
from judgekit.engine.plan import JudgePlan, RunPlan
from judgekit.engine.stats import Counters, Snapshot
from judgekit.engine.storing import keep_storing, store_before_exit
from judgekit.engine.windows import Sink, _flush, _Job, _open_window, _put, _State, _take, _Window
from judgekit.errors import Interrupted, JudgekitError
from judgekit.records import JudgeResult
from judgekit.stopping import STOP_SIGNALS

__all__ = [
    "GRACE_S",
    "WINDOWS_IN_FLIGHT",
    "WINDOW_ROWS",
    "RunHooks",
    "RunOutcome",
    "SharedLimits",
    "Sink",
    "error_rate",
    "make_transports",
    "plan_urls",
    "run",
]

WINDOW_ROWS = 2_000
WINDOWS_IN_FLIGHT = 3
GRACE_S = 5.0
"""After SIGINT/SIGTERM/SIGHUP, how long in-flight calls may finish before they are abandoned."""


@dataclass(frozen=True, slots=True)
class RunHooks:
    """How the engine talks to the outside without knowing who listens."""

    on_progress: Callable[[Snapshot], None] = lambda _snapshot: None
    on_notice: Callable[[str], None] = lambda _message: None
    on_retry: Callable[[str], None] | None = None
    """Called with one line per retry (``-v``); None keeps retries quiet."""
    progress_interval_s: float = 1.0
    handle_signals: bool = True


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """What a finished run reports."""

    snapshot: Snapshot
    budget_exhausted: bool


def make_transports(plan: RunPlan) -> Transports:
    """The transports of the plan's connections: one per distinct proxy (``engine.network``)."""
    routes = {name: connection.proxy for name, connection in plan.connections.items()}
    return Transports(routes, plan.concurrency, tls=needs_tls(plan_urls(plan)))


def plan_urls(plan: RunPlan) -> list[str]:
    """Every base URL and proxy URL the plan's connections use."""
    urls = [connection.endpoint.base_url for connection in plan.connections.values()]
    return urls + [c.proxy.url for c in plan.connections.values() if c.proxy is not None]


async def run(
    plan: RunPlan,
    windows: Iterator[pa.Table],
    rows_total: int,
    sink: Sink,
    cache: AnswerCache | NoCache,
    hooks: RunHooks | None = None,
    make_caller: Callable[..., Caller] = Caller,
    shared: SharedLimits | None = None,
) -> RunOutcome:
    """Judge every row of ``windows`` and hand finished windows to ``sink`` in order;
    ``make_caller`` builds the run's Caller (batch mode answers from the cache).

    ``shared``: a budget and pacers that live outside this run (``judgekit.distributed``:
    one ledger for a whole cluster); None gives the run its own."""
    run_ = _Run(plan, rows_total, sink, hooks or RunHooks(), shared)
    run_.make_caller = make_caller
    return await run_.execute(windows, cache)


@dataclass(frozen=True, slots=True)
class SharedLimits:
    """A budget and per-connection pacers shared with other runs (Ray workers)."""

    budget: Budget
    limiters: Mapping[str, ConnectionLimiter]


class _Run:
    """One run's shared state and its tasks: a producer, N workers, a ticker, a watcher.

    Everything runs on one event loop thread; the counters and window buffers are
    only touched between awaits, so they need no lock."""

    def __init__(
        self,
        plan: RunPlan,
        rows_total: int,
        sink: Sink,
        hooks: RunHooks,
        shared: SharedLimits | None = None,
    ) -> None:
        self.plan = plan
        self.sink = sink
        self.hooks = hooks
        self.llm_judges = [j for j in plan.judges if j.is_llm]
        self.counters = Counters(
            rows_total=rows_total, judgements_total=rows_total * len(plan.judges)
        )
        self.budget = Budget(plan.budget_usd) if shared is None else shared.budget
        self.limiters = (
            {
                name: ConnectionLimiter(
                    conn.config.requests_per_minute, conn.config.tokens_per_minute, plan.concurrency
                )
                for name, conn in plan.connections.items()
            }
            if shared is None
            else dict(shared.limiters)
        )
        self.state = _State()
        self.window_slots = anyio.Semaphore(WINDOWS_IN_FLIGHT)
        self.started = time.monotonic()
        self.make_caller: Callable[..., Caller] = Caller

    async def execute(
        self, windows: Iterator[pa.Table], cache: AnswerCache | NoCache
    ) -> RunOutcome:
        """Run every task to the end; raise AuthError or Interrupted when that is how it ended."""
        self._announce_unknown_prices()
        state = self.state
        # The engine runs on asyncio (anyio's asyncio backend, uvloop where installed).
        cache.commit_in_groups(asyncio.get_running_loop().call_soon)
        try:
            with _stop_signals(self.hooks.handle_signals) as signals:
                await self._judge_all(windows, cache, signals)
                await store_before_exit(cache, self.hooks.on_notice, signals)
        finally:
            cache.commit_in_groups(None)
        if state.fatal is not None:
            raise state.fatal
        if state.interrupted:
            raise Interrupted(self._interrupted(cache))
        return RunOutcome(snapshot=self._snapshot(), budget_exhausted=self.budget.exhausted)

    async def _judge_all(
        self,
        windows: Iterator[pa.Table],
        cache: AnswerCache | NoCache,
        signals: AsyncIterator[signal.Signals] | None,
    ) -> None:
        """The producer, the workers and the background tasks, until all are done."""
        plan, hooks, state = self.plan, self.hooks, self.state
        async with make_transports(plan) as transports:
            caller = self.make_caller(
                transports,
                cache,
                self.budget,
                self.limiters,
                self.counters,
                hooks.on_notice,
                random.Random(),
                on_retry=hooks.on_retry,
                halted=state.halted,
            )
            send, receive = anyio.create_memory_object_stream[_Job](max(1, plan.concurrency * 2))
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._produce, windows, send, caller)
                async with anyio.create_task_group() as background:
                    background.start_soon(self._tick)
                    background.start_soon(keep_storing, cache)
                    if signals is not None:
                        background.start_soon(
                            _watch_signals, signals, state, tg, GRACE_S, caller.in_flight
                        )
                    async with anyio.create_task_group() as workers:
                        for _ in range(plan.concurrency):
                            workers.start_soon(self._work, caller, receive.clone(), tg)
                        receive.close()
                    background.cancel_scope.cancel()

    def _interrupted(self, cache: AnswerCache | NoCache) -> str:
        """The line an interrupted run ends with: what was kept, and how to resume."""
        made = f"interrupted by {self.state.signal_name}: {self.counters.requests} calls made"
        problem = cache.problem(output_written=False)
        if problem is not None:
            return f"{made}; {problem}"
        return f"{made}, answers kept in the cache; rerun the same command to resume"

    def _announce_unknown_prices(self) -> None:
        for judge in self.llm_judges:
            if judge.price is None:
                self.hooks.on_notice(
                    f"judge '{judge.name}': no known price for model '{judge.model}'; "
                    f"{judge.name}_cost_usd will be null (set input_usd_per_mtok and "
                    "output_usd_per_mtok on its connection)"
                )

    async def _produce(
        self, windows: Iterator[pa.Table], send: MemoryObjectSendStream[_Job], caller: Caller
    ) -> None:
        """Open windows in order, score rule judges inline, queue LLM jobs row by row."""
        async with send:
            # No enumerate(): it keeps its last (index, table) pair while it reads the next.
            index = -1
            for table in windows:
                index += 1
                await self.window_slots.acquire()
                if self.state.halted():
                    return
                window = _open_window(index, table, self.plan.judges)
                ahead: list[_Job] = []
                for row, values in enumerate(window.rows):
                    for judge in self.plan.judges:
                        if not judge.is_llm:
                            self._finish(window, row, judge, judge_rule(judge, values))
                    for judge in self.llm_judges:
                        if judge.is_pairwise or judge.samples > 1:
                            ahead.append(_Job(window, row, judge))
                        else:
                            ahead.append(_Job(window, row, judge, prepare_call(judge, values)))
                    if len(ahead) >= LOOKAHEAD or row == len(window.rows) - 1:
                        for job in _looked_up(caller, ahead):
                            if self.state.halted():
                                return
                            await _put(send, job)
                        ahead = []
                # Not kept while the next window is read: a window's table may hold a whole
                # input row group, which the output frees once its last window is written.
                del table, window

    async def _work(
        self, caller: Caller, jobs: MemoryObjectReceiveStream[_Job], tg: TaskGroup
    ) -> None:
        """Answer queued jobs until the producer is done; a fatal error stops the run."""
        # Each worker closes its clone: an unclosed stream warns when collected.
        async with jobs:
            while (job := await _take(jobs)) is not None:
                if self.state.halted():
                    continue
                try:
                    if job.prepared is not None:
                        result = await judge_prepared(caller, job.judge, job.prepared, job.first)
                    else:
                        result = await judge_row(caller, job.judge, job.window.rows[job.row])
                except JudgekitError as exc:  # AuthError, UnreachableError: stop the run
                    self.state.fatal = exc
                    self.state.stopping = True
                    tg.cancel_scope.cancel()
                    return
                self._finish(job.window, job.row, job.judge, result)

    def _finish(self, window: _Window, row: int, judge: JudgePlan, result: JudgeResult) -> None:
        """Store one judgement; write every window that is complete and next in order."""
        window.results[judge.name][row] = result
        if result.error is not None:
            self.counters.errors[result.error] += 1
        if not judge.is_llm:
            self.counters.rule_judgements_done += 1
            self.counters.rule_errors += result.error is not None
        window.pending_per_row[row] -= 1
        if window.pending_per_row[row] == 0:
            self.counters.rows_done += 1
        window.pending -= 1
        self.counters.judgements_done += 1
        if window.pending == 0:
            self.state.ready[window.index] = window
            _flush(self.state, self.sink, self.window_slots)

    async def _tick(self) -> None:
        while True:
            await anyio.sleep(self.hooks.progress_interval_s)
            self.hooks.on_progress(self._snapshot())

    def _snapshot(self) -> Snapshot:
        return self.counters.snapshot(time.monotonic() - self.started, self.plan.budget_usd)


@contextmanager
def _stop_signals(enabled: bool) -> Iterator[AsyncIterator[signal.Signals] | None]:
    """One receiver of ``STOP_SIGNALS`` for the whole run, the final wait for the cache
    included: asyncio resets a signal to its default action (death) when a receiver closes."""
    if not enabled:
        yield None
        return
    with anyio.open_signal_receiver(*STOP_SIGNALS) as signals:
        yield signals


async def _watch_signals(
    signals: AsyncIterator[signal.Signals],
    state: _State,
    tg: TaskGroup,
    grace_s: float,
    in_flight: Callable[[], int],
) -> None:
    """SIGINT/SIGTERM/SIGHUP: start nothing new, let requests on the wire finish for up to
    ``grace_s`` (a second signal cuts that short), then cancel what is left."""
    async for signum in signals:
        state.stopping = True
        state.interrupted = True
        state.signal_name = signal.Signals(signum).name
        break

    async def second_signal() -> None:
        async for _ in signals:
            break
        grace.cancel()

    with anyio.move_on_after(grace_s) as grace:
        async with anyio.create_task_group() as waiting:
            waiting.start_soon(second_signal)
            while in_flight() > 0:
                await anyio.sleep(0.05)
            waiting.cancel_scope.cancel()
    tg.cancel_scope.cancel()


def _looked_up(caller: Caller, jobs: list[_Job]) -> list[_Job]:
    """``jobs``, each prepared call's first request built and looked up in the cache
    together with the others' (``engine.lookahead``), set on its job."""
    ready = [
        (i, job.judge.connection, job.prepared.call)
        for i, job in enumerate(jobs)
        if job.prepared is not None
        and job.prepared.call is not None
        and job.judge.connection is not None
    ]
    if ready:
        firsts = caller.first_requests([(connection, call) for _, connection, call in ready])
        for (i, _, _), first in zip(ready, firsts, strict=True):
            jobs[i].first = first
    return jobs


def error_rate(snapshot: Snapshot) -> float:
    """Share of LLM judgements that failed, budget exhaustion aside (``Snapshot.error_rate``)."""
    return snapshot.error_rate
