"""The fake judge's answers to the citations template and to the continuation question.

Like ``fake_verdicts``, a stand-in computed from the prompt, not a judge.

Citations (asked when the instructions hold ``Citation verdicts:`` or the
schema has a top-level ``citations`` property):

- A citation is a bracketed number in ``<output>``: ``[2]``, and ``[1, 3]``
  counts as two.  Its claim is the sentence it closes (from the previous
  ``.``, ``!``, ``?`` or the start, to the marker), markers removed.
- Source N is the text in ``<context>`` from a ``[N]`` at the start of a line
  to the next such line.
- Verdict: ``missing_source`` when no source N exists; ``supported`` when at
  least half of the claim's tokens occur in source N; else ``unsupported``.

Pairwise (asked when the instructions hold ``Pairwise winner:`` or the schema has a
``winner`` property): ``pairwise_answer``; the ``position_bias`` switch favours the
output shown first.

Self-consistency samples (an ``Independent sample K of N.`` line): the graded
verdict's 0..1 base is shifted by ``sample_shift`` (-0.1, 0, +0.1), so the samples
differ deterministically.

Continuation (asked when the instructions hold ``Continuation:`` or the schema
has a ``should_continue`` property): ``should_continue`` is the fake's
``should_continue`` switch; ``next_prompt`` is ``Thanks. What else should I
know about "<the first sentence of the input, or of the output>"?`` when it
goes on, null when it ends.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from judgekit.testing.fake_verdicts import PromptFacts, token_f1, tokens, verdict_for

CITATIONS_MARK = "Citation verdicts: "
CONTINUATION_MARK = "Continuation: should_continue"
PAIRWISE_MARK = "Pairwise winner: "
_SAMPLE = re.compile(r"Independent sample (\d+) of (\d+)\.")

_MARKER = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
_SOURCE_LINE = re.compile(r"^\s*\[(\d+)\]", re.MULTILINE)
_SENTENCE_END = re.compile(r"[.!?](?=\s)")


def asks_citations(instructions: str, schema: Mapping[str, Any] | None) -> bool:
    """Whether the prompt (or the schema sent with it) asks for per-citation verdicts."""
    return CITATIONS_MARK in instructions or "citations" in _properties(schema)


def asks_continuation(instructions: str, schema: Mapping[str, Any] | None) -> bool:
    """Whether the prompt (or the schema) asks whether the conversation goes on."""
    return CONTINUATION_MARK in instructions or "should_continue" in _properties(schema)


def _properties(schema: Mapping[str, Any] | None) -> Mapping[str, Any]:
    props = schema.get("properties") if isinstance(schema, Mapping) else None
    return props if isinstance(props, Mapping) else {}


def sources(context: str) -> dict[str, str]:
    """Source number -> its text, from ``[N]`` lines of the context."""
    starts = list(_SOURCE_LINE.finditer(context))
    found = {}
    for index, match in enumerate(starts):
        end = starts[index + 1].start() if index + 1 < len(starts) else len(context)
        found[match.group(1)] = context[match.end() : end].strip()
    return found


def citation_verdicts(output: str, context: str) -> list[dict[str, str]]:
    """One ``{marker, claim, verdict}`` per cited source number, in order."""
    known = sources(context)
    verdicts = []
    start = 0
    for match in _MARKER.finditer(output):
        before = output[start : match.start()]
        ends = list(_SENTENCE_END.finditer(before))
        claim = _MARKER.sub("", before[ends[-1].end() :] if ends else before).strip()
        start = match.end()
        for number in re.split(r"\s*,\s*", match.group(1)):
            source = known.get(number)
            if source is None:
                verdict = "missing_source"
            else:
                words = tokens(claim)
                found = set(tokens(source))
                share = sum(w in found for w in words) / len(words) if words else 0.0
                verdict = "supported" if share >= 0.5 else "unsupported"
            verdicts.append({"marker": f"[{number}]", "claim": claim, "verdict": verdict})
    return verdicts


def citations_answer(fields: Mapping[str, str]) -> dict[str, Any]:
    """The fake's whole answer to a citations prompt."""
    verdicts = citation_verdicts(fields.get("output", ""), fields.get("context", ""))
    supported = sum(v["verdict"] == "supported" for v in verdicts)
    reasoning = (
        f"{supported} of {len(verdicts)} citations are supported by the source they cite."
        if verdicts
        else "The output cites no source."
    )
    return {"reasoning": reasoning, "citations": verdicts, "confidence": 0.9}


def continuation_keys(fields: Mapping[str, str], should_continue: bool) -> dict[str, Any]:
    """``should_continue`` and ``next_prompt`` as the fake answers them."""
    if not should_continue:
        return {"should_continue": False, "next_prompt": None}
    text = " ".join((fields.get("input") or fields.get("output") or "this").split())
    first = _SENTENCE_END.split(text + " ", maxsplit=1)[0].rstrip(".!?,;: ")
    return {
        "should_continue": True,
        "next_prompt": f'Thanks. What else should I know about "{first}"?',
    }


def sample_shift(instructions: str) -> float:
    """The base-score shift of a self-consistency sample: -0.1, 0, +0.1 for samples 1, 2, 3
    (then again from 4), 0 without an ``Independent sample K of N.`` line."""
    match = _SAMPLE.search(instructions)
    if match is None:
        return 0.0
    return ((int(match.group(1)) - 1) % 3 - 1) / 10


def asks_pairwise(instructions: str, schema: Mapping[str, Any] | None) -> bool:
    """Whether the prompt (or the schema) asks which of two outputs is better."""
    return PAIRWISE_MARK in instructions or "winner" in _properties(schema)


def pairwise_answer(fields: Mapping[str, str], position_bias: float = 0.0) -> dict[str, Any]:
    """The fake's answer to a pairwise prompt: each output's figure is its token F1 against
    ``<expected>`` (without one: 0.8 from 5 tokens up, else 0.3); the output shown first
    gets ``position_bias`` added; figures within 0.05 of each other are a tie."""
    first, second = fields.get("output_a", ""), fields.get("output_b", "")
    expected = fields.get("expected")
    figures = [
        token_f1(text, expected)
        if expected is not None
        else (0.8 if len(tokens(text)) >= 5 else 0.3)
        for text in (first, second)
    ]
    figures[0] += position_bias
    if abs(figures[0] - figures[1]) <= 0.05:
        winner = "tie"
    else:
        winner = "A" if figures[0] > figures[1] else "B"
    reasoning = (
        f"<output_a> scores {figures[0]:.2f} and <output_b> {figures[1]:.2f}: "
        f"{'a tie' if winner == 'tie' else winner + ' is better'}."
    )
    return {"reasoning": reasoning, "winner": winner}


def answer_for(
    facts: PromptFacts,
    schema: Mapping[str, Any] | None,
    *,
    should_continue: bool = True,
    out_of_scale: bool = False,
    position_bias: float = 0.0,
    examples_shift: float = 0.0,
) -> dict[str, Any]:
    """The fake's answer to any judge prompt: a graded verdict (``fake_verdicts``, shifted
    per self-consistency sample), the citation verdicts or a pairwise winner, plus the
    continuation keys when they are asked for."""
    if asks_pairwise(facts.instructions, schema):
        return pairwise_answer(facts.fields, position_bias)
    if asks_citations(facts.instructions, schema):
        answer = citations_answer(facts.fields)
    else:
        shift = sample_shift(facts.instructions)
        if facts.has_examples:
            shift += examples_shift
        answer = verdict_for(facts, out_of_scale=out_of_scale, shift=shift)
    if asks_continuation(facts.instructions, schema):
        answer |= continuation_keys(facts.fields, should_continue)
    return answer
