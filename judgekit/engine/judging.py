"""From a row to a ``JudgeResult``: prompt, guards, call, verdict, one stricter re-ask."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from judgekit.citations import parse_citations
from judgekit.continuation import STOP, read_continuation, turns_used_up
from judgekit.engine.calls import Caller, CallOutcome
from judgekit.engine.plan import JudgePlan
from judgekit.errors import ErrorKind
from judgekit.pricing import estimate_input_tokens, worst_case_usd
from judgekit.prompts import Prompt, render, stricter
from judgekit.records import JudgeResult, ModelCall, Verdict
from judgekit.rules import apply_rule
from judgekit.validators import apply_validator
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
    fields = judge.fields
    try:
        if judge.validator is not None:
            verdict = apply_validator(
                judge.validator,
                row.get(fields["output"]) if "output" in fields else None,
                row.get(fields["tool_calls"]) if "tool_calls" in fields else None,
            )
        else:
            verdict = apply_rule(
                judge.type,  # type: ignore[arg-type]
                row.get(fields["output"]),
                judge.texts
                if judge.texts is not None
                else (row.get(fields["expected"]) if "expected" in fields else None),
                pattern=judge.pattern,
                ignore_case=judge.ignore_case,
            )
    except ValueError as exc:
        return JudgeResult(error="bad_request", reasoning=str(exc))
    # Built directly, not by replace(): this runs once per row, a million times in big runs.
    return JudgeResult(
        score=verdict.score,
        passed=verdict.score >= judge.threshold,
        reasoning=verdict.reasoning,
    )


@dataclass(frozen=True, slots=True)
class PreparedCall:
    """A row's first call, or the reason it may not be sent."""

    prompt: Prompt | None
    call: ModelCall | None
    refusal: str | None
    ask_next: bool = False
    """Whether the judge is asked the continuation question for this row."""


def prepare_call(judge: JudgePlan, row: Mapping[str, object]) -> PreparedCall:
    """Render the prompt and apply the per-call guards before anything is sent."""
    assert judge.template is not None and judge.model is not None and judge.connection
    values = row_values(judge, row)
    empty = missing_field(judge, values)
    if empty is not None:
        return PreparedCall(
            None, None, f"field '{empty}' (column '{judge.fields[empty]}') is empty"
        )
    ask_next = judge.continuation and not turns_used_up(
        values.get("history"), values.get("input"), judge.max_turns
    )
    prompt = render(judge.template, values, judge.criteria, continuation=ask_next)
    settings = judge.connection.config
    call = ModelCall(
        model=judge.model,
        system=prompt.system,
        user=prompt.user,
        max_output_tokens=settings.max_output_tokens,
        temperature=settings.temperature,
        output_mode=judge.output_mode,
        json_schema=judge.next_schema if ask_next else judge.schema,
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
    return PreparedCall(prompt, call, None, ask_next)


async def judge_llm(caller: Caller, judge: JudgePlan, row: Mapping[str, object]) -> JudgeResult:
    """Score one row with an LLM judge; failures become the row's error, never a silent 0."""
    prepared = prepare_call(judge, row)
    if prepared.refusal is not None or prepared.call is None or prepared.prompt is None:
        return JudgeResult(error="bad_request", reasoning=prepared.refusal, model=judge.model)
    assert judge.connection is not None
    ask_next = prepared.ask_next
    outcomes = [await caller.call(judge.connection, prepared.call, judge.price)]
    verdict, problem = _read(judge, outcomes[-1], ask_next)
    if verdict is None and outcomes[-1].reply is not None:
        # Not a usable verdict: exactly one re-ask, with a stricter instruction.
        strict = stricter(prepared.prompt, outcomes[-1].reply.text)
        retry = replace(prepared.call, system=strict.system, user=strict.user)
        outcomes.append(await caller.call(judge.connection, retry, judge.price))
        verdict, problem = _read(judge, outcomes[-1], ask_next)
    return _result(judge, outcomes, verdict, problem)


def _read(
    judge: JudgePlan, outcome: CallOutcome, ask_next: bool = False
) -> tuple[Verdict | None, str]:
    """The verdict in a reply, or why there is none; with ``ask_next``, the continuation
    too (a judge with ``continue_conversation`` asked nothing gets ``STOP``)."""
    if outcome.reply is None:
        return None, outcome.message
    text = outcome.reply.text
    try:
        if judge.template is not None and judge.template.kind == "citations":
            verdict = parse_citations(text)
        else:
            verdict = parse_verdict(text, judge.scale, judge.criteria, judge.weights)
        if judge.continuation:
            going = read_continuation(text) if ask_next else STOP
            verdict = replace(
                verdict, should_continue=going.should_continue, next_prompt=going.next_prompt
            )
        return verdict, ""
    except MalformedVerdict as exc:
        return None, str(exc)


def _result(
    judge: JudgePlan, outcomes: list[CallOutcome], verdict: Verdict | None, problem: str
) -> JudgeResult:
    """One row's columns from its calls (a re-ask's tokens and cost included)."""
    last = outcomes[-1]
    replies = [o.reply for o in outcomes if o.reply is not None]
    # Built in one go, not by replace(): this runs once per judge call.
    input_tokens = sum(r.usage.input_tokens for r in replies)
    output_tokens = sum(r.usage.output_tokens for r in replies)
    cost = sum(o.cost_usd for o in outcomes) if judge.price is not None else None
    model = last.reply.model if last.reply else judge.model
    response_id = last.reply.response_id if last.reply else None
    if verdict is None:
        error: ErrorKind = last.error or "malformed_response"
        return JudgeResult(
            error=error,
            reasoning=problem or None,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=cost,
            model=model,
            response_id=response_id,
        )
    return JudgeResult(
        score=verdict.score,
        passed=verdict.score >= judge.threshold,
        reasoning=verdict.reasoning,
        confidence=verdict.confidence,
        criteria=verdict.criteria,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost_usd=cost,
        latency_ms=last.latency_ms,
        model=model,
        response_id=response_id,
        should_continue=verdict.should_continue,
        next_prompt=verdict.next_prompt,
    )
