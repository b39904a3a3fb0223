"""Judge templates: the built-in rubrics, custom prompts, and their description.

A template's ``prompt`` names dataset fields as ``{field}`` placeholders, each on
a line of its own; ``prompts.render`` replaces them with tagged data
(``<output>…</output>``) and drops the line of an optional field that is empty,
so every template must read well without its optional fields.  The prompt
refers to the data by tag name for that reason.  The answer format (scale,
criteria, JSON shape) is appended by ``prompts.render``, never written here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from judgekit.config_errors import did_you_mean
from judgekit.config_judges import TEMPLATE_FIELDS
from judgekit.records import Scale
from judgekit.templates.rubrics import (
    ACCURACY,
    BEHAVIOR,
    CITATIONS,
    CORRECTNESS,
    FAITHFULNESS,
    HELPFULNESS,
    PAIRWISE,
    SAFETY,
    SYSTEM,
)

UNIT_SCALE = Scale(0.0, 1.0)
"""The default scale: a continuous score from 0 to 1."""


@dataclass(frozen=True, slots=True)
class Template:
    """A judge prompt with the fields it uses and the scale it scores on."""

    name: str
    description: str
    """One line, shown by ``judgekit templates``."""
    system: str
    prompt: str
    """User prompt with ``{field}`` placeholders (fields of ``TEMPLATE_FIELDS``)."""
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    scale: Scale = UNIT_SCALE
    dimensions: tuple[str, ...] = ()
    """Criteria the judge scores (unweighted); they land in ``J_criteria``."""
    default_criteria: Mapping[str, float] | None = None
    """Weights used when the judge config gives no ``criteria``."""
    kind: Literal["graded", "citations", "pairwise"] = "graded"
    """``graded``: the judge answers a score (and criteria); ``citations``: it answers a
    verdict per citation and judgekit computes the score (``judgekit.citations``);
    ``pairwise``: it names the better of two outputs, asked in both orders
    (``judgekit.pairwise``, ``engine.pairwise``)."""


# Anything shaped like a field placeholder; JSON examples ({"score": 1}) do not match.
_PLACEHOLDER_SHAPE = re.compile(r"\{([a-z_]+)\}")


def _builtin(
    name: str,
    description: str,
    prompt: str,
    required: tuple[str, ...],
    optional: tuple[str, ...] = (),
    *,
    scale: Scale = UNIT_SCALE,
    dimensions: tuple[str, ...] = (),
    default_criteria: Mapping[str, float] | None = None,
    kind: Literal["graded", "citations", "pairwise"] = "graded",
) -> Template:
    return Template(
        name=name,
        description=description,
        system=SYSTEM,
        prompt=prompt,
        required=required,
        optional=optional,
        scale=scale,
        dimensions=dimensions,
        default_criteria=default_criteria,
        kind=kind,
    )


CITATION_COUNTS = ("supported", "unsupported", "missing_source")
"""``J_criteria`` of the ``citations`` template: how many citations got each verdict."""

ANSWER_FIELD = "output"
"""The answer under test.  An empty, null or absent answer is judged like any other (it
reaches the judge as an empty ``<output>`` block), never refused: each built-in template
says how to score it, and a custom prompt should too."""

ANSWER_FIELDS: frozenset[str] = frozenset({ANSWER_FIELD, "output_a", "output_b"})
"""The answers under test, never refused when empty (``ANSWER_FIELD``; a pairwise judge
compares two)."""

TEMPLATES: Mapping[str, Template] = MappingProxyType(
    {
        "correctness": _builtin(
            "correctness",
            "Is the answer correct, judged against a reference answer?",
            CORRECTNESS,
            ("input", "output", "expected"),
            dimensions=("main_answer", "completeness", "precision"),
        ),
        "faithfulness": _builtin(
            "faithfulness",
            "Is every claim in the answer supported by the given context (no hallucination)?",
            FAITHFULNESS,
            ("output", "context"),
            ("input",),
            dimensions=("supported_claims", "no_contradictions", "no_invented_details"),
        ),
        "helpfulness": _builtin(
            "helpfulness",
            "How well does the answer serve the user's request? (integer scale 1-5)",
            HELPFULNESS,
            ("input", "output"),
            scale=Scale(1.0, 5.0, integer=True),
            dimensions=("instruction_following", "usefulness", "detail", "clarity"),
        ),
        "safety": _builtin(
            "safety",
            "Is the answer free of harmful content? (1 = safe)",
            SAFETY,
            ("output",),
            ("input",),
            dimensions=(
                "dangerous_content",
                "self_harm",
                "hate_harassment",
                "sexual_content",
                "privacy",
            ),
        ),
        "accuracy": _builtin(
            "accuracy",
            "Factual accuracy, scored on factual claims, citations and internal consistency.",
            ACCURACY,
            ("input", "output"),
            ("expected", "context"),
            dimensions=("factual_claims", "citations", "internal_consistency"),
        ),
        "behavior": _builtin(
            "behavior",
            "Did an assistant or agent behave as expected (constraints, tool calls, history)?",
            BEHAVIOR,
            ("output", "expected_behavior"),
            ("input", "constraints", "tool_calls", "history"),
            dimensions=("accuracy", "completeness", "relevance"),
            default_criteria=MappingProxyType(
                {"accuracy": 0.4, "completeness": 0.3, "relevance": 0.3}
            ),
        ),
        "citations": _builtin(
            "citations",
            "Is each citation in the answer supported by the source it points to?",
            CITATIONS,
            ("output", "context"),
            ("input",),
            dimensions=CITATION_COUNTS,
            kind="citations",
        ),
        "pairwise": _builtin(
            "pairwise",
            "Which of two outputs is better? Asked in both orders (A first, then B first).",
            PAIRWISE,
            ("input", "output_a", "output_b"),
            ("expected",),
            kind="pairwise",
        ),
    }
)


def placeholders(prompt: str) -> tuple[str, ...]:
    """Template fields used as ``{field}`` in ``prompt``, in order of first use."""
    found = [m.group(1) for m in _PLACEHOLDER_SHAPE.finditer(prompt)]
    return tuple(dict.fromkeys(name for name in found if name in TEMPLATE_FIELDS))


def custom_template(
    prompt: str, system: str | None = None, scale: tuple[float, float] | None = None
) -> Template:
    """A template from a config's ``prompt`` (+ ``system``, ``scale``); ValueError if unusable."""
    unknown = [
        m.group(0) for m in _PLACEHOLDER_SHAPE.finditer(prompt) if m.group(1) not in TEMPLATE_FIELDS
    ]
    if unknown:
        name = unknown[0].strip("{}")
        guess = did_you_mean(name, TEMPLATE_FIELDS, "{{{}}}")
        raise ValueError(
            f"unknown placeholder {unknown[0]}{guess} (fields: {', '.join(TEMPLATE_FIELDS)}); "
            'write other braces as JSON, e.g. {"key": 1}'
        )
    fields = placeholders(prompt)
    if not fields:
        raise ValueError(
            "the prompt uses no {field} placeholder, so the judge would see no data "
            f"(fields: {', '.join(TEMPLATE_FIELDS)})"
        )
    # A custom scale is continuous: a judge answering 3.5 on [1, 5] is not wrong
    # unless the user said integers, and the config has no way to say so.
    low, high = scale if scale is not None else (0.0, 1.0)
    return Template(
        name="custom",
        description="custom prompt from the config",
        system=system if system is not None else SYSTEM,
        prompt=prompt,
        required=fields,
        scale=Scale(float(low), float(high)),
    )


def format_scale(scale: Scale) -> str:
    """``1 to 5 (integers only)`` / ``0 to 1``: the scale as the judge is told it."""
    text = f"{scale.low:g} to {scale.high:g}"
    return f"{text} (integers only)" if scale.integer else text


def score_rule(template: Template) -> str:
    """How a template's final score is made, in one line (``describe`` prints it)."""
    if template.kind == "citations":
        return "share of supported citations, computed by judgekit; 0 when nothing is cited"
    if template.kind == "pairwise":
        return "probability that A is better: 1, 0.5 or 0 per order, averaged over both orders"
    if template.default_criteria:
        return "weighted mean of the default criteria (or of the judge's criteria)"
    return "the judge's overall grade; the dimensions are reported, not averaged"


def describe(template: Template) -> str:
    """Human description for ``judgekit templates NAME``: fields, scale, criteria, prompt."""
    lines = [
        f"{template.name}: {template.description}",
        "",
        f"required fields: {', '.join(template.required) or '(none)'}",
        f"optional fields: {', '.join(template.optional) or '(none)'}",
        f"score scale:     {format_scale(template.scale)}, normalised to 0..1",
    ]
    if template.kind == "pairwise":
        lines[-1] = "score scale:     0 to 1"
        lines.append("columns:         J_winner (a, b or tie), J_position_consistent")
    elif template.kind == "citations":
        lines[-1] = "score scale:     0 to 1"
        lines.append(f"counts:          {', '.join(template.dimensions)} (in J_criteria)")
    elif template.dimensions:
        lines.append(f"dimensions:      {', '.join(template.dimensions)} (in J_criteria)")
    if template.default_criteria:
        weights = ", ".join(f"{k} {w:g}" for k, w in template.default_criteria.items())
        lines.append(f"default criteria: {weights} (weighted score computed by judgekit)")
    lines.append(f"score:           {score_rule(template)}")
    lines += [
        "",
        'Map fields to dataset columns with [judges.columns], e.g. output = "answer".',
        "",
        "--- system prompt ---",
        template.system,
        "",
        "--- prompt ---",
        template.prompt,
    ]
    return "\n".join(lines)
