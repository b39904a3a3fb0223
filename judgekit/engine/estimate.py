"""``score --dry-run``: what a run would call and cost, calling nothing."""

from __future__ import annotations

from dataclasses import dataclass

from judgekit.cache import request_key
from judgekit.datasets import iter_windows
from judgekit.engine.judging import prepare_call
from judgekit.engine.run import WINDOW_ROWS
from judgekit.engine.score import ScoreJob, open_cache_for_counting, prepare
from judgekit.pricing import estimate_input_tokens, worst_case_usd


@dataclass(frozen=True, slots=True)
class Estimate:
    """Figures of a dry run (first calls only: retries and re-asks are not foreseeable)."""

    rows: int
    judges: int
    rule_judgements: int
    calls_needed: int
    calls_cached: int
    calls_refused: int
    input_tokens: int
    worst_case_usd: float
    budget_usd: float | None

    @property
    def budget_covers(self) -> bool | None:
        """Whether the worst case fits the budget (None without a budget)."""
        return None if self.budget_usd is None else self.worst_case_usd <= self.budget_usd


def estimate(job: ScoreJob) -> Estimate:
    """Walk the dataset exactly as ``score`` would, without sending anything."""
    dataset, plan = prepare(job, require_keys=False)
    cache = open_cache_for_counting(job, plan)
    rows = needed = cached = refused = rules = tokens = 0
    worst = 0.0
    try:
        for window in iter_windows(dataset, WINDOW_ROWS, job.limit):
            columns = sorted({c for judge in plan.judges for c in judge.fields.values()})
            for row in window.select(columns).to_pylist():
                rows += 1
                for judge in plan.judges:
                    if not judge.is_llm:
                        rules += 1
                        continue
                    prepared = prepare_call(judge, row)
                    if prepared.call is None or judge.connection is None:
                        refused += 1
                        continue
                    request = judge.connection.adapter.build_request(
                        judge.connection.endpoint, prepared.call
                    )
                    if cache.contains(request_key(request)):
                        cached += 1
                        continue
                    needed += 1
                    estimated = estimate_input_tokens(prepared.call)
                    tokens += estimated
                    if judge.price is not None:
                        worst += worst_case_usd(
                            estimated, prepared.call.max_output_tokens, judge.price
                        )
    finally:
        cache.close()
    return Estimate(
        rows=rows,
        judges=len(plan.judges),
        rule_judgements=rules,
        calls_needed=needed,
        calls_cached=cached,
        calls_refused=refused,
        input_tokens=tokens,
        worst_case_usd=worst,
        budget_usd=plan.budget_usd,
    )
