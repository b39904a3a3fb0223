"""Pairwise comparison without position bias: each row is judged in both orders.

A judge with the ``pairwise`` template sends two calls per row, each its own cache
entry: A first (``<output_a>`` holds the dataset's ``output_a``) and B first (the two
outputs swapped).  Each order gives P(A is better): 1 when A wins, 0.5 on a tie, 0 when
B wins.  The row's columns:

- ``J_score``: the mean of the two orders' P(A is better).
- ``J_winner``: ``a`` when ``J_score`` > 0.5, ``b`` when < 0.5, ``tie`` at 0.5 (a judge
  that always prefers the output shown first gives 0.5: a tie).
- ``J_position_consistent``: both orders chose the same winner (A, B or tie).
- ``J_passed``: true when A is the winner (the threshold is not used).
- ``J_reasoning``: both orders' reasons, ``A first: ...`` then ``B first: ...``.
- tokens, cost and latency: the sums over both calls (re-asks included).

A failed call (the budget included) ends the row with its error; an answered first
order stays in the cache, so the rerun pays only for the second.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from judgekit.engine.calls import Caller
from judgekit.engine.judging import PreparedCall, judge_calls, pending_result, prepare_call
from judgekit.engine.plan import JudgePlan
from judgekit.engine.sampling import with_spend
from judgekit.records import JudgeResult


def swapped_row(judge: JudgePlan, row: Mapping[str, object]) -> dict[str, object]:
    """``row`` with the columns of ``output_a`` and ``output_b`` swapped (B shown first)."""
    column_a, column_b = judge.fields["output_a"], judge.fields["output_b"]
    swapped = dict(row)
    swapped[column_a], swapped[column_b] = row.get(column_b), row.get(column_a)
    return swapped


def pairwise_calls(judge: JudgePlan, row: Mapping[str, object]) -> list[PreparedCall]:
    """The row's two prepared calls: A first, then B first."""
    return [prepare_call(judge, row), prepare_call(judge, swapped_row(judge, row))]


def winner_of(p_a: float) -> str:
    """``a``, ``b`` or ``tie`` from P(A is better)."""
    return "a" if p_a > 0.5 else "b" if p_a < 0.5 else "tie"


async def judge_pairwise(
    caller: Caller, judge: JudgePlan, row: Mapping[str, object]
) -> JudgeResult:
    """Compare the row's two outputs in both orders (module docstring)."""
    done = await judge_calls(
        caller,
        judge,
        pairwise_calls(judge, row),
        failed=lambda r: r.error is not None or r.score is None,
    )
    if done.failed_at is not None:
        result = done.results[-1]
        order = "A first" if done.failed_at == 0 else "B first"
        why = f"{order}: {result.reasoning}" if result.reasoning else None
        return with_spend(replace(result, reasoning=why), done.results)
    if done.pending:
        return pending_result(judge)
    return combine_orders(done.results[0], done.results[1])


def combine_orders(a_first: JudgeResult, b_first: JudgeResult) -> JudgeResult:
    """The row's result from the two answered orders (each ``score``: 1 when the output
    shown first won, 0.5 on a tie, 0 when the second won)."""
    assert a_first.score is not None and b_first.score is not None
    p_a_first, p_a_second = a_first.score, 1.0 - b_first.score
    score = (p_a_first + p_a_second) / 2
    winner = winner_of(score)
    combined = replace(
        b_first,
        score=score,
        passed=winner == "a",
        reasoning=f"A first: {a_first.reasoning or ''}\nB first: {b_first.reasoning or ''}",
        confidence=None,
        winner=winner,
        position_consistent=winner_of(p_a_first) == winner_of(p_a_second),
    )
    return with_spend(combined, [a_first, b_first])
