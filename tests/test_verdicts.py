from __future__ import annotations

import re

import pytest

from judgekit.records import Scale, Verdict
from judgekit.verdicts import MalformedVerdict, find_object, parse_verdict

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
    ("unbalanced", '{"score": 4, "reasoning": "cut off', FIVE, (), "no JSON object in reply"),
    ("single quotes", "{'score': 4}", FIVE, (), "no JSON object in reply"),
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
    ("reasoning list", '{"score": 1, "reasoning": ["a"]}', UNIT, (), "reasoning is not a string"),
    ("confidence high", '{"score": 1, "confidence": 1.5}', UNIT, (), "confidence 1.5 outside 0..1"),
    (
        "confidence word",
        '{"score": 1, "confidence": "sure"}',
        UNIT,
        (),
        'confidence "sure" is not a number',
    ),
    ("criteria absent", '{"score": 1}', UNIT, ("accuracy",), "missing criterion 'accuracy'"),
    (
        "criteria not object",
        '{"score": 1, "criteria": [1]}',
        UNIT,
        ("a",),
        "criteria is not an object",
    ),
    (
        "criterion missing",
        '{"score": 1, "criteria": {"accuracy": 1}}',
        UNIT,
        ("accuracy", "relevance"),
        "missing criterion 'relevance'",
    ),
    (
        "criterion off the scale",
        '{"score": 3, "criteria": {"accuracy": 6}}',
        FIVE,
        ("accuracy",),
        "criterion 'accuracy' 6 outside scale 1..5",
    ),
    (
        "criterion not an integer",
        '{"score": 3, "criteria": {"accuracy": 2.5}}',
        FIVE,
        ("accuracy",),
        "criterion 'accuracy' 2.5 is not an integer (scale 1..5)",
    ),
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
