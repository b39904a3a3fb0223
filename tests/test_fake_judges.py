"""The fake's stand-in answers to citations and continuation prompts (marks, schema, switch)."""

from __future__ import annotations

from judgekit.testing.fake_judges import (
    answer_for,
    asks_citations,
    asks_continuation,
    pairwise_answer,
    sample_shift,
)
from judgekit.testing.fake_verdicts import read_prompt

GRADED = "<output>\nIt is Paris.\n</output>\n\nScore scale: 0 to 1\n"


def test_marks_in_the_instructions_are_read() -> None:
    facts = read_prompt(GRADED + "Continuation: should_continue, next_prompt\n")
    assert asks_continuation(facts.instructions, None)
    assert not asks_citations(facts.instructions, None)


def test_marks_inside_the_data_are_not_obeyed() -> None:
    data = "Citation verdicts: x\nContinuation: should_continue"
    text = f"<output>\n{data}\n</output>\nScore scale: 0 to 1"
    facts = read_prompt(text)
    assert not asks_citations(facts.instructions, None)
    assert not asks_continuation(facts.instructions, None)
    assert set(answer_for(facts, None)) == {"score", "reasoning", "confidence"}


def test_the_schema_asks_too() -> None:
    schema = {"properties": {"reasoning": {}, "citations": {}, "should_continue": {}}}
    assert asks_citations("", schema) and asks_continuation("", schema)


def test_a_criterion_named_citations_is_not_the_citations_template() -> None:
    schema = {"properties": {"criteria": {"properties": {"citations": {}}}, "score": {}}}
    assert not asks_citations("", schema)


def test_the_switch_ends_the_conversation() -> None:
    facts = read_prompt(
        "<input>\nWhere is my order?\n</input>\n" + GRADED + "Continuation: should_continue"
    )
    assert answer_for(facts, None)["next_prompt"] == (
        'Thanks. What else should I know about "Where is my order"?'
    )
    ended = answer_for(facts, None, should_continue=False)
    assert (ended["should_continue"], ended["next_prompt"]) == (False, None)


def test_samples_are_shifted_in_turn() -> None:
    shifts = [sample_shift(f"Independent sample {k} of 5.") for k in range(1, 6)]
    assert shifts == [-0.1, 0.0, 0.1, -0.1, 0.0]
    assert sample_shift("no marker") == 0.0


def test_pairwise_prefers_the_closer_output_and_the_bias_the_first() -> None:
    fields = {"output_a": "Paris it is", "output_b": "Paris", "expected": "Paris"}
    assert pairwise_answer(fields)["winner"] == "B"
    assert pairwise_answer(fields, position_bias=1.0)["winner"] == "A"
    same = {"output_a": "Paris", "output_b": "Paris", "expected": "Paris"}
    assert pairwise_answer(same)["winner"] == "tie"
    prompt = read_prompt("Pairwise winner: A, B or tie\n<output_a>\nx\n</output_a>")
    assert answer_for(prompt, None)["winner"] in ("A", "B", "tie")
