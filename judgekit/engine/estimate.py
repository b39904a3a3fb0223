"""``score --dry-run``: what a run would call and cost, calling nothing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from judgekit.batch.providers import batch_price
from judgekit.cache import request_key
from judgekit.datasets import iter_windows
from judgekit.engine.judge_row import row_calls
from judgekit.engine.run import WINDOW_ROWS
from judgekit.engine.score import ScoreJob, open_cache_for_counting, prepare
from judgekit.pricing import estimate_input_tokens, input_token_bound, worst_case_usd


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
    """Of the calls whose model has a price (``unpriced_models`` cost an unknown amount)."""
    budget_usd: float | None
    skipped: Mapping[str, str] = field(default_factory=dict)
    """Judges ``--local-only`` skipped: name -> why they could cost money."""
    unpriced_models: tuple[str, ...] = ()
    """Models of needed calls that have no known price: their cost is unknown."""
    batch_worst_case_usd: float = 0.0
    """``worst_case_usd`` at batch price (``--batch``: each connection's ``batch_discount``)."""

    @property
    def budget_covers(self) -> bool | None:
        """Whether the worst case fits the budget (None without a budget)."""
        return None if self.budget_usd is None else self.worst_case_usd <= self.budget_usd


def estimate(job: ScoreJob) -> Estimate:
    """Walk the dataset exactly as ``score`` would, without sending anything."""
    dataset, plan = prepare(job, require_keys=False)
    cache = open_cache_for_counting(job, plan)
    rows = needed = cached = refused = rules = tokens = 0
    worst = batch_worst = 0.0
    unpriced: set[str] = set()
    try:
        for window in iter_windows(dataset, WINDOW_ROWS, job.limit):
            columns = sorted({c for judge in plan.judges for c in judge.fields.values()})
            for row in window.select(columns).to_pylist():
                rows += 1
                for judge in plan.judges:
                    if not judge.is_llm:
                        rules += 1
                        continue
                    for prepared in row_calls(judge, row):  # samples and pairwise: several
                        if prepared.call is None or judge.connection is None:
                            refused += 1
                            continue
                        request = judge.connection.adapter.build_request(
                            judge.connection.endpoint, prepared.call
                        )
                        endpoint = judge.connection.config.cache_endpoint
                        if cache.contains(request_key(request, endpoint)):
                            cached += 1
                            continue
                        needed += 1
                        tokens += estimate_input_tokens(prepared.call)
                        if judge.price is None:
                            unpriced.add(prepared.call.model)
                            continue
                        bound = input_token_bound(prepared.call)
                        output_cap = prepared.call.max_output_tokens
                        worst += worst_case_usd(bound, output_cap, judge.price)
                        config = judge.connection.config
                        discounted = batch_price(judge.price, config.batch_discount)
                        batch_worst += worst_case_usd(bound, output_cap, discounted)
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
        batch_worst_case_usd=batch_worst,
        budget_usd=plan.budget_usd,
        skipped={s.name: s.reason for s in plan.skipped},
        unpriced_models=tuple(sorted(unpriced)),
    )
