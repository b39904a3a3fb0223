"""From a row to a ``JudgeResult``: prompt, guards, call, verdict, and at most two re-asks.

- A reply cut off at ``max_output_tokens`` gets one re-ask with the cap doubled, when
  the budget (and ``max_cost_usd_per_call``) covers it; a refusal or an empty reply
  gets none (the same request gets the same answer at temperature 0, paid again).
- A reply that holds no usable verdict gets one re-ask with a stricter instruction.

Every attempt's billed tokens and cost land on the row (``J_input_tokens``,
``J_output_tokens``, ``J_cost_usd``), whatever became of it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar, cast

from judgekit.citations import parse_citations
from judgekit.continuation import STOP, read_continuation, turns_used_up
from judgekit.engine.calls import Caller
from judgekit.engine.lookahead import FirstRequest
from judgekit.engine.outcomes import PENDING, CallOutcome
from judgekit.engine.plan import JudgePlan
from judgekit.errors import ErrorKind
from judgekit.pairwise import parse_pairwise
from judgekit.pricing import estimate_input_tokens, input_token_bound, worst_case_usd
from judgekit.prompts import Prompt, render, stricter
from judgekit.records import JudgeResult, ModelCall, Verdict, passes
from judgekit.rules import apply_rule
from judgekit.templates import ANSWER_FIELDS
from judgekit.validators import apply_validator
from judgekit.verdicts import MalformedVerdict, parse_verdict

_N = TypeVar("_N", int, float)

_FIRST_WINS = {"first": 1.0, "tie": 0.5, "second": 0.0}

MAX_OUTPUT_TOKENS = 200_000
"""A re-ask never asks for more output than this (the config's own ceiling)."""


def row_values(judge: JudgePlan, row: Mapping[str, object]) -> dict[str, object]:
    """The judge's template fields filled from one row."""
    return {field: row.get(column) for field, column in judge.fields.items()}


def missing_field(judge: JudgePlan, values: Mapping[str, object]) -> str | None:
    """The first required field that is empty in this row, if any.

    The answer under test (``output``, or a pairwise judge's ``output_a`` and ``output_b``)
    is never missing: an empty, null or absent answer
    is a legitimate answer, sent to the judge as an empty ``<output>`` block; every
    template says how to score it."""
    missing = missing_fields(judge, values)
    return missing[0] if missing else None


def missing_fields(judge: JudgePlan, values: Mapping[str, object]) -> list[str]:
    """Every required field that is empty in this row, in name order (``missing_field``)."""
    missing = []
    for field in sorted(judge.required):
        if field in ANSWER_FIELDS:  # pairwise: both are answers
            continue
        value = values.get(field)
        if value is None or (isinstance(value, str) and not value.strip()):
            missing.append(field)
    return missing


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
        passed=passes(verdict.score, judge.threshold),
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
    prompt = render(
        judge.template, values, judge.criteria, continuation=ask_next, examples=judge.examples
    )
    settings = judge.connection.config
    call = ModelCall(
        model=judge.model,
        system=prompt.system,
        user=prompt.user,
        max_output_tokens=settings.max_output_tokens,
        temperature=settings.temperature,
        output_mode=judge.output_mode,
        json_schema=judge.next_schema if ask_next else judge.schema,
        params=judge.params,
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
        bound = input_token_bound(call)
        worst = worst_case_usd(bound, settings.max_output_tokens, judge.price)
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
    return await judge_prepared(caller, judge, prepare_call(judge, row))


async def judge_prepared(
    caller: Caller, judge: JudgePlan, prepared: PreparedCall, first: FirstRequest | None = None
) -> JudgeResult:
    """One call's ``JudgeResult`` from a prepared call, with its re-asks (module docstring);
    ``engine.sampling`` and ``engine.pairwise`` send their variants of a row through here.
    ``first``: the call's request, built and looked up ahead (``engine.lookahead``)."""
    if prepared.refusal is not None or prepared.call is None or prepared.prompt is None:
        return JudgeResult(error="bad_request", reasoning=prepared.refusal, model=judge.model)
    assert judge.connection is not None
    ask_next = prepared.ask_next
    call = prepared.call
    outcomes = [await caller.call(judge.connection, call, judge.price, first)]
    why_not = ""
    if outcomes[-1].cut_off:
        larger, why_not = _larger_cap(caller, judge, call)
        if larger is not None:
            call = larger
            outcomes.append(await caller.call(judge.connection, call, judge.price))
    verdict, problem = _read(judge, outcomes[-1], ask_next)
    if verdict is None and outcomes[-1].reply is not None:
        # Not a usable verdict: exactly one re-ask, with a stricter instruction.
        strict = stricter(prepared.prompt, outcomes[-1].reply.text)
        retry = replace(call, system=strict.system, user=strict.user)
        outcomes.append(await caller.call(judge.connection, retry, judge.price))
        verdict, problem = _read(judge, outcomes[-1], ask_next)
    if outcomes[-1].cut_off:
        problem = _cut_off_reason(prepared.call.max_output_tokens, call.max_output_tokens, why_not)
    elif len(outcomes) > 1 and outcomes[0].cut_off:
        caller.notice_once(
            f"cut off {judge.connection.name}",
            f"connection '{judge.connection.name}': replies are cut off at max_output_tokens = "
            f"{prepared.call.max_output_tokens} and asked again with "
            f"{call.max_output_tokens}; raise max_output_tokens to pay for one call, not two",
        )
    result = _result(judge, outcomes, verdict, problem)
    caller.tally(outcomes, result.input_tokens, result.output_tokens, result.cost_usd)
    return result


def _larger_cap(caller: Caller, judge: JudgePlan, call: ModelCall) -> tuple[ModelCall | None, str]:
    """The re-ask of a cut-off call with its output cap doubled, or (None, why not)."""
    cap = min(2 * call.max_output_tokens, MAX_OUTPUT_TOKENS)
    if cap <= call.max_output_tokens:
        return None, ""
    larger = replace(call, max_output_tokens=cap)
    if judge.max_cost_usd_per_call is not None and judge.price is not None:
        worst = worst_case_usd(estimate_input_tokens(larger), cap, judge.price)
        if worst > judge.max_cost_usd_per_call:
            return None, f"no re-ask at {cap}: its worst case exceeds max_cost_usd_per_call"
    if not caller.affords(larger, judge.price):
        return None, f"no re-ask at {cap}: the budget cannot cover it"
    return larger, ""


def _cut_off_reason(configured: int, last_cap: int, why_not: str) -> str:
    """What the row says when its reply stayed cut off: the cause and the fix."""
    if last_cap > configured:
        return (
            f"cut off at max_output_tokens = {last_cap} (asked again with twice the "
            f"configured {configured}); raise max_output_tokens"
        )
    detail = f" ({why_not})" if why_not else ""
    return f"cut off at max_output_tokens = {configured}{detail}; raise max_output_tokens"


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
        elif judge.template is not None and judge.template.kind == "pairwise":
            # Per order: 1 when the output shown first wins (engine.pairwise maps it to A/B).
            pair = parse_pairwise(text)
            verdict = Verdict(_FIRST_WINS[pair.winner], pair.reasoning)
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


def _known_sum(values: Iterable[_N | None]) -> _N | None:
    """The sum, or None when any value is unknown (a reply without usage, no price)."""
    total: Any = 0
    for value in values:
        if value is None:
            return None
        total += value
    return cast("_N | None", total)


def _result(
    judge: JudgePlan, outcomes: list[CallOutcome], verdict: Verdict | None, problem: str
) -> JudgeResult:
    """One row's columns from its calls (a re-ask's tokens and cost included)."""
    last = outcomes[-1]
    # Built in one go, not by replace(): this runs once per judge call.  Every attempt
    # counts, the unusable but billed ones included; unknown (None) is not zero.
    input_tokens = _known_sum(o.input_tokens for o in outcomes)
    output_tokens = _known_sum(o.output_tokens for o in outcomes)
    cost = _known_sum(o.cost_usd for o in outcomes) if judge.price is not None else None
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
        passed=passes(verdict.score, judge.threshold),
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


@dataclass(frozen=True, slots=True)
class CallsJudged:
    """Several calls of one row (samples, pairwise orders), judged in order."""

    results: list[JudgeResult]
    """The answered calls, up to and including the first failed one."""
    failed_at: int | None
    """0-based position of the first failed call among all the row's calls, or None."""
    pending: bool
    """Some call waits in a provider batch (batch mode): the row is not done yet."""


async def judge_calls(
    caller: Caller,
    judge: JudgePlan,
    calls: Iterable[PreparedCall],
    failed: Callable[[JudgeResult], bool],
) -> CallsJudged:
    """Judge ``calls`` one after another; stop at the first result ``failed`` says is a
    failure.  A call pending in a provider batch is passed over, so that every other call
    of the row is queued in the same batch."""
    results: list[JudgeResult] = []
    pending = False
    for position, prepared in enumerate(calls):
        result = await judge_prepared(caller, judge, prepared)
        if result.reasoning == PENDING:
            pending = True
            continue
        results.append(result)
        if failed(result):
            return CallsJudged(results, position, pending)
    return CallsJudged(results, None, pending)


def pending_result(judge: JudgePlan) -> JudgeResult:
    """The row's result while a call of it waits in a provider batch."""
    return JudgeResult(error="connection", reasoning=PENDING, model=judge.model)
