from __future__ import annotations

import math
import re

import pytest

from judgekit.config import TEMPLATE_FIELDS
from judgekit.records import Scale
from judgekit.templates import TEMPLATES, custom_template, describe, format_scale, placeholders

BUILTIN_FIELDS = [
    ("correctness", ("input", "output", "expected"), ()),
    ("faithfulness", ("output", "context"), ("input",)),
    ("helpfulness", ("input", "output"), ()),
    ("safety", ("output",), ("input",)),
    ("accuracy", ("input", "output"), ("expected", "context")),
    (
        "behavior",
        ("output", "expected_behavior"),
        ("input", "constraints", "tool_calls", "history"),
    ),
]


def test_the_six_builtins_exist() -> None:
    assert sorted(TEMPLATES) == sorted(name for name, _, _ in BUILTIN_FIELDS)


@pytest.mark.parametrize(
    ("name", "required", "optional"), BUILTIN_FIELDS, ids=[row[0] for row in BUILTIN_FIELDS]
)
def test_builtin_declares_its_fields(
    name: str, required: tuple[str, ...], optional: tuple[str, ...]
) -> None:
    template = TEMPLATES[name]
    assert template.name == name
    assert set(template.required) == set(required)
    assert set(template.optional) == set(optional)


@pytest.mark.parametrize("name", list(TEMPLATES), ids=list(TEMPLATES))
def test_builtin_prompt_uses_exactly_its_fields_each_on_its_own_line(name: str) -> None:
    template = TEMPLATES[name]
    assert set(placeholders(template.prompt)) == set(template.required + template.optional)
    for field in template.required + template.optional:
        assert re.search(rf"^\{{{field}\}}$", template.prompt, re.MULTILINE), field


@pytest.mark.parametrize("name", list(TEMPLATES), ids=list(TEMPLATES))
def test_builtin_is_a_real_rubric(name: str) -> None:
    template = TEMPLATES[name]
    assert "\n" not in template.description and template.description
    assert template.system.strip()
    assert "Scale" in template.prompt  # an anchored scale
    assert "Penalise" in template.prompt or "Unsafe" in template.prompt  # what costs points
    # The answer format is appended by prompts.render, never duplicated here.
    assert '"score"' not in template.prompt


EMPTY_ANSWER_RULES = {
    "correctness": 'An empty response, a refusal, or "I don\'t know" scores 0.',
    "faithfulness": "An empty response makes no claims, so none is unsupported: it scores 1.0.",
    "helpfulness": "An empty response scores 1.",
    "safety": "An empty response is safe: it scores 1.0.",
    "accuracy": "it scores 0 overall and on every dimension.",
    "behavior": "response scores 0 on every criterion, unless <expected_behavior> asks for",
}


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_builtin_says_how_to_score_an_empty_answer(name: str) -> None:
    # An empty answer is sent to the judge (never refused): the rubric must settle it.
    assert EMPTY_ANSWER_RULES[name] in TEMPLATES[name].prompt


def test_helpfulness_declares_an_integer_scale() -> None:
    assert TEMPLATES["helpfulness"].scale == Scale(1.0, 5.0, integer=True)
    for grade in "12345":
        assert re.search(rf"^{grade}  ", TEMPLATES["helpfulness"].prompt, re.MULTILINE)


def test_accuracy_declares_dimensions() -> None:
    template = TEMPLATES["accuracy"]
    assert template.dimensions == ("factual_claims", "citations", "internal_consistency")
    for dimension in template.dimensions:
        assert f"- {dimension}:" in template.prompt


def test_behavior_default_criteria() -> None:
    criteria = TEMPLATES["behavior"].default_criteria
    assert criteria == {"accuracy": 0.4, "completeness": 0.3, "relevance": 0.3}
    assert math.isclose(math.fsum(criteria.values()), 1.0)
    for name in criteria:
        assert f"- {name}:" in TEMPLATES["behavior"].prompt


CUSTOM_OK = [
    ("one field", "Rate {output}.", ("output",)),
    ("order of first use", "{output} vs {expected}; again {output}", ("output", "expected")),
    ("json example left alone", 'Rate {output}. Like {"score": 1} or {"a": {"b": 2}}', ("output",)),
    ("every field", " ".join(f"{{{f}}}" for f in TEMPLATE_FIELDS), TEMPLATE_FIELDS),
    ("uppercase braces are not fields", "Rate {output} in {JSON}", ("output",)),
]


@pytest.mark.parametrize(
    ("prompt", "required"), [c[1:] for c in CUSTOM_OK], ids=[c[0] for c in CUSTOM_OK]
)
def test_custom_template_requires_its_placeholders(prompt: str, required: tuple[str, ...]) -> None:
    template = custom_template(prompt, None, None)
    assert template.required == required
    assert template.optional == ()
    assert template.prompt == prompt
    assert template.scale == Scale(0.0, 1.0)


CUSTOM_BAD = [
    ("unknown field", "Rate {outptu} against {expected}", "unknown placeholder {outptu}"),
    ("no placeholder", "Rate the answer.", "the prompt uses no {field} placeholder"),
    ("only json braces", 'Answer {"score": 1}', "the prompt uses no {field} placeholder"),
]


@pytest.mark.parametrize(
    ("prompt", "message"), [c[1:] for c in CUSTOM_BAD], ids=[c[0] for c in CUSTOM_BAD]
)
def test_custom_template_rejects(prompt: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        custom_template(prompt, None, None)
    assert "fields: input, output, expected" in str(info.value)


def test_custom_template_keeps_system_and_scale() -> None:
    template = custom_template("Rate {output}", "You grade poems.", (1, 10))
    assert template.system == "You grade poems."
    assert template.scale == Scale(1.0, 10.0, integer=False)


def test_custom_template_without_system_gets_the_default() -> None:
    assert custom_template("Rate {output}", None, None).system == TEMPLATES["correctness"].system


SCALES = [
    ("unit", Scale(0.0, 1.0), "0 to 1"),
    ("integer", Scale(1.0, 5.0, integer=True), "1 to 5 (integers only)"),
    ("fractional", Scale(-0.5, 2.5), "-0.5 to 2.5"),
]


@pytest.mark.parametrize(("scale", "text"), [s[1:] for s in SCALES], ids=[s[0] for s in SCALES])
def test_format_scale(scale: Scale, text: str) -> None:
    assert format_scale(scale) == text


def test_describe_shows_fields_scale_dimensions_and_prompt() -> None:
    text = describe(TEMPLATES["accuracy"])
    assert text.startswith("accuracy: Factual accuracy")
    assert "required fields: input, output\n" in text
    assert "optional fields: expected, context\n" in text
    assert "score scale:     0 to 1, normalised to 0..1" in text
    assert "dimensions:      factual_claims, citations, internal_consistency" in text
    assert TEMPLATES["accuracy"].prompt in text


def test_describe_shows_default_criteria_and_integer_scale() -> None:
    assert "accuracy 0.4, completeness 0.3, relevance 0.3" in describe(TEMPLATES["behavior"])
    helpfulness = describe(TEMPLATES["helpfulness"])
    assert "1 to 5 (integers only)" in helpfulness
    assert "optional fields: (none)" in helpfulness
