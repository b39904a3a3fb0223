"""Which way an LLM judge scores a row: one call, N samples, or a pairwise comparison.

``judge_row`` is what the run and ``judgekit try`` call per row; ``row_calls`` lists the
requests a row needs (``score --dry-run`` counts and prices them).
"""

from __future__ import annotations

from collections.abc import Mapping

from judgekit.engine.calls import Caller
from judgekit.engine.judging import PreparedCall, judge_llm, prepare_call
from judgekit.engine.pairwise import judge_pairwise, pairwise_calls
from judgekit.engine.plan import JudgePlan
from judgekit.engine.sampling import judge_samples, sample_calls
from judgekit.records import JudgeResult


async def judge_row(caller: Caller, judge: JudgePlan, row: Mapping[str, object]) -> JudgeResult:
    """Score one row with an LLM judge: ``engine.pairwise``, ``engine.sampling`` or one
    call (``engine.judging``)."""
    if judge.is_pairwise:
        return await judge_pairwise(caller, judge, row)
    if judge.samples > 1:
        return await judge_samples(caller, judge, row)
    return await judge_llm(caller, judge, row)


def row_calls(judge: JudgePlan, row: Mapping[str, object]) -> list[PreparedCall]:
    """The first calls of one row (re-asks aside): two for pairwise, N with samples."""
    if judge.is_pairwise:
        return pairwise_calls(judge, row)
    if judge.samples > 1:
        return sample_calls(judge, row)
    return [prepare_call(judge, row)]
