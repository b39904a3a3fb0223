"""Scoring one Ray Data batch on a worker with judgekit's own engine.

A batch is a plain one-machine run (``engine.run.run``: per-row judging, the Caller with
its retries and fallbacks, verdict parsing, the cache) whose budget and pacers are
stand-ins that ask the coordinator actor (``coordinator.Coordinator``), so that limits and
the hard budget hold for the cluster.  Answers go to the shared SQLite cache as soon as
they arrive: a retried batch (its worker killed) or a rerun takes them from there and
pays for nothing twice.  Per-row errors stay on their rows; only a fatal error
(credentials refused, server unreachable) fails the batch and the run.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import anyio
import pyarrow as pa

from judgekit.cache import AnswerCache, NoCache
from judgekit.config import Config
from judgekit.datasets import DatasetInfo, jsonl_lines_table
from judgekit.distributed.coordinator import BudgetView
from judgekit.engine.budget import ROUNDING_USD, Budget
from judgekit.engine.limits import ConnectionLimiter
from judgekit.engine.plan import Overrides, RunPlan, make_plan
from judgekit.engine.run import WINDOW_ROWS, RunHooks, SharedLimits, run
from judgekit.errors import JudgekitError
from judgekit.output import judge_arrays, output_schema
from judgekit.records import JudgeResult

TEXT_COLUMN = "text"
"""The column ``ray.data.read_text`` puts each JSONL line in."""


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """What every batch needs to rebuild the run's plan on its worker (no API key: a
    worker reads it from its own environment)."""

    config: Config
    config_path: str
    overrides: Overrides
    dataset: DatasetInfo
    """The input's settled schema and id column (``rows`` is not used)."""
    jsonl_lines: bool
    """Batches hold raw JSONL lines (``ray.data.read_text``), parsed here."""
    cache_path: Path | None
    """The shared cache file, resolved on the driver; None: no cache (``--no-cache``)."""


class RayBudget(Budget):
    """``Budget`` whose ledger is the coordinator's: reserve and settle go there."""

    def __init__(self, coordinator: Any, batch: str, limit_usd: float | None) -> None:
        super().__init__(limit_usd)
        self._coordinator = coordinator
        self._batch = batch
        self._view = BudgetView(0.0, False)

    async def reserve(self, worst_case_usd: float) -> bool:
        """Ask the coordinator for a reservation; False once the cluster's budget is spent.
        Without a budget there is nothing to ask (one actor round trip less per call)."""
        if self.limit_usd is None:
            return True
        ok, self._view = await self._coordinator.reserve.remote(self._batch, worst_case_usd)
        if not ok:
            self.exhausted = True
        return bool(ok)

    def settle(self, worst_case_usd: float, actual_usd: float) -> None:
        """Tell the coordinator what the call cost (not awaited: settling never waits)."""
        self.spent_usd += actual_usd
        if self.limit_usd is not None:
            self._coordinator.settle.remote(self._batch, worst_case_usd, actual_usd)

    def covers(self, worst_case_usd: float) -> bool:
        """From the coordinator's last answer; advisory only (``reserve`` decides)."""
        if self.limit_usd is None:
            return True
        fits = self._view.committed_usd + worst_case_usd <= self.limit_usd + ROUNDING_USD
        return fits and not (self.exhausted or self._view.exhausted)


class RayLimiter(ConnectionLimiter):
    """``ConnectionLimiter`` whose slots come from the coordinator; it keeps a local
    mirror of this worker's 429s for ``stalled`` and ``paused_for_s``."""

    def __init__(
        self, coordinator: Any, batch: str, connection: str, rpm: float | None, tpm: float | None
    ) -> None:
        super().__init__(rpm, tpm, 1)
        self._paces_tokens = tpm is not None
        self._coordinator = coordinator
        self._batch = batch
        self._connection = connection

    async def acquire(self, tokens: int) -> None:
        """Wait for the connection's next cluster-wide slot."""
        await self._coordinator.acquire.remote(self._batch, self._connection, tokens)

    def release(self) -> None:
        """A request finished."""
        self._coordinator.release.remote(self._batch, self._connection)

    def settle_tokens(self, estimated: int, actual: int) -> None:
        """Give back the difference between booked and real tokens, cluster-wide."""
        if self._paces_tokens:
            self._coordinator.settle_tokens.remote(self._connection, estimated, actual)

    def on_success(self) -> None:
        """Recover the pace, here and cluster-wide."""
        super().on_success()
        self._coordinator.on_success.remote(self._connection)

    def on_rate_limited(self, retry_after_s: float | None, sent_at: float | None = None) -> None:
        """Pause the connection for every worker (and count the round here)."""
        super().on_rate_limited(retry_after_s, sent_at)
        age_s = None if sent_at is None else max(0.0, time.monotonic() - sent_at)
        self._coordinator.on_rate_limited.remote(self._connection, retry_after_s, age_s)


class _Collect:
    """A run's sink that keeps the scored windows in memory (one batch's worth)."""

    def __init__(self, judges: Sequence[tuple[str, Sequence[str]]], schema: pa.Schema) -> None:
        self._judges = judges
        self.schema = schema
        self.tables: list[pa.Table] = []

    def write(self, window: pa.Table, results: Mapping[str, Sequence[JudgeResult]]) -> None:
        arrays = [*window.columns, *judge_arrays(self._judges, results)]
        self.tables.append(pa.Table.from_arrays(arrays, schema=self.schema))


def batch_key(table: pa.Table) -> str:
    """Names a batch the same way on every attempt: its size, first and last rows."""
    n = table.num_rows
    ends = table.slice(0, 1).to_pylist() + table.slice(max(0, n - 1), 1).to_pylist()
    return hashlib.sha256(f"{n}:{ends!r}".encode()).hexdigest()[:32]


def score_batch(batch: pa.Table, spec: WorkerSpec, coordinator: Any) -> pa.Table:
    """Score one batch (Ray Data ``map_batches``): its input columns, then every judge's."""
    return anyio.run(_score_batch, batch, spec, coordinator)


def input_table(batch: pa.Table, spec: WorkerSpec) -> pa.Table:
    """The batch as rows of the input schema (JSONL lines parsed the way judgekit does)."""
    schema = spec.dataset.schema.remove_metadata()
    if spec.jsonl_lines:
        lines = batch.column(TEXT_COLUMN).to_pylist()
        return jsonl_lines_table(spec.dataset, lines)
    return batch.select(schema.names).cast(schema)


async def _score_batch(batch: pa.Table, spec: WorkerSpec, coordinator: Any) -> pa.Table:
    key = batch_key(batch)
    await coordinator.begin.remote(key, os.getpid())
    table = input_table(batch, spec)
    plan = make_plan(spec.config, spec.config_path, spec.dataset, spec.overrides)
    judges = [(j.name, list(j.criteria)) for j in plan.judges]
    sink = _Collect(judges, output_schema(table.schema, judges))
    shared = _shared_limits(plan, coordinator, key)
    hooks = RunHooks(on_notice=lambda m: coordinator.notice.remote(m), handle_signals=False)
    cache = _open_cache(spec, plan)
    try:
        windows = (table.slice(at, WINDOW_ROWS) for at in range(0, table.num_rows, WINDOW_ROWS))
        outcome = await run(plan, windows, table.num_rows, sink, cache, hooks, shared=shared)
        problem = cache.problem(output_written=True)
    except JudgekitError as exc:  # AuthError & co.: the driver raises it again
        await coordinator.fail.remote(type(exc).__name__, str(exc))
        raise
    finally:
        cache.close()
    if problem is not None:
        coordinator.notice.remote(problem)
    report = asdict(outcome.snapshot)
    await coordinator.finish.remote(key, report)
    return pa.concat_tables(sink.tables) if sink.tables else sink.schema.empty_table()


def _shared_limits(plan: RunPlan, coordinator: Any, key: str) -> SharedLimits:
    limiters: dict[str, ConnectionLimiter] = {
        name: RayLimiter(
            coordinator,
            key,
            name,
            conn.config.requests_per_minute,
            conn.config.tokens_per_minute,
        )
        for name, conn in plan.connections.items()
    }
    return SharedLimits(RayBudget(coordinator, key, plan.budget_usd), limiters)


def _open_cache(spec: WorkerSpec, plan: RunPlan) -> AnswerCache | NoCache:
    """The shared answer cache (a path every worker can reach), or none."""
    if spec.cache_path is None or not any(judge.is_llm for judge in plan.judges):
        return NoCache()
    return AnswerCache(spec.cache_path)
