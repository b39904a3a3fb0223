from __future__ import annotations

import re

import pytest

from judgekit.records import Scale, Verdict
from judgekit.verdicts import MalformedVerdict, find_object, parse_verdict, without_reasoning

UNIT = Scale(0.0, 1.0)
FIVE = Scale(1.0, 5.0, integer=True)

ACCEPTED = [
    ("json alone", '{"score": 0.8, "reasoning": "ok", "confidence": 0.9}', UNIT, 0.8, "ok", 0.9),
    (
        "json fence",
        '```json\n{"score": 1, "reasoning": "right"}\n```',
        UNIT,
        1.0,
        "right",
        None,
    ),
    (
        "leading and trailing prose",
        'Here is my verdict:\n{"reasoning": "fine", "score": 0.25}\nHope this helps {:)}',
        UNIT,
        0.25,
        "fine",
        None,
    ),
    ("integer scale normalised", '{"score": 4, "reasoning": "good"}', FIVE, 0.75, "good", None),
    ("integral float on integer scale", '{"score": 5.0}', FIVE, 1.0, "", None),
    ("low end is zero", '{"score": 1, "reasoning": "bad"}', FIVE, 0.0, "bad", None),
    ("numeric string", '{"score": " 3 ", "confidence": "0.5"}', FIVE, 0.5, "", 0.5),
    ("reasoning missing or null", '{"score": 0.5, "reasoning": null}', UNIT, 0.5, "", None),
    (
        "reasoning stripped",
        '{"score": 0.5, "reasoning": "  spaced \\n"}',
        UNIT,
        0.5,
        "spaced",
        None,
    ),
    ("confidence null", '{"score": 0.5, "confidence": null}', UNIT, 0.5, "", None),
    (
        "braces inside the reasoning",
        '{"reasoning": "the {output} was } odd {", "score": 0}',
        UNIT,
        0.0,
        "the {output} was } odd {",
        None,
    ),
    (
        "a broken object before the good one",
        'Draft: {"score": 0.1,,}\nFinal: {"score": 0.9}',
        UNIT,
        0.9,
        "",
        None,
    ),
    (
        "an object without score before the verdict",
        '{"note": "thinking"} then {"score": 0.3}',
        UNIT,
        0.3,
        "",
        None,
    ),
    (
        "wrapped in one outer object",
        '{"evaluation": {"score": 2, "reasoning": "meh"}}',
        FIVE,
        0.25,
        "meh",
        None,
    ),
    ("single quotes are mended", "{'score': 4}", FIVE, 0.75, "", None),
    (
        "raw line breaks inside strings",
        '{"reasoning": "first line\nsecond line", "score": 1}',
        UNIT,
        1.0,
        "first line\nsecond line",
        None,
    ),
    ("trailing comma", '{"score": 0.5, "reasoning": "ok",}', UNIT, 0.5, "ok", None),
    (
        "trailing comma in a fence",
        '```json\n{\n  "reasoning": "ok",\n  "score": 2,\n}\n```',
        FIVE,
        0.25,
        "ok",
        None,
    ),
    ("confidence word becomes null", '{"score": 1, "confidence": "high"}', UNIT, 1.0, "", None),
    ("confidence above 1 becomes null", '{"score": 1, "confidence": 1.5}', UNIT, 1.0, "", None),
    (
        "reasoning not a string becomes empty",
        '{"score": 1, "reasoning": ["a"]}',
        UNIT,
        1.0,
        "",
        None,
    ),
    (
        "fractional scale",
        '{"score": 0.5}',
        Scale(-0.5, 1.5),
        0.5,
        "",
        None,
    ),
]


@pytest.mark.parametrize(
    ("text", "scale", "score", "reasoning", "confidence"),
    [c[1:] for c in ACCEPTED],
    ids=[c[0] for c in ACCEPTED],
)
def test_parse_accepts(
    text: str, scale: Scale, score: float, reasoning: str, confidence: float | None
) -> None:
    verdict = parse_verdict(text, scale, (), None)
    assert verdict == Verdict(score=score, reasoning=reasoning, confidence=confidence)


MALFORMED = [
    ("empty reply", "  \n", UNIT, (), "empty reply"),
    ("prose only", "I think it is good. Score: 4/5", FIVE, (), "no JSON object in reply"),
    (
        "unbalanced",
        '{"score": 4, "reasoning": "cut off',
        FIVE,
        (),
        "invalid JSON: the object at line 1 column 1 is never closed (cut off?)",
    ),
    (
        "cut off after prose, on line 2",
        'Verdict:\n  {"score": 4,',
        FIVE,
        (),
        "invalid JSON: the object at line 2 column 3 is never closed (cut off?)",
    ),
    ("braces in prose are not JSON", "the {output} was odd", UNIT, (), "no JSON object in reply"),
    (
        "an object without score is named as such",
        'I judge {"reasoning": "good", "confidence": 0.9,} overall',
        UNIT,
        (),
        "missing score",
    ),
    ("an array only", "[4, 5]", FIVE, (), "no JSON object in reply"),
    ("missing score", '{"reasoning": "forgot"}', UNIT, (), "missing score"),
    ("null score", '{"score": null}', UNIT, (), "missing score"),
    ("above the scale", '{"score": 7}', FIVE, (), "score 7 outside scale 1..5"),
    ("below the scale", '{"score": -0.1}', UNIT, (), "score -0.1 outside scale 0..1"),
    ("percent on a unit scale", '{"score": 80}', UNIT, (), "score 80 outside scale 0..1"),
    ("not an integer", '{"score": 3.5}', FIVE, (), "score 3.5 is not an integer (scale 1..5)"),
    ("boolean", '{"score": true}', UNIT, (), "score is a boolean, not a number"),
    ("word", '{"score": "high"}', UNIT, (), 'score "high" is not a number'),
    ("list", '{"score": [1]}', UNIT, (), "score [1] is not a number"),
    ("nan", '{"score": NaN}', UNIT, (), "score is not a finite number"),
    ("nan string", '{"score": "nan"}', UNIT, (), "score is not a finite number"),
    (
        "long value is cut",
        '{"score": "' + "x" * 500 + '"}',
        UNIT,
        (),
        'score "' + "x" * 36 + "... is not a number",
    ),
]


@pytest.mark.parametrize(
    ("text", "scale", "criteria", "reason"),
    [c[1:] for c in MALFORMED],
    ids=[c[0] for c in MALFORMED],
)
def test_parse_rejects(text: str, scale: Scale, criteria: tuple[str, ...], reason: str) -> None:
    with pytest.raises(MalformedVerdict, match=f"^{re.escape(reason)}$"):
        parse_verdict(text, scale, criteria, None)


def test_malformed_verdict_is_a_value_error() -> None:
    assert issubclass(MalformedVerdict, ValueError)


def test_dimensions_are_normalised_and_the_judge_score_kept() -> None:
    text = '{"score": 4, "criteria": {"a": 5, "b": 1, "extra": 3}, "reasoning": "r"}'
    verdict = parse_verdict(text, FIVE, ("a", "b"), None)
    assert verdict == Verdict(score=0.75, reasoning="r", criteria={"a": 1.0, "b": 0.0})


WEIGHTED = [
    (
        "judge score ignored",
        '{"score": 0.1, "criteria": {"accuracy": 1, "completeness": 0.5, "relevance": 0}}',
        UNIT,
        0.4 * 1 + 0.3 * 0.5 + 0.3 * 0,
    ),
    (
        "judge score may be missing",
        '{"criteria": {"accuracy": 0, "completeness": 1, "relevance": 1}}',
        UNIT,
        0.6,
    ),
    (
        "integer scale criteria",
        '{"score": 3, "criteria": {"accuracy": 5, "completeness": 3, "relevance": 1}}',
        FIVE,
        0.4 * 1 + 0.3 * 0.5,
    ),
    (
        "all top marks is exactly one",
        '{"criteria": {"accuracy": 1, "completeness": 1, "relevance": 1}}',
        UNIT,
        1.0,
    ),
]
WEIGHTS = {"accuracy": 0.4, "completeness": 0.3, "relevance": 0.3}


@pytest.mark.parametrize(
    ("text", "scale", "score"), [c[1:] for c in WEIGHTED], ids=[c[0] for c in WEIGHTED]
)
def test_weighted_score_is_computed_by_judgekit(text: str, scale: Scale, score: float) -> None:
    verdict = parse_verdict(text, scale, tuple(WEIGHTS), WEIGHTS)
    assert verdict.score == pytest.approx(score, abs=1e-12)
    assert 0.0 <= verdict.score <= 1.0
    assert verdict.criteria is not None and set(verdict.criteria) == set(WEIGHTS)


def test_weighted_still_rejects_an_invalid_judge_score() -> None:
    text = '{"score": 9, "criteria": {"accuracy": 1, "completeness": 1, "relevance": 1}}'
    with pytest.raises(MalformedVerdict, match=r"^score 9 outside scale 0\.\.1$"):
        parse_verdict(text, UNIT, tuple(WEIGHTS), WEIGHTS)


def test_weighted_needs_every_weighted_criterion() -> None:
    text = '{"score": 1, "criteria": {"accuracy": 1, "completeness": 1}}'
    with pytest.raises(MalformedVerdict, match=r"^missing criterion 'relevance'$"):
        parse_verdict(text, UNIT, (), WEIGHTS)


def test_find_object_prefers_a_verdict_and_skips_nested_objects() -> None:
    text = 'x {"meta": {"score": "inner"}, "other": {"a": 1}} {"score": 2}'
    assert find_object(text) == {"score": 2}


THINKING = [
    (
        "the issue's example",
        '<think>the answer looks fine {"score": 1.0}</think>'
        '{"reasoning": "six legs is wrong", "score": 0.0}',
        0.0,
    ),
    ("thinking block", '<thinking>\n{"score": 1}\n</thinking>\n{"score": 0}', 0.0),
    ("reasoning block", '<reasoning>{"score": 1}</reasoning>{"score": 0}', 0.0),
    ("any case, attributes", '<THINK mode="deep">{"score": 1}</Think> {"score": 0}', 0.0),
    ("a lone closing tag", 'Draft: {"score": 1}\n</think>\n{"score": 0}', 0.0),
    ("verdict before an unclosed block", '{"score": 0} <think>{"score": 1}', 0.0),
    ("two blocks", '<think>{"score": 1}</think>{"score": 0}<think>{"score": 1}</think>', 0.0),
    ("draft then correction: the last wins", '{"score": 1} No, wait: {"score": 0}', 0.0),
    (
        "the last complete one wins",
        '{"score": 1, "reasoning": "a"} then {"score": 0, "reasoning": "cut',
        1.0,
    ),
]


@pytest.mark.parametrize(("text", "score"), [c[1:] for c in THINKING], ids=[c[0] for c in THINKING])
def test_reasoning_text_is_never_the_verdict(text: str, score: float) -> None:
    assert parse_verdict(text, UNIT).score == score


@pytest.mark.parametrize(
    "text",
    ['<think>{"score": 1}</think>', '<think>I would say {"score": 1}', '{"score": 1}</think>'],
    ids=["closed", "never closed", "lone closing tag"],
)
def test_a_reply_of_reasoning_alone_has_no_verdict(text: str) -> None:
    with pytest.raises(MalformedVerdict, match=r"^the reply holds only reasoning \(<think>"):
        parse_verdict(text, UNIT)


def test_without_reasoning_keeps_lines_and_columns() -> None:
    text = '<think>\n{"score": 1}\n</think>\n{"score": 0,'
    kept = without_reasoning(text)
    assert kept == "       \n" + " " * 12 + "\n" + " " * 8 + '\n{"score": 0,'
    with pytest.raises(MalformedVerdict, match=r"^invalid JSON: the object at line 4 column 1 "):
        parse_verdict(text, UNIT)


def test_badly_filled_criteria_become_null_and_keep_the_score() -> None:
    text = '{"score": 4, "criteria": {"a": "high", "b": 9, "c": 2.5, "d": 5}}'
    verdict = parse_verdict(text, FIVE, ("a", "b", "c", "d", "e"), None)
    assert verdict.score == 0.75
    assert verdict.criteria == {"a": None, "b": None, "c": None, "d": 1.0, "e": None}
    assert parse_verdict('{"score": 4, "criteria": [1]}', FIVE, ("a",), None).criteria is None
    assert parse_verdict('{"score": 4}', FIVE, ("a",), None).criteria is None


def test_weighted_criteria_stay_required_and_valid() -> None:
    text = '{"criteria": {"accuracy": "high", "completeness": 1, "relevance": 1}}'
    with pytest.raises(MalformedVerdict, match=r"^criterion 'accuracy' \"high\" is not a number$"):
        parse_verdict(text, UNIT, tuple(WEIGHTS), WEIGHTS)
