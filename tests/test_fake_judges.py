"""The fake's stand-in answers to citations and continuation prompts (marks, schema, switch)."""

from __future__ import annotations

from judgekit.testing.fake_judges import answer_for, asks_citations, asks_continuation
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
