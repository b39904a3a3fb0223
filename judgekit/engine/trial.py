"""``judgekit try``: one sample, one judge, the whole verdict; before a run on a whole dataset.

The sample is given field by field (``--output``, ``--input`` ...) or as a row
of a dataset (``--row ID DATASET``).  The call goes through the same path as a
run: the per-call guards (``max_input_tokens``, ``max_cost_usd_per_call``),
the ``[run]`` budget, pacing, retries, the re-ask and the answer cache, so
trying a row and then scoring its dataset pays for that row once.

Usage errors (exit 2): an unknown judge, a field the judge does not use, a
required field missing or empty, a row that is not in the dataset.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from judgekit.cache import AnswerCache, NoCache
from judgekit.cache_file import cache_location
from judgekit.config import Config
from judgekit.datasets import DatasetInfo, inspect_dataset, iter_windows, row_ids
from judgekit.engine.budget import Budget
from judgekit.engine.calls import Caller
from judgekit.engine.judge_row import judge_row
from judgekit.engine.judging import judge_rule, missing_field, missing_fields, row_values
from judgekit.engine.limits import ConnectionLimiter
from judgekit.engine.plan import JudgePlan, Overrides, RunPlan, make_plan
from judgekit.engine.run import WINDOW_ROWS, make_transports
from judgekit.engine.stats import Counters
from judgekit.errors import DatasetError, UsageError
from judgekit.records import JudgeResult


@dataclass(frozen=True, slots=True)
class TrialJob:
    """What ``judgekit try`` was asked: a judge and one sample (fields or a dataset row)."""

    config: Config
    config_path: str
    judge: str
    fields: Mapping[str, str] = field(default_factory=dict)
    """Template field -> text, from the command line (empty with ``row``)."""
    row: tuple[str, str] | None = None
    """(row id, dataset path): judge that row instead of ``fields``."""
    cache_path: Path | None = None
    use_cache: bool = True


@dataclass(frozen=True, slots=True)
class Trial:
    """One judged sample."""

    judge: JudgePlan
    result: JudgeResult
    cached: bool
    """The answer came from the cache (no new call, no new spend)."""
    requests: int
    """HTTP requests sent (retries and the re-ask included)."""

    @property
    def passed(self) -> bool:
        """Whether the verdict passes the judge's threshold (a failed call does not)."""
        return self.result.passed is True


def try_judge(job: TrialJob, notice: Callable[[str], None] = lambda _message: None) -> Trial:
    """Judge one sample; UsageError & co. before any call, AuthError during it."""
    if job.row is not None and job.fields:
        raise UsageError(
            "give the sample as fields (--output ...) or as --row ID DATASET, not both"
        )
    if job.row is None and not job.fields:
        raise UsageError(
            "give the sample: --output TEXT (and the judge's other fields), or --row ID DATASET"
        )
    overrides = Overrides(judges=(job.judge,))
    if job.row is not None:
        row_id, path = job.row
        dataset = inspect_dataset(path, job.config.run.id_column)
        plan = make_plan(job.config, job.config_path, dataset, overrides)
        judge = plan.judges[0]
        row = _find_row(dataset, judge, row_id, job.config.run.id_column)
        where = f"{path}: row '{row_id}'"
    else:
        plan = make_plan(job.config, job.config_path, None, overrides)
        judge = plan.judges[0]
        row = _row_from_fields(judge, job.fields)
    empty = missing_field(judge, row_values(judge, row))
    if empty is not None:
        flag = f"--{empty.replace('_', '-')}"
        if job.row is not None:
            column = judge.fields[empty]
            raise UsageError(
                f"{where}: field '{empty}' (column '{column}') is empty; judge '{judge.name}' "
                "needs it"
            )
        if empty in job.fields:
            raise UsageError(f"{flag} is empty (judge '{judge.name}' needs it)")
        # Every flag still to give, at once: not one per attempt.
        absent = [f for f in missing_fields(judge, row_values(judge, row)) if f not in job.fields]
        flags = " and ".join(f"--{name.replace('_', '-')}" for name in absent)
        raise UsageError(f"judge '{judge.name}' needs {flags} too")
    if not judge.is_llm:
        return Trial(judge, judge_rule(judge, row), cached=False, requests=0)
    budget_usd = plan.budget_usd
    cache = AnswerCache(cache_location(job.cache_path), notice) if job.use_cache else NoCache()
    try:
        return anyio.run(_call, plan, judge, row, cache, budget_usd, notice)
    finally:
        cache.close()


async def _call(
    plan: RunPlan,
    judge: JudgePlan,
    row: Mapping[str, object],
    cache: AnswerCache | NoCache,
    budget_usd: float | None,
    notice: Callable[[str], None],
) -> Trial:
    assert judge.connection is not None
    settings = judge.connection.config
    counters = Counters(rows_total=1, judgements_total=1)
    limiters = {
        judge.connection.name: ConnectionLimiter(
            settings.requests_per_minute, settings.tokens_per_minute, 1
        )
    }
    async with make_transports(plan) as transports:
        caller = Caller(
            transports, cache, Budget(budget_usd), limiters, counters, notice, random.Random()
        )
        result = await judge_row(caller, judge, row)
    return Trial(judge, result, cached=counters.cache_hits > 0, requests=counters.requests)


def _row_from_fields(judge: JudgePlan, fields: Mapping[str, str]) -> dict[str, object]:
    """The sample as a row keyed by the judge's columns; a field it does not use is an error."""
    unused = [name for name in fields if name not in judge.fields]
    if unused:
        uses = ", ".join(f"--{name.replace('_', '-')}" for name in judge.fields)
        raise UsageError(
            f"judge '{judge.name}' does not use --{unused[0].replace('_', '-')} (it reads {uses})"
        )
    return {judge.fields[name]: value for name, value in fields.items()}


def _find_row(
    dataset: DatasetInfo, judge: JudgePlan, row_id: str, id_column: str
) -> dict[str, object]:
    """The judge's columns of the row whose id (or 0-based index) is ``row_id``."""
    columns = sorted(set(judge.fields.values()))
    start = 0
    for window in iter_windows(dataset, WINDOW_ROWS):
        for index, ident in enumerate(row_ids(dataset, window, start)):
            if str(ident) == row_id:
                found: dict[str, object] = window.slice(index, 1).select(columns).to_pylist()[0]
                return found
        start += window.num_rows
    how = (
        f"in column '{id_column}'"
        if dataset.id_column is not None
        else f"(it has no '{id_column}' column, so rows are named by their 0-based index)"
    )
    raise DatasetError(f"{dataset.path}: no row with id '{row_id}' {how}")


def describe(trial: Trial) -> list[tuple[str, str]]:
    """The trial as (label, text) lines, in the order ``judgekit try`` prints them."""
    judge, result = trial.judge, trial.result
    kind = f"llm: {judge.model} on {judge.connection.name}" if judge.connection else "rule judge"
    name = judge.template.name if judge.template is not None and judge.is_llm else judge.type
    lines = [("judge", f"{judge.name} ({name}, {kind})")]
    if result.error is not None:
        lines.append(("verdict", f"ERROR {result.error}"))
    elif result.winner is not None:  # pairwise: passed means A won; no threshold
        word = "PASS" if trial.passed else "FAIL"
        lines.append(("verdict", f"{word} (P(A is better) {result.score:.4g}; pass = A wins)"))
    else:
        word = "PASS" if trial.passed else "FAIL"
        sign = ">=" if trial.passed else "<"
        lines.append(
            ("verdict", f"{word} (score {result.score:.4g} {sign} threshold {judge.threshold:g})")
        )
    lines.append(("reasoning", result.reasoning or "-"))
    if result.confidence is not None:
        lines.append(("confidence", f"{result.confidence:g}"))
    if result.criteria:
        lines.append(("criteria", " · ".join(f"{k} {v:.4g}" for k, v in result.criteria.items())))
    if result.vote_share is not None and result.score_stddev is not None:
        lines.append(
            (
                "samples",
                f"{judge.samples}: vote share {result.vote_share:.3g}, "
                f"score stddev {result.score_stddev:.3g}",
            )
        )
    if result.winner is not None:
        consistent = "yes" if result.position_consistent else "no"
        lines.append(("winner", f"{result.winner} (position-consistent: {consistent})"))
    if judge.continuation and result.error is None:
        going = "yes" if result.should_continue else "no"
        lines.append(
            ("continue", going if result.next_prompt is None else f"{going}: {result.next_prompt}")
        )
    if not judge.is_llm:
        lines.append(("cost", "none: a rule judge calls no model"))
        return lines
    lines.append(("tokens", f"{result.input_tokens:,} in · {result.output_tokens:,} out"))
    cost = (
        "unknown (no price for this model)"
        if result.cost_usd is None
        else f"${result.cost_usd:.6f}"
    )
    if trial.cached:
        cost += " (from the cache: nothing spent now)"
    lines.append(("cost", cost))
    latency = "-" if result.latency_ms is None else f"{result.latency_ms:.1f} ms"
    lines.append(("latency", latency + (" (when it was answered)" if trial.cached else "")))
    lines.append(("requests", str(trial.requests)))
    return lines
