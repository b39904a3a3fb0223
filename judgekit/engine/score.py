"""``score`` as one function: check everything, run, write atomically, judge the outcome.

The CLI parses flags into a ``ScoreJob`` and calls ``score_dataset``; it knows
nothing of windows, caches or writers.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import pyarrow as pa

from judgekit import __version__
from judgekit.cache import AnswerCache, CountingCache, NoCache, cache_location
from judgekit.config import Config, config_hash
from judgekit.datasets import DatasetInfo, inspect_dataset, iter_windows
from judgekit.engine.calls import Caller
from judgekit.engine.plan import Overrides, RunPlan, make_plan
from judgekit.engine.run import WINDOW_ROWS, RunHooks, RunOutcome, Sink, error_rate, run
from judgekit.errors import CacheError, IncompleteRun, JudgekitError, OutputError, UsageError
from judgekit.memory import frozen_heap
from judgekit.output import OutputWriter, check_output_path, thresholds_metadata
from judgekit.output_paths import check_cache_apart, check_not_input, check_summary_path
from judgekit.pairwise_summary import PairwiseTally
from judgekit.records import JudgeResult
from judgekit.stopping import signal_handlers_kept

if TYPE_CHECKING:
    from judgekit.batch.session import BatchSession

EVENT_LOOP_OPTIONS = {"use_uvloop": importlib.util.find_spec("uvloop") is not None}
"""uvloop (a dependency where it builds: not on Windows) runs the event loop in C, which
cuts the loop's share of client CPU per call (``make bench``, S1/S2)."""


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
    summary_path: Path | None = None
    """``--summary-json``: checked before any call, written by the caller."""
    batch: bool = False
    """``--batch``: uncached calls go to the provider's batch API (``judgekit.batch``)."""


@dataclass(frozen=True, slots=True)
class ScoreReport:
    """A finished run: its figures and whether it was clean."""

    outcome: RunOutcome
    plan: RunPlan
    dataset: DatasetInfo
    cache_path: Path | None
    problem: str | None
    """Why the run is not clean (exit 1), or None."""
    pairwise: Mapping[str, PairwiseTally] = field(default_factory=dict)
    """Pairwise judges' win counts (``pairwise_summary``), for the summary."""


class _WriterSink:
    def __init__(self, writer: OutputWriter, tallies: Mapping[str, PairwiseTally]) -> None:
        self._writer = writer
        self._tallies = tallies

    def write(self, window: pa.Table, results: Mapping[str, Sequence[JudgeResult]]) -> None:
        self._writer.write(window, results)
        for judge, tally in self._tallies.items():
            tally.add(results[judge])


def prepare(job: ScoreJob, *, require_keys: bool = True) -> tuple[DatasetInfo, RunPlan]:
    """Every check that needs no model call (also used by --dry-run and validate)."""
    check_output_path(job.output)
    dataset = inspect_dataset(job.dataset, job.config.run.id_column, job.limit)
    check_not_input(job.output, dataset.files)
    if job.summary_path is not None:
        check_summary_path(job.summary_path, job.output, dataset.files, Path(job.config_path))
    if job.use_cache:
        check_cache_apart(job.cache_path, cache_clashes(job, dataset.files))
    plan = make_plan(job.config, job.config_path, dataset, job.overrides, require_keys=require_keys)
    return dataset, plan


def cache_clashes(job: ScoreJob, inputs: Sequence[Path]) -> list[tuple[Path, str]]:
    """The files the answer cache must not be, as ``check_cache_apart`` names them."""
    clashes = [(job.output, "the output (-o)")]
    clashes += [(file, "the dataset") for file in inputs]
    if job.summary_path is not None:
        clashes.append((job.summary_path, "the --summary-json file"))
    return clashes


def open_cache(
    job: ScoreJob, plan: RunPlan, notice: Callable[[str], None] = lambda _message: None
) -> AnswerCache | NoCache:
    """The answer cache this job reads and writes; none (not even a location) when
    it calls no model.  Raises CacheError (exit 2) before any call."""
    if not job.use_cache or not any(judge.is_llm for judge in plan.judges):
        return NoCache()
    # A local run journals its answers between commits (cache_journal): ~30 us of client
    # CPU less per call.  Ray workers commit each turn: a journal's answers would reach
    # the cache the other workers read only at its next flush.
    return AnswerCache(cache_location(job.cache_path), notice, journal=True)


def open_cache_for_counting(job: ScoreJob, plan: RunPlan) -> CountingCache | NoCache:
    """``--dry-run``'s read-only view of the cache: an existing file or nothing."""
    if not job.use_cache or not any(judge.is_llm for judge in plan.judges):
        return NoCache()
    try:
        location = cache_location(job.cache_path)
    except CacheError:  # no home: no cache can exist there, and a dry run needs none
        return NoCache()
    return CountingCache(location.path)


def score_dataset(job: ScoreJob, hooks: RunHooks | None = None) -> ScoreReport:
    """Run ``job``; raises usage errors before any call, AuthError/Interrupted during it."""
    dataset, plan = prepare(job)
    started_at = datetime.now(UTC)
    hooks = hooks or RunHooks()
    if job.batch and not job.use_cache:
        raise UsageError(
            "--batch keeps its batches and their answers in the answer cache: "
            "drop --no-cache (or drop --batch)"
        )
    cache = open_cache(job, plan, hooks.on_notice)
    rows = dataset.rows if job.limit is None else min(dataset.rows, job.limit)
    judges = [(j.name, list(j.criteria)) for j in plan.judges]
    # JSONL and CSV write each input value as it came in: they need the input's JSON text.
    with_json = job.output.suffix.lower() in (".jsonl", ".csv")
    batch = _batch_session(job, plan, cache, hooks)
    try:
        continuing = [j.name for j in plan.judges if j.continuation]
        sampling = [j.name for j in plan.judges if j.samples > 1]
        pairwise = [j.name for j in plan.judges if j.is_pairwise]
        tallies = {name: PairwiseTally() for name in pairwise}
        with (
            OutputWriter(
                job.output,
                dataset.schema,
                judges,
                continuing=continuing,
                sampling=sampling,
                pairwise=pairwise,
            ) as writer,
            signal_handlers_kept(),
            frozen_heap(),
        ):
            sink: Sink = _WriterSink(writer, tallies)
            if batch is not None:
                batch.collect()
                sink = batch.sink(sink)
            outcome = anyio.run(
                run,
                plan,
                iter_windows(dataset, WINDOW_ROWS, job.limit, with_json=with_json),
                rows,
                sink,
                cache,
                hooks,
                Caller if batch is None else batch.make_caller,
                # uvloop speeds calls up; a run that makes none keeps its ~2 MB
                backend_options=EVENT_LOOP_OPTIONS if any(j.is_llm for j in plan.judges) else {},
            )
            if batch is not None:
                batch.after_pass()  # BatchesPending while rows wait: OUT is not written
            problem = _joined(
                _problem(outcome, plan, cached=job.use_cache),
                cache.problem(output_written=True),
            )
            thresholds = {judge.name: judge.threshold for judge in plan.judges}
            writer.commit(
                _metadata(job, outcome, started_at, problem) | thresholds_metadata(thresholds)
            )
    except OutputError as exc:
        raise OutputError(f"{exc}; {_rerun_hint(job)}") from None
    finally:
        if batch is not None:
            batch.close()
        cache.close()
    return ScoreReport(outcome, plan, dataset, getattr(cache, "path", None), problem, tallies)


def _batch_session(
    job: ScoreJob, plan: RunPlan, cache: AnswerCache | NoCache, hooks: RunHooks
) -> BatchSession | None:
    """Batch mode's session (``judgekit.batch``) when ``--batch`` and a model is called."""
    if not job.batch or not isinstance(cache, AnswerCache):
        return None
    from judgekit.batch.session import BatchSession

    try:
        return BatchSession(plan, cache, hooks.on_notice)
    except JudgekitError:
        cache.close()
        raise


def _rerun_hint(job: ScoreJob) -> str:
    if not job.use_cache:
        return "fix that and rerun (with --no-cache every call is paid again)"
    return (
        "fix that and rerun the same command: the answers so far are in the cache, not paid again"
    )


def check_clean(report: ScoreReport) -> None:
    """Raise IncompleteRun (exit 1) when the run was not clean."""
    if report.problem is not None:
        raise IncompleteRun(report.problem)


def _joined(*problems: str | None) -> str | None:
    """Every reason a run is not clean, on one line."""
    return "; ".join(p for p in problems if p) or None


def _problem(outcome: RunOutcome, plan: RunPlan, *, cached: bool = True) -> str | None:
    snapshot = outcome.snapshot
    unscored = snapshot.errors.get("budget_exhausted", 0)
    if outcome.budget_exhausted and unscored:
        rerun = (
            "answered calls come from the cache"
            if cached
            else "under --no-cache every call is paid again"
        )
        return (
            f"budget of ${plan.budget_usd:g} exhausted: {unscored} judgements not scored "
            f"(raise --budget-usd and rerun; {rerun})"
        )
    rate = error_rate(snapshot)
    if rate > plan.max_error_rate:
        return (
            f"error rate {rate:.1%} is above max_error_rate {plan.max_error_rate:.1%} "
            f"({snapshot.llm_failed} of {snapshot.llm_judgements_done} LLM judgements failed;"
            " see the J_error column)"
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
