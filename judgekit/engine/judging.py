"""From a row to a ``JudgeResult``: prompt, guards, call, verdict, one stricter re-ask."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from judgekit.engine.calls import Caller, CallOutcome
from judgekit.engine.plan import JudgePlan
from judgekit.errors import ErrorKind
from judgekit.pricing import estimate_input_tokens, worst_case_usd
from judgekit.prompts import Prompt, render, stricter
from judgekit.records import JudgeResult, ModelCall, Verdict
from judgekit.rules import apply_rule
from judgekit.verdicts import MalformedVerdict, parse_verdict


def row_values(judge: JudgePlan, row: Mapping[str, object]) -> dict[str, object]:
    """The judge's template fields filled from one row."""
    return {field: row.get(column) for field, column in judge.fields.items()}


def missing_field(judge: JudgePlan, values: Mapping[str, object]) -> str | None:
    """The first required field that is empty in this row, if any."""
    for field in sorted(judge.required):
        value = values.get(field)
        if value is None or (isinstance(value, str) and not value.strip()):
            return field
    return None


def judge_rule(judge: JudgePlan, row: Mapping[str, object]) -> JudgeResult:
    """Score one row with a rule judge (no network); an unjudgeable row is a bad_request."""
    try:
        verdict = apply_rule(
            judge.type,  # type: ignore[arg-type]
            row.get(judge.fields["output"]),
            row.get(judge.fields["expected"]) if "expected" in judge.fields else None,
            pattern=judge.pattern,
            ignore_case=judge.ignore_case,
        )
    except ValueError as exc:
        return JudgeResult(error="bad_request", reasoning=str(exc))
    return _success(judge, verdict, None, cost_usd=0.0, latency_ms=None)


@dataclass(frozen=True, slots=True)
class PreparedCall:
    """A row's first call, or the reason it may not be sent."""

    prompt: Prompt | None
    call: ModelCall | None
    refusal: str | None


def prepare_call(judge: JudgePlan, row: Mapping[str, object]) -> PreparedCall:
    """Render the prompt and apply the per-call guards before anything is sent."""
    assert judge.template is not None and judge.model is not None and judge.connection
    values = row_values(judge, row)
    empty = missing_field(judge, values)
    if empty is not None:
        return PreparedCall(
            None, None, f"field '{empty}' (column '{judge.fields[empty]}') is empty"
        )
    prompt = render(judge.template, values, judge.criteria)
    settings = judge.connection.config
    call = ModelCall(
        model=judge.model,
        system=prompt.system,
        user=prompt.user,
        max_output_tokens=settings.max_output_tokens,
        temperature=settings.temperature,
        output_mode=judge.output_mode,
        json_schema=judge.schema,
    )
    estimated = estimate_input_tokens(call)
    if judge.max_input_tokens is not None and estimated > judge.max_input_tokens:
        return PreparedCall(
            prompt,
            None,
            f"estimated input of {estimated} tokens exceeds "
            f"max_input_tokens {judge.max_input_tokens}",
        )
    if judge.max_cost_usd_per_call is not None and judge.price is not None:
        worst = worst_case_usd(estimated, settings.max_output_tokens, judge.price)
        if worst > judge.max_cost_usd_per_call:
            return PreparedCall(
                prompt,
                None,
                f"worst-case cost ${worst:.4f} exceeds max_cost_usd_per_call "
                f"${judge.max_cost_usd_per_call:g}",
            )
    return PreparedCall(prompt, call, None)


async def judge_llm(caller: Caller, judge: JudgePlan, row: Mapping[str, object]) -> JudgeResult:
    """Score one row with an LLM judge; failures become the row's error, never a silent 0."""
    prepared = prepare_call(judge, row)
    if prepared.refusal is not None or prepared.call is None or prepared.prompt is None:
        return JudgeResult(error="bad_request", reasoning=prepared.refusal, model=judge.model)
    assert judge.connection is not None
    first = await caller.call(judge.connection, prepared.call, judge.price)
    if first.reply is None:
        return _failure(judge, first)
    try:
        verdict = parse_verdict(first.reply.text, judge.scale, judge.criteria, judge.weights)
        return _success(judge, verdict, first, first.cost_usd, first.latency_ms)
    except MalformedVerdict:
        pass
    retry_prompt = stricter(prepared.prompt, first.reply.text)
    retry_call = ModelCall(
        model=prepared.call.model,
        system=retry_prompt.system,
        user=retry_prompt.user,
        max_output_tokens=prepared.call.max_output_tokens,
        temperature=prepared.call.temperature,
        output_mode=prepared.call.output_mode,
        json_schema=prepared.call.json_schema,
    )
    second = await caller.call(judge.connection, retry_call, judge.price)
    cost = first.cost_usd + second.cost_usd
    if second.reply is None:
        return _failure(judge, second, extra_cost=first.cost_usd, first=first)
    try:
        verdict = parse_verdict(second.reply.text, judge.scale, judge.criteria, judge.weights)
    except MalformedVerdict as exc:
        return _failure(
            judge,
            CallOutcome(second.reply, "malformed_response", str(exc), cost, second.latency_ms),
            tokens_from=(first, second),
        )
    return _success(judge, verdict, second, cost, second.latency_ms, tokens_from=(first, second))


def _success(
    judge: JudgePlan,
    verdict: Verdict,
    outcome: CallOutcome | None,
    cost_usd: float,
    latency_ms: float | None,
    tokens_from: tuple[CallOutcome, ...] = (),
) -> JudgeResult:
    input_tokens, output_tokens = _tokens(tokens_from or ((outcome,) if outcome else ()))
    reply = outcome.reply if outcome else None
    return JudgeResult(
        score=verdict.score,
        passed=verdict.score >= judge.threshold,
        reasoning=verdict.reasoning,
        confidence=verdict.confidence,
        criteria=verdict.criteria,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost_usd=cost_usd,
        latency_ms=latency_ms,
        model=reply.model if reply else judge.model,
        response_id=reply.response_id if reply else None,
    )


def _failure(
    judge: JudgePlan,
    outcome: CallOutcome,
    extra_cost: float = 0.0,
    first: CallOutcome | None = None,
    tokens_from: tuple[CallOutcome, ...] = (),
) -> JudgeResult:
    parts = tokens_from or tuple(o for o in (first, outcome) if o is not None)
    input_tokens, output_tokens = _tokens(parts)
    error: ErrorKind = outcome.error or "malformed_response"
    reply = outcome.reply
    return JudgeResult(
        error=error,
        reasoning=outcome.message or None,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost_usd=outcome.cost_usd + extra_cost,
        model=reply.model if reply else judge.model,
        response_id=reply.response_id if reply else None,
    )


def _tokens(outcomes: tuple[CallOutcome | None, ...]) -> tuple[int, int]:
    replies = [o.reply for o in outcomes if o is not None and o.reply is not None]
    return (
        sum(r.usage.input_tokens for r in replies),
        sum(r.usage.output_tokens for r in replies),
    )
