from __future__ import annotations

import re
from fractions import Fraction

import pytest

from judgekit.records import PASS_TOLERANCE, Verdict, passes
from judgekit.rules import RuleKind, apply_rule, token_f1

# (id, kind, output, expected, pattern, ignore_case, score, reasoning)
CASES: list[tuple[str, RuleKind, object, object, str | None, bool, float, str]] = [
    ("exact equal", "exact", "Paris", "Paris", None, True, 1.0, "exact match"),
    ("exact whitespace", "exact", "  New \n York ", "New York", None, True, 1.0, "exact match"),
    ("exact case folded", "exact", "PARIS", "paris", None, True, 1.0, "exact match"),
    ("exact case kept", "exact", "PARIS", "paris", None, False, 0.0, "no exact match for 'paris'"),
    ("exact any of a list", "exact", "NYC", ["New York", "NYC"], None, True, 1.0, "exact match"),
    (
        "exact no list match",
        "exact",
        "LA",
        ["NY", "NYC"],
        None,
        True,
        0.0,
        "no exact match for 'NY'",
    ),
    ("exact number", "exact", 42, "42", None, True, 1.0, "exact match"),
    (
        "exact not a substring",
        "exact",
        "Paris, France",
        "Paris",
        None,
        True,
        0.0,
        "no exact match for 'Paris'",
    ),
    ("contains", "contains", "It is Paris.", "paris", None, True, 1.0, "contains 'paris'"),
    (
        "contains case kept",
        "contains",
        "It is Paris.",
        "paris",
        None,
        False,
        0.0,
        "does not contain 'paris'",
    ),
    (
        "contains across newline",
        "contains",
        "New\nYork",
        "new york",
        None,
        True,
        1.0,
        "contains 'new york'",
    ),
    (
        "contains all of a list",
        "contains",
        "red, green, blue",
        ["red", "blue"],
        None,
        True,
        1.0,
        "contains all 2 expected texts",
    ),
    (
        "contains names the missing one",
        "contains",
        "red, green",
        ["red", "blue"],
        None,
        True,
        0.0,
        "does not contain 'blue'",
    ),
    (
        "regex pattern",
        "regex",
        "Order #123 shipped",
        None,
        r"#\d+",
        True,
        1.0,
        "matches pattern '#\\d+'",
    ),
    (
        "regex ignore case",
        "regex",
        "ERROR: disk",
        "irrelevant",
        r"^error",
        True,
        1.0,
        "matches pattern '^error'",
    ),
    (
        "regex case kept",
        "regex",
        "ERROR: disk",
        None,
        r"^error",
        False,
        0.0,
        "no match for pattern '^error'",
    ),
    (
        "regex from expected",
        "regex",
        "v1.2.3",
        r"\d+\.\d+\.\d+",
        None,
        True,
        1.0,
        "matches pattern '\\d+\\.\\d+\\.\\d+'",
    ),
    (
        "regex any of a list",
        "regex",
        "cat",
        ["dog", "c.t"],
        None,
        True,
        1.0,
        "matches pattern 'c.t'",
    ),
    ("json object", "json_valid", '{"a": [1, 2]}', None, None, True, 1.0, "valid JSON"),
    ("json scalar", "json_valid", " 3 ", None, None, True, 1.0, "valid JSON"),
    ("json structured value", "json_valid", {"a": 1}, None, None, True, 1.0, "valid JSON"),
    (
        "json invalid",
        "json_valid",
        "{a: 1}",
        None,
        None,
        True,
        0.0,
        "invalid JSON: Expecting property name enclosed in double quotes (line 1, column 2)",
    ),
    (
        "json fenced is not json",
        "json_valid",
        '```json\n{"a": 1}\n```',
        None,
        None,
        True,
        0.0,
        "invalid JSON: Expecting value (line 1, column 1)",
    ),
    (
        "json empty string",
        "json_valid",
        "",
        None,
        None,
        True,
        0.0,
        "invalid JSON: Expecting value (line 1, column 1)",
    ),
    (
        "json nan",
        "json_valid",
        '{"a": NaN}',
        None,
        None,
        True,
        0.0,
        "invalid JSON: NaN is not valid JSON",
    ),
    (
        "token f1 identical",
        "token_f1",
        "The Eiffel Tower!",
        "eiffel tower",
        None,
        True,
        1.0,
        "token F1 1.00",
    ),
    (
        "token f1 partial",
        "token_f1",
        "the cat sat",
        "a cat sat down",
        None,
        True,
        0.8,
        "token F1 0.80",
    ),
    ("token f1 disjoint", "token_f1", "dog", "cat", None, True, 0.0, "token F1 0.00"),
    (
        "token f1 best of list",
        "token_f1",
        "cat",
        ["dog", "a cat"],
        None,
        True,
        1.0,
        "token F1 1.00",
    ),
    ("token f1 case kept", "token_f1", "Cat sat", "cat sat", None, False, 0.5, "token F1 0.50"),
    ("token f1 both empty", "token_f1", "the", "a !", None, True, 1.0, "token F1 1.00"),
    ("token f1 one empty", "token_f1", "", "cat", None, True, 0.0, "token F1 0.00"),
]


@pytest.mark.parametrize(
    ("kind", "output", "expected", "pattern", "ignore_case", "score", "reasoning"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_apply_rule(
    kind: RuleKind,
    output: object,
    expected: object,
    pattern: str | None,
    ignore_case: bool,
    score: float,
    reasoning: str,
) -> None:
    verdict = apply_rule(kind, output, expected, pattern=pattern, ignore_case=ignore_case)
    assert verdict.score == pytest.approx(score)
    assert verdict.reasoning == reasoning
    assert verdict.confidence is None and verdict.criteria is None


KINDS: list[RuleKind] = ["exact", "contains", "regex", "json_valid", "token_f1"]


@pytest.mark.parametrize("kind", KINDS, ids=KINDS)
def test_missing_output_scores_zero(kind: RuleKind) -> None:
    verdict = apply_rule(kind, None, "x", pattern=None, ignore_case=True)
    assert verdict == Verdict(score=0.0, reasoning="output is empty")


UNJUDGEABLE: list[tuple[str, RuleKind, object, str | None, str]] = [
    ("exact without expected", "exact", None, None, "expected is empty"),
    ("contains with empty list", "contains", [], None, "expected is empty"),
    ("token f1 with only nulls", "token_f1", [None], None, "expected is empty"),
    ("regex without pattern or expected", "regex", None, None, "expected is empty"),
    ("regex bad expected", "regex", "(unclosed", None, "invalid regular expression '(unclosed'"),
]


@pytest.mark.parametrize(
    ("kind", "expected", "pattern", "message"),
    [c[1:] for c in UNJUDGEABLE],
    ids=[c[0] for c in UNJUDGEABLE],
)
def test_row_that_cannot_be_judged_raises(
    kind: RuleKind, expected: object, pattern: str | None, message: str
) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
        apply_rule(kind, "some output", expected, pattern=pattern, ignore_case=True)


def test_long_values_are_cut_in_the_reasoning() -> None:
    verdict = apply_rule("contains", "short", "y" * 500, pattern=None, ignore_case=True)
    assert verdict.reasoning == "does not contain '" + "y" * 57 + "...'"


def test_token_f1_matches_squad_arithmetic() -> None:
    # Articles and punctuation go: 4 tokens vs 3, all 3 shared -> P 3/4, R 1.
    assert token_f1("an old black cat, sleeping", "the black cat sleeping") == pytest.approx(
        2 * (3 / 4) * 1.0 / (3 / 4 + 1.0)
    )
    assert token_f1("red blue green yellow", "red blue purple") == pytest.approx(
        2 * (2 / 4) * (2 / 3) / (2 / 4 + 2 / 3)
    )


def test_token_f1_of_exactly_three_quarters_is_stored_as_0_75() -> None:
    # 5 output tokens, 3 expected, 3 shared: F1 = 2*3 / (5+3) = 3/4 exactly, while
    # 2pr/(p+r) in floats gives 0.7499999999999999 and a 0.75 threshold would fail it.
    assert token_f1("paris is capital of france", "capital of france") == 0.75
    verdict = apply_rule("token_f1", "paris is capital of france", "capital of france")
    assert (verdict.score, verdict.reasoning) == (0.75, "token F1 0.75")


def test_token_f1_is_the_correctly_rounded_fraction() -> None:
    for got in range(1, 16):
        for want in range(1, 16):
            for common in range(1, min(got, want) + 1):
                output = " ".join([f"s{i}" for i in range(common)] + ["x"] * (got - common))
                expected = " ".join([f"s{i}" for i in range(common)] + ["y"] * (want - common))
                exact = Fraction(2 * common, got + want)
                assert token_f1(output, expected) == float(exact), (got, want, common)


@pytest.mark.parametrize(
    ("score", "passed"),
    [(0.75, True), (0.7499999999999999, True), (0.75 - 1e-9, True), (0.7499999, False)],
    ids=["exact", "one-ulp-below", "tolerance", "below"],
)
def test_a_score_at_the_threshold_passes_up_to_float_rounding(score: float, passed: bool) -> None:
    assert PASS_TOLERANCE == 1e-9
    assert passes(score, 0.75) is passed


def test_rules_are_pure_across_many_rows() -> None:
    outputs = [f"row {i} says {i % 7}" for i in range(2000)]
    scores = [
        apply_rule("regex", text, None, pattern=r"says [0-3]$", ignore_case=True).score
        for text in outputs
    ]
    assert scores == [1.0 if i % 7 <= 3 else 0.0 for i in range(2000)]


NOT_CONTAINS = [
    ("absent", "It is sunny.", "as an AI", 1.0, "does not contain 'as an AI'"),
    ("present, case folded", "As an AI, I cannot.", "as an ai", 0.0, "contains 'as an ai'"),
    (
        "none of a list",
        "It is sunny.",
        ["as an AI", "I cannot"],
        1.0,
        "contains none of the 2 texts",
    ),
    (
        "names the first found",
        "Sorry, I cannot.",
        ["as an AI", "I cannot"],
        0.0,
        "contains 'I cannot'",
    ),
]


@pytest.mark.parametrize(
    ("output", "expected", "score", "reasoning"),
    [c[1:] for c in NOT_CONTAINS],
    ids=[c[0] for c in NOT_CONTAINS],
)
def test_not_contains(output: str, expected: object, score: float, reasoning: str) -> None:
    assert apply_rule("not_contains", output, expected) == Verdict(score, reasoning)
