"""``[[judges]]`` tables: one judge, LLM or rule, and its few-shot examples.

Each judge type takes its own options (``_OPTION_TYPES``); the validators say
which option goes with which type, in the words of the config file.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from judgekit.config_errors import UNKNOWN_FIELD
from judgekit.config_fields import FrozenModel, PositiveFloat, check_params

JudgeType = Literal[
    "llm",
    "exact",
    "contains",
    "regex",
    "json_valid",
    "token_f1",
    "not_contains",
    "tool_called",
    "tool_not_called",
    "tool_order",
    "length",
    "json_schema",
]
RULE_TYPES: frozenset[str] = frozenset(
    {"exact", "contains", "regex", "json_valid", "token_f1", "not_contains"}
    | {"tool_called", "tool_not_called", "tool_order", "length", "json_schema"}
)
TEMPLATE_FIELDS: tuple[str, ...] = (
    "input",
    "output",
    "expected",
    "context",
    "history",
    "tool_calls",
    "expected_behavior",
    "constraints",
    "output_a",
    "output_b",
)


class FewShotExample(FrozenModel):
    """``[[judges.examples]]``: one graded example shown to an llm judge (``judgekit align``
    writes them).  The prompt renders each inside tags, neutralised like all data."""

    input: str | None = None
    """The example's question or task."""
    output: str
    """The answer that was graded."""
    expected: str | None = None
    """The reference answer, when the judge's template has one."""
    verdict: Literal["pass", "fail"]
    """The human verdict on this example."""
    reasoning: str | None = None
    """Why (a human note), shown to the judge after the verdict."""


class JudgeConfig(FrozenModel):
    """``[[judges]]``: one judge, LLM or rule."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    """Prefix of the output columns (``NAME_score`` ...)."""
    type: JudgeType = "llm"
    """``llm`` or a rule: exact | contains | regex | json_valid | token_f1."""
    connection: str | None = None
    """Name of a ``[connections.X]`` table."""
    model: str | None = None
    """Model override; without ``connection``: ``gpt-4o-mini`` (provider told from the
    name) or ``PROVIDER/MODEL`` (``groq/llama-3.3-70b-versatile``; see presets)."""
    template: str | None = None
    """Built-in template name (``judgekit templates`` lists them)."""
    prompt: str | None = None
    """Custom prompt with ``{field}`` placeholders, instead of a template."""
    system: str | None = None
    """Custom system prompt (with ``prompt``)."""
    scale: tuple[float, float] | None = None
    """Custom prompt's score scale, e.g. [1, 5]; normalised to 0..1."""
    threshold: float = Field(0.7, ge=0, le=1)
    """``passed = score >= threshold`` (up to 1e-9 of float rounding: ``records.passes``)."""
    human_label: str | None = None
    """Column of human verdicts compared by ``judgekit agreement``."""
    criteria: dict[str, Annotated[float, Field(ge=0, le=1)]] | None = None
    """Weights per criterion, summing to 1; judgekit computes the weighted score."""
    columns: dict[str, str] = Field(default_factory=dict)
    """Template field -> dataset column; unmapped fields use the same-named column."""
    pattern: str | None = None
    """``regex`` rule: the pattern searched in the output."""
    ignore_case: bool = True
    """Rule judges: compare case-insensitively."""
    max_cost_usd_per_call: PositiveFloat | None = None
    """Refuse a row whose worst-case cost exceeds this."""
    max_input_tokens: int | None = Field(None, ge=1)
    """Refuse a row whose estimated input exceeds this."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Members merged into this judge's request bodies, over the connection's params."""

    @field_validator("params")
    @classmethod
    def _valid_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        return check_params(params)

    text: str | list[str] | None = None
    """``contains`` / ``not_contains``: the text(s) looked for, instead of the expected column."""
    tool: str | None = None
    """``tool_called`` / ``tool_not_called``: the tool's name."""
    arguments: dict[str, Any] | None = None
    """``tool_called``: key/values one call's arguments must contain."""
    tools: list[str] | None = Field(None, min_length=1)
    """``tool_order``: tools that must be called in this order."""
    min_chars: int | None = Field(None, ge=0)
    """``length``: fewest characters allowed (inclusive)."""
    max_chars: int | None = Field(None, ge=0)
    """``length``: most characters allowed (inclusive)."""
    min_words: int | None = Field(None, ge=0)
    """``length``: fewest words allowed (inclusive)."""
    max_words: int | None = Field(None, ge=0)
    """``length``: most words allowed (inclusive)."""
    json_schema: dict[str, Any] | None = None
    """``json_schema``: the JSON Schema, inline."""
    schema_file: str | None = None
    """``json_schema``: a JSON Schema file, relative to the config file."""
    continue_conversation: bool = False
    """llm judges: also ask whether the conversation goes on, and the user's next message."""
    max_turns: int | None = Field(None, ge=1)
    """With ``continue_conversation``: no further turn once the row has this many user turns."""
    samples: int = Field(1, ge=1, le=20)
    """llm judges: answers asked per row (self-consistency).  Above 1, each sample is its own
    request, marked by an ``Independent sample K of N.`` line in the system prompt (every
    provider accepts it, unlike a ``seed`` member) and sent at temperature 0.7 unless the
    connection sets one; ``J_score`` is their mean, ``J_passed`` the majority vote (a tie:
    the mean against the threshold), plus ``J_score_stddev`` and ``J_vote_share``."""
    examples: list[FewShotExample] | None = None
    """llm judges: graded few-shot examples shown before the row (``judgekit align``)."""

    @field_validator("columns")
    @classmethod
    def _known_fields(cls, columns: dict[str, str]) -> dict[str, str]:
        for key in columns:
            if key not in TEMPLATE_FIELDS:
                # Rendered with the key in the path, like any unknown key (config_errors).
                allowed = ", ".join(TEMPLATE_FIELDS)
                raise PydanticCustomError(
                    UNKNOWN_FIELD, "unknown key", {"key": key, "allowed": allowed}
                )
        return columns

    @field_validator("criteria")
    @classmethod
    def _weights_sum_to_one(cls, criteria: dict[str, float] | None) -> dict[str, float] | None:
        if criteria is not None:
            total = math.fsum(criteria.values())
            if not criteria or abs(total - 1.0) > 1e-6:
                raise ValueError(f"criteria weights must sum to 1, got {total:g}")
        return criteria

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression ({exc})") from exc
        return pattern

    @model_validator(mode="after")
    def _consistent(self) -> JudgeConfig:
        if self.type == "llm":
            if (self.template is None) == (self.prompt is None):
                raise ValueError("an llm judge needs exactly one of 'template' or 'prompt'")
            if self.connection is None and self.model is None:
                raise ValueError(
                    "an llm judge needs 'connection' or 'model' "
                    '(e.g. model = "gpt-4o-mini" or "anthropic/claude-haiku-4-5")'
                )
            if self.system is not None and self.prompt is None:
                raise ValueError("'system' goes with 'prompt'")
        else:
            extra = [
                k
                for k in (
                    "connection",
                    "model",
                    "template",
                    "prompt",
                    "system",
                    "params",
                    "examples",
                )
                if getattr(self, k)
            ]
            if self.samples > 1:
                extra.append("samples")
            if extra:
                raise ValueError(f"a {self.type} rule judge takes no {', '.join(extra)}")
            if self.pattern is not None and self.type != "regex":
                raise ValueError("'pattern' goes with type = \"regex\"")
        if self.scale is not None:
            if self.prompt is None:
                raise ValueError("'scale' goes with a custom 'prompt'")
            if not self.scale[0] < self.scale[1]:
                raise ValueError("scale must be [low, high] with low < high")
        return self

    @model_validator(mode="after")
    def _options_fit_the_type(self) -> JudgeConfig:
        for option, types in _OPTION_TYPES.items():
            value = getattr(self, option)
            if value is not None and value is not False and self.type not in types:
                allowed = " or ".join(f'"{t}"' for t in types)
                raise ValueError(f"'{option}' goes with type = {allowed}")
        if self.type in ("tool_called", "tool_not_called") and self.tool is None:
            raise ValueError(f"type = \"{self.type}\" needs 'tool' (the tool's name)")
        if self.type == "tool_order" and self.tools is None:
            raise ValueError("type = \"tool_order\" needs 'tools' (names, in order)")
        if self.type == "length":
            if (self.min_chars, self.max_chars, self.min_words, self.max_words) == (None,) * 4:
                raise ValueError(
                    'type = "length" needs min_chars, max_chars, min_words or max_words'
                )
            for unit in ("chars", "words"):
                low, high = getattr(self, f"min_{unit}"), getattr(self, f"max_{unit}")
                if low is not None and high is not None and low > high:
                    raise ValueError(f"min_{unit} {low} is above max_{unit} {high}")
        if self.type == "json_schema" and (self.json_schema is None) == (self.schema_file is None):
            raise ValueError('type = "json_schema" needs exactly one of json_schema or schema_file')
        if self.max_turns is not None and not self.continue_conversation:
            raise ValueError("'max_turns' goes with continue_conversation = true")
        return self

    def column_for(self, field: str) -> str:
        """Dataset column feeding template ``field``."""
        return self.columns.get(field, field)


_OPTION_TYPES: Mapping[str, tuple[str, ...]] = {
    "text": ("contains", "not_contains"),
    "tool": ("tool_called", "tool_not_called"),
    "arguments": ("tool_called",),
    "tools": ("tool_order",),
    "min_chars": ("length",),
    "max_chars": ("length",),
    "min_words": ("length",),
    "max_words": ("length",),
    "json_schema": ("json_schema",),
    "schema_file": ("json_schema",),
    "continue_conversation": ("llm",),
}
"""Which judge types take each type-specific option."""
