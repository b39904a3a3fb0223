"""``score`` as one function: check everything, run, write atomically, judge the outcome.

The CLI parses flags into a ``ScoreJob`` and calls ``score_dataset``; it knows
nothing of windows, caches or writers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pyarrow as pa

from judgekit import __version__
from judgekit.cache import AnswerCache, NoCache, default_cache_path
from judgekit.config import Config, config_hash
from judgekit.datasets import DatasetInfo, inspect_dataset, iter_windows
from judgekit.engine.plan import Overrides, RunPlan, make_plan
from judgekit.engine.run import WINDOW_ROWS, RunHooks, RunOutcome, error_rate, run
from judgekit.errors import IncompleteRun
from judgekit.output import OutputWriter, check_output_path
from judgekit.records import JudgeResult


@dataclass(frozen=True, slots=True)
class ScoreJob:
    """Everything ``judgekit score`` was asked to do."""

    dataset: str
    config: Config
    config_path: str
    output: Path
    overrides: Overrides = field(default_factory=Overrides)
    limit: int | None = None
    cache_path: Path | None = None
    use_cache: bool = True


@dataclass(frozen=True, slots=True)
class ScoreReport:
    """A finished run: its figures and whether it was clean."""

    outcome: RunOutcome
    plan: RunPlan
    dataset: DatasetInfo
    cache_path: Path | None
    problem: str | None
    """Why the run is not clean (exit 1), or None."""


class _WriterSink:
    def __init__(self, writer: OutputWriter) -> None:
        self._writer = writer

    def write(self, window: pa.Table, results: Mapping[str, Sequence[JudgeResult]]) -> None:
        self._writer.write(window, results)


def prepare(job: ScoreJob, *, require_keys: bool = True) -> tuple[DatasetInfo, RunPlan]:
    """Every check that needs no model call (also used by --dry-run and validate)."""
    check_output_path(job.output)
    dataset = inspect_dataset(job.dataset, job.config.run.id_column, job.limit)
    plan = make_plan(job.config, job.config_path, dataset, job.overrides, require_keys=require_keys)
    return dataset, plan


def open_cache(job: ScoreJob) -> AnswerCache | NoCache:
    """The answer cache this job reads and writes."""
    if not job.use_cache:
        return NoCache()
    return AnswerCache(job.cache_path or default_cache_path())


def score_dataset(job: ScoreJob, hooks: RunHooks | None = None) -> ScoreReport:
    """Run ``job``; raises usage errors before any call, AuthError/Interrupted during it."""
    dataset, plan = prepare(job)
    started_at = datetime.now(UTC)
    cache = open_cache(job)
    rows = dataset.rows if job.limit is None else min(dataset.rows, job.limit)
    judges = [(j.name, list(j.criteria)) for j in plan.judges]
    try:
        continuing = [j.name for j in plan.judges if j.continuation]
        with OutputWriter(job.output, dataset.schema, judges, continuing=continuing) as writer:
            outcome = anyio.run(
                run,
                plan,
                iter_windows(dataset, WINDOW_ROWS, job.limit),
                rows,
                _WriterSink(writer),
                cache,
                hooks or RunHooks(),
            )
            problem = _problem(outcome, plan)
            writer.commit(_metadata(job, outcome, started_at, problem))
    finally:
        cache.close()
    return ScoreReport(outcome, plan, dataset, getattr(cache, "path", None), problem)


def check_clean(report: ScoreReport) -> None:
    """Raise IncompleteRun (exit 1) when the run was not clean."""
    if report.problem is not None:
        raise IncompleteRun(report.problem)


def _problem(outcome: RunOutcome, plan: RunPlan) -> str | None:
    snapshot = outcome.snapshot
    unscored = snapshot.errors.get("budget_exhausted", 0)
    if outcome.budget_exhausted and unscored:
        return (
            f"budget of ${plan.budget_usd:g} exhausted: {unscored} judgements not scored "
            "(raise --budget-usd and rerun; answered calls come from the cache)"
        )
    rate = error_rate(snapshot)
    if rate > plan.max_error_rate:
        return (
            f"error rate {rate:.1%} is above max_error_rate {plan.max_error_rate:.1%} "
            f"({snapshot.error_count} failed judgements; see the J_error column)"
        )
    return None


def _metadata(
    job: ScoreJob, outcome: RunOutcome, started_at: datetime, problem: str | None
) -> dict[str, str]:
    totals = outcome.snapshot.as_dict()
    totals["problem"] = problem
    return {
        "judgekit.version": __version__,
        "judgekit.config_hash": config_hash(job.config),
        "judgekit.started_at": started_at.isoformat(timespec="seconds"),
        "judgekit.finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "judgekit.totals": json.dumps(totals, sort_keys=True),
    }
