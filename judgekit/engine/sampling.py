"""Self-consistency: a judge with ``samples = N`` asks N times per row and votes.

Each sample is its own request, so its own cache entry (a rerun is free): the system
prompt ends with ``Independent sample K of N.`` (``sample_marker``).  A line of the prompt
and not a ``seed`` member, because every provider takes a system prompt while ``seed``
is refused by Anthropic and the Responses API.  Samples are sent at the connection's
``temperature`` when it sets one, else at ``DEFAULT_SAMPLE_TEMPERATURE`` (0.7): at the
default temperature 0 a model answers the same way N times.

The row's columns:

- ``J_score``: the mean of the samples' scores; ``J_score_stddev``: their sample
  standard deviation (n - 1 in the denominator).
- ``J_passed``: the majority vote of the samples' own ``passed``; on a tie (an even N
  split in half) the mean score against the threshold decides.
- ``J_vote_share``: the share of samples that voted with the majority (0.5 on a tie).
- ``J_reasoning``, ``J_model``, ``J_response_id`` (and the continuation columns): of the
  first sample that voted with the majority; ``J_confidence`` and each criterion: the mean,
  None when a sample lacks it.
- ``J_input_tokens``, ``J_output_tokens``, ``J_cost_usd``, ``J_latency_ms``: the sums over
  every sample sent, failed ones included (unknown when one is unknown).

Samples are sent one after another.  Each reserves its own worst case from the budget
before it is sent (``score --dry-run`` counts N calls per row).  The first sample that
fails ends the row with that sample's error (``budget_exhausted`` when the budget ran out
mid-row): the samples answered so far are in the cache, so the rerun pays only for the
rest.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from judgekit.engine.calls import Caller
from judgekit.engine.judging import PreparedCall, judge_calls, pending_result, prepare_call
from judgekit.engine.plan import JudgePlan
from judgekit.records import JudgeResult, passes

DEFAULT_SAMPLE_TEMPERATURE = 0.7
"""Temperature of samples when the connection sets none."""


def sample_marker(sample: int, samples: int) -> str:
    """The line that makes sample ``sample`` (1-based) of ``samples`` its own request."""
    return f"Independent sample {sample} of {samples}."


def sample_calls(judge: JudgePlan, row: Mapping[str, object]) -> list[PreparedCall]:
    """The row's ``judge.samples`` prepared calls (one refusal, when the guards refuse it)."""
    prepared = prepare_call(judge, row)
    if prepared.call is None or prepared.prompt is None:
        return [prepared]
    assert judge.connection is not None
    settings = judge.connection.config
    temperature = settings.temperature
    if "temperature" not in settings.model_fields_set and not temperature:
        temperature = DEFAULT_SAMPLE_TEMPERATURE
    calls = []
    for sample in range(1, judge.samples + 1):
        system = f"{prepared.prompt.system}\n\n{sample_marker(sample, judge.samples)}"
        calls.append(
            replace(
                prepared,
                prompt=replace(prepared.prompt, system=system),
                call=replace(prepared.call, system=system, temperature=temperature),
            )
        )
    return calls


async def judge_samples(caller: Caller, judge: JudgePlan, row: Mapping[str, object]) -> JudgeResult:
    """Score one row ``judge.samples`` times and combine the answers (module docstring)."""
    done = await judge_calls(
        caller, judge, sample_calls(judge, row), failed=lambda r: r.error is not None
    )
    if done.failed_at is not None:
        return _failed(done.results, done.failed_at + 1, judge.samples)
    if done.pending:
        return pending_result(judge)
    return combine(done.results, judge.threshold)


def _failed(results: Sequence[JudgeResult], sample: int, samples: int) -> JudgeResult:
    """The row's error: the failed sample's, with every sent sample's tokens and cost."""
    last = results[-1]
    why = f"sample {sample} of {samples}: {last.reasoning}" if last.reasoning else None
    return with_spend(replace(last, reasoning=why), results)


def with_spend(result: JudgeResult, results: Sequence[JudgeResult]) -> JudgeResult:
    """``result`` carrying the summed tokens, cost and latency of ``results`` (None when any
    one is unknown: unknown is not zero)."""
    input_tokens = _total(r.input_tokens for r in results)
    output_tokens = _total(r.output_tokens for r in results)
    return replace(
        result,
        input_tokens=None if input_tokens is None else int(input_tokens),
        output_tokens=None if output_tokens is None else int(output_tokens),
        cost_usd=_total(r.cost_usd for r in results),
        latency_ms=_total(r.latency_ms for r in results),
    )


def _total(values: Iterable[float | int | None]) -> float | int | None:
    total: float | int = 0
    for value in values:
        if value is None:
            return None
        total += value
    return total


def _mean(values: Sequence[float | None]) -> float | None:
    """The mean, or None when any value is missing."""
    if not values or any(v is None for v in values):
        return None
    return statistics.fmean(v for v in values if v is not None)


def combine(results: Sequence[JudgeResult], threshold: float) -> JudgeResult:
    """One row's result from its answered samples (each with a score): mean, majority vote,
    standard deviation and vote share.  ValueError when ``results`` is empty."""
    if not results:
        raise ValueError("no samples to combine")
    scores = [r.score for r in results if r.score is not None]
    if len(scores) != len(results):
        raise ValueError("every sample needs a score")
    mean = statistics.fmean(scores)
    votes = [passes(score, threshold) for score in scores]
    ayes = sum(votes)
    if 2 * ayes == len(votes):
        passed, share = passes(mean, threshold), 0.5
    else:
        passed = 2 * ayes > len(votes)
        share = max(ayes, len(votes) - ayes) / len(votes)
    chosen = results[votes.index(passed)] if passed in votes else results[0]
    criteria = None
    if chosen.criteria is not None:
        criteria = {
            name: _mean([r.criteria.get(name) if r.criteria else None for r in results])
            for name in chosen.criteria
        }
    combined = replace(
        chosen,
        score=mean,
        passed=passed,
        confidence=_mean([r.confidence for r in results]),
        criteria=criteria,
        score_stddev=statistics.stdev(scores) if len(scores) > 1 else 0.0,
        vote_share=share,
    )
    return with_spend(combined, results)
