"""Plain typed records shared by the core: calls, replies, usage, verdicts, results.

Field names match the output columns (``input_tokens``, ``cost_usd``,
``latency_ms``) so that a record maps to a row without renaming.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from judgekit.errors import ErrorKind

OutputMode = Literal["json_schema", "json_object", "prompt"]
"""How a judge's JSON answer is requested: the provider's schema option,
its JSON mode, or only by the prompt (the tolerant parser does the rest)."""

TokenParam = Literal["max_tokens", "max_completion_tokens"]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where and as whom to send: the base URL and the API key (never stored)."""

    base_url: str
    """API root; may hold ``{model}`` (replaced per request) and a query string."""
    api_key: str | None = field(default=None, repr=False)
    key_header: str | None = None
    """Header carrying the key as is (Azure: ``api-key``); None: the protocol's own."""
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    """The connection's extra headers, ``${VAR}`` expanded: sent, never stored or shown."""


@dataclass(frozen=True, slots=True)
class ModelCall:
    """One judge request before any protocol's wire format."""

    model: str
    system: str
    user: str
    max_output_tokens: int
    temperature: float | None = 0.0
    """``None``: do not send a temperature (models that reject it)."""
    output_mode: OutputMode = "json_schema"
    json_schema: Mapping[str, Any] | None = None
    """JSON schema of the verdict, sent when ``output_mode == "json_schema"``."""
    token_param: TokenParam = "max_tokens"
    """Chat Completions only: reasoning models want ``max_completion_tokens``."""
    params: Mapping[str, Any] | None = None
    """Extra body members (the connection's and judge's ``params``), merged in last."""


@dataclass(frozen=True, slots=True)
class Usage:
    """Token usage reported by the provider."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    """Part of ``input_tokens`` read from the provider's prompt cache."""
    cache_write_tokens: int = 0
    """Anthropic: input tokens written to its prompt cache (billed extra)."""
    reasoning_tokens: int = 0
    """Part of ``output_tokens`` spent on hidden reasoning."""


@dataclass(frozen=True, slots=True)
class Reply:
    """A provider's successful answer, reduced to what judgekit uses."""

    text: str
    usage: Usage | None
    """None: the reply carried no usage, so its tokens and cost are unknown."""
    model: str
    response_id: str | None


@dataclass(frozen=True, slots=True)
class Scale:
    """The score scale a template asks for; scores are normalised to 0..1."""

    low: float = 0.0
    high: float = 1.0
    integer: bool = False


@dataclass(frozen=True, slots=True)
class Verdict:
    """A judge's parsed answer, score already normalised to 0..1."""

    score: float
    reasoning: str
    confidence: float | None = None
    criteria: Mapping[str, float | None] | None = None
    """Per-criterion scores, 0..1; None for a criterion the judge filled badly."""
    should_continue: bool | None = None
    """With ``continue_conversation``: whether the conversation should go on."""
    next_prompt: str | None = None
    """With ``continue_conversation``: the user's next message (None when it ends)."""


@dataclass(frozen=True, slots=True)
class JudgeResult:
    """One judge's outcome for one row: exactly the ``J_*`` output columns."""

    score: float | None = None
    passed: bool | None = None
    reasoning: str | None = None
    confidence: float | None = None
    criteria: Mapping[str, float | None] | None = None
    error: ErrorKind | None = None
    input_tokens: int | None = 0
    """None when a reply of this row reported no usage (never a made-up 0)."""
    output_tokens: int | None = 0
    cost_usd: float | None = 0.0
    """None when the model's price or a reply's usage is unknown (never a made-up 0)."""
    latency_ms: float | None = None
    model: str | None = None
    response_id: str | None = None
    should_continue: bool | None = None
    """``J_should_continue`` (judges with ``continue_conversation`` only)."""
    next_prompt: str | None = None
    """``J_next_prompt``: the user's next message, None when the conversation ends."""
    score_stddev: float | None = None
    """``J_score_stddev`` (judges with ``samples`` > 1): sample standard deviation of the
    samples' scores."""
    vote_share: float | None = None
    """``J_vote_share`` (judges with ``samples`` > 1): share of samples that voted with the
    majority (0.5 on a tie)."""
    winner: str | None = None
    """``J_winner`` (pairwise judges): ``a``, ``b`` or ``tie``."""
    position_consistent: bool | None = None
    """``J_position_consistent`` (pairwise judges): both orders chose the same winner."""


PASS_TOLERANCE = 1e-9
"""How far below the threshold a score may be and still pass: float rounding only.
A weighted mean or a rescaled verdict that is the threshold in exact arithmetic can land
a few ulps below it (0.7499999999999999 for 0.75); no real score is that close."""


def passes(score: float, threshold: float) -> bool:
    """``score >= threshold``, up to ``PASS_TOLERANCE`` (the ``J_passed`` rule)."""
    return score >= threshold - PASS_TOLERANCE
