from __future__ import annotations

import math
import re

import pytest
from conftest import Workspace

from judgekit.config_judges import TEMPLATE_FIELDS
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
    ("citations", ("output", "context"), ("input",)),
    ("pairwise", ("input", "output_a", "output_b"), ("expected",)),
]


def test_the_eight_builtins_exist() -> None:
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
    # An anchored scale, or (citations) the rule judgekit computes the score by.
    assert "Scale" in template.prompt or "judgekit computes it" in template.prompt
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
    "citations": "a response that cites nothing, an empty response included, scores 0.",
    "pairwise": 'An empty response, a refusal, or "I don\'t know" loses to any real answer.',
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


DIMENSIONS = [
    ("correctness", ("main_answer", "completeness", "precision")),
    ("faithfulness", ("supported_claims", "no_contradictions", "no_invented_details")),
    ("helpfulness", ("instruction_following", "usefulness", "detail", "clarity")),
    (
        "safety",
        ("dangerous_content", "self_harm", "hate_harassment", "sexual_content", "privacy"),
    ),
    ("accuracy", ("factual_claims", "citations", "internal_consistency")),
    ("behavior", ("accuracy", "completeness", "relevance")),
    ("citations", ("supported", "unsupported", "missing_source")),
]


@pytest.mark.parametrize(("name", "dimensions"), DIMENSIONS, ids=[d[0] for d in DIMENSIONS])
def test_every_builtin_declares_its_dimensions_and_explains_each(
    name: str, dimensions: tuple[str, ...]
) -> None:
    template = TEMPLATES[name]
    assert template.dimensions == dimensions
    for dimension in dimensions:
        assert f"- {dimension}:" in template.prompt


SCORE_RULES = [
    ("correctness", "the judge's overall grade; the dimensions are reported, not averaged"),
    ("safety", "the judge's overall grade; the dimensions are reported, not averaged"),
    ("accuracy", "the judge's overall grade; the dimensions are reported, not averaged"),
    ("behavior", "weighted mean of the default criteria (or of the judge's criteria)"),
    ("citations", "share of supported citations, computed by judgekit; 0 when nothing is cited"),
]


@pytest.mark.parametrize(("name", "rule"), SCORE_RULES, ids=[r[0] for r in SCORE_RULES])
def test_describe_says_how_the_score_is_made(name: str, rule: str) -> None:
    score_lines = [
        line for line in describe(TEMPLATES[name]).splitlines() if line.startswith("score: ")
    ]
    assert len(score_lines) == 1 and score_lines[0].removeprefix("score:").strip().startswith(rule)


def test_safety_score_follows_the_worst_dimension() -> None:
    assert "never above the lowest of them" in TEMPLATES["safety"].prompt


def test_describe_shows_the_citation_counts() -> None:
    text = describe(TEMPLATES["citations"])
    assert "counts:          supported, unsupported, missing_source (in J_criteria)" in text
    assert "score scale:     0 to 1\n" in text
    assert "dimensions:" not in text


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
    (
        "unknown field",
        "Rate {outptu} against {expected}",
        "unknown placeholder {outptu}; did you mean {output}? (fields: input, output, ",
    ),
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


def test_every_builtin_asks_for_its_dimensions_and_they_land_in_j_criteria(
    workspace: Workspace,
) -> None:
    judges = "".join(
        f'[[judges]]\nname = "{name}"\nconnection = "fake"\ntemplate = "{name}"\n\n'
        for name, _ in DIMENSIONS
    )
    row = {
        "id": "r1",
        "input": "When did JWST launch?",
        "output": "JWST launched on 25 December 2021 [1].",
        "expected": "It launched on 25 December 2021.",
        "context": "[1] JWST launched on 25 December 2021 from Kourou.",
        "expected_behavior": "Answer with the launch date.",
    }
    out = workspace.root / "out.parquet"
    config = workspace.write_config(judges=judges)
    result = workspace.score(workspace.write_rows([row]), config, out, "-q")
    assert result.exit_code == 0, result.stderr
    scored = workspace.read_rows(out)[0]
    for name, dimensions in DIMENSIONS:
        assert scored[f"{name}_error"] is None, name
        assert tuple(scored[f"{name}_criteria"]) == dimensions
    asked = {}
    for request in workspace.fake.requests:
        schema = request.body["response_format"]["json_schema"]["schema"]
        if "criteria" in schema["properties"]:
            inner = schema["properties"]["criteria"]
            asked[tuple(inner["required"])] = request.body["messages"][1]["content"]
    for name, dimensions in DIMENSIONS[:-1]:  # citations are asked as a list of verdicts
        assert f"Criteria: {', '.join(dimensions)}" in asked[dimensions], name
    # The judge's own grade is the score: the fake's base is token F1 with the reference...
    assert scored["correctness_score"] != pytest.approx(
        sum(scored["correctness_criteria"].values()) / 3
    )
    # ... and behavior's is the weighted mean of its criteria.
    weights = {"accuracy": 0.4, "completeness": 0.3, "relevance": 0.3}
    assert scored["behavior_score"] == pytest.approx(
        sum(w * scored["behavior_criteria"][k] for k, w in weights.items())
    )
