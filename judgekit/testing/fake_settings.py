"""The fake provider's switches (``FakeSettings``) and what it reports (requests, stats)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class FakeSettings:
    """Fault switches; every request reads them afresh, so tests may change them live.

    A ``*_first_n`` switch affects the first N requests that reach its stage
    (counted since the last reset); a ``*_rate`` F affects exactly floor(n*F)
    of the first n requests that reach it (deterministic, no RNG).
    """

    latency_ms: float = 0.0
    """Sleep this long per request (after auth and rate-limit checks)."""
    fail_5xx_rate: float = 0.0
    fail_5xx_first_n: int = 0
    fail_status: int = 503
    """Status of injected server errors (500, 502, 503, 529...)."""
    status_401: bool = False
    """Every request gets 401 with a protocol-shaped error body."""
    api_key: str | None = field(default=None, repr=False)
    """When set, a request carrying any other key (or none) gets 401."""
    malformed_rate: float = 0.0
    """200 whose body is truncated JSON."""
    malformed_first_n: int = 0
    bad_verdict_first_n: int = 0
    """200, valid envelope, verdict text is prose (the re-ask is answered properly)."""
    bad_verdict_always: bool = False
    """The verdict text is never JSON, re-ask included."""
    out_of_scale: bool = False
    """The score lies above the scale's high end."""
    examples_shift: float = 0.0
    """A prompt holding few-shot examples (``<examples>``) moves the stand-in 0..1 score
    by this much, clipped to [0, 1] (``fake_verdicts``): lets a test make few-shot help
    or hurt ``judgekit align``."""
    rate_limit_per_s: int = 0
    """More than N admitted requests in any sliding 1 s window -> 429 (0: off)."""
    retry_after_s: float | None = None
    """Overrides the wait announced by 429s (``Retry-After`` is its ceiling)."""
    send_retry_after: bool = True
    """False: 429s carry no ``Retry-After`` / ``retry-after-ms`` headers."""
    rate_limit_first_n: int = 0
    """The first N requests get 429 with ``retry_after_s`` (default 1 s)."""
    reject_structured_output: bool = False
    """400 naming ``response_format`` / ``text.format`` / ``tool_choice`` when sent."""
    reject_temperature: bool = False
    """400 naming ``temperature`` when sent."""
    reject_max_tokens: bool = False
    """Chat Completions: 400 when ``max_tokens`` is sent (wants ``max_completion_tokens``)."""
    status_400_rate: float = 0.0
    hang: bool = False
    """Never answer (until reset() or stop())."""
    hang_first_n: int = 0
    fence_every: int = 3
    """Prompt-only replies: prose + a json fence when crc32(prompt) % N == 0 (0: never)."""
    reasoning_tokens: int = 0
    """Reported reasoning tokens (added to output tokens; Responses gets a reasoning item).
    Every reply honours the request's output cap: one whose reasoning plus visible tokens
    exceed it is cut off at the cap and billed the cap (``fake_replies``)."""
    hidden_reasoning_usage: bool = False
    """Chat Completions: ``completion_tokens`` leaves the reasoning tokens out while
    ``total_tokens`` counts them (Gemini's OpenAI-compatible endpoint, some proxies)."""
    bedrock_stop_reason: str | None = None
    """Bedrock: answer with this ``stopReason``; ``guardrail_intervened`` and
    ``content_filtered`` carry the guardrail's canned text, ``max_tokens`` half the text,
    ``malformed_model_output`` no content."""
    should_continue: bool = True
    """Answer to the continuation question: go on (with a next_prompt), or end."""
    position_bias: float = 0.0
    """Pairwise prompts: added to the figure of the output shown first (1.0: the first
    always wins), so answers change with the order (``fake_judges.pairwise_answer``)."""
    reply_model: str | None = None
    """Model name to report instead of echoing the request's."""
    think_prefix: str | None = None
    """Reasoning text with a decoy verdict (the score mirrored) before the answer, in a
    ``<TAG>`` block: "think", "Thinking", "reasoning"...; "lone": only a closing
    ``</think>`` after it.  Anthropic forced-tool replies get a ``thinking`` block, and
    Responses replies a reasoning item with the decoy as well (``fake_replies``)."""
    verdict_defect: str | None = None
    """The verdict written with a defect, re-asks too: raw_newlines, trailing_comma,
    confidence_word, criteria_words, no_score, unclosed (``fake_replies.DEFECTS``)."""
    refuse: bool = False
    """Every reply is a billed refusal (chat ``message.refusal``, a Responses refusal
    part, Anthropic ``stop_reason: "refusal"``)."""
    empty_reply: bool = False
    """Every reply is empty (input billed, no output)."""
    gzip_replies: bool = False
    """Every reply body is gzip-compressed with ``Content-Encoding: gzip`` (aiohttp asks for
    it in ``Accept-Encoding``, and providers behind CDNs send it)."""
    tool_call_reply: bool = False
    """Chat Completions: ``content`` null, the answer in one tool call's arguments."""
    error_in_200: str | None = None
    """Every reply is a 200 whose body is an error of this class: rate_limit, auth,
    server, overloaded, invalid_request (as some gateways answer)."""
    record: bool = True
    """Record every request in ``FakeProvider.requests`` (off from the CLI: memory)."""
    omit_usage: bool = False
    """200 replies carry no ``usage`` object (some local servers and proxies)."""
    input_tokens_per_byte: float = 0.0
    """Bill ceil(prompt UTF-8 bytes x F) input tokens instead of ceil(bytes / 4) (0: off);
    dense text (hex ids, base64) really bills about 0.6, and no tokenizer above 1."""
    no_api_status: int = 0
    """Answer every API request with this status (404, 405) and a plain-text page, as a
    server with no API at that path does (0: off)."""
    redirect_to: str | None = None
    """Answer every API request with 301 to this URL + the request's path (as a server
    redirecting http:// to https:// does)."""
    drop_first_n: int = 0
    """Close the connection of the first N requests that reach this stage, unanswered."""
    retry_hint: str = "standard"
    """How 429s say how long to wait: ``standard`` (Retry-After, retry-after-ms),
    ``litellm`` (``llm_provider-retry-after``, ``llm_provider-x-ratelimit-reset-requests``
    as a LiteLLM proxy forwards them), ``reset`` (``x-ratelimit-remaining-requests: 0``
    and ``x-ratelimit-reset-requests``, OpenAI's own), or ``none``."""
    quota_exceeded: bool = False
    """Every request gets 429 "You exceeded your current quota", its code rewritten to
    ``"429"`` as a LiteLLM proxy does."""
    batch_polls_to_finish: int = 0
    """Batch APIs (``fake_batches``): a batch ends on its Nth status check (0: the first)."""
    batch_ending: str = "completed"
    """How a batch ends: ``completed``, ``expired`` or ``cancelled`` (then no request in it
    is answered)."""
    batch_fail_every: int = 0
    """In a completed batch, every Nth request (N, 2N, ...) fails with a 500 of its own."""
    batch_hang_at: str | None = None
    """Hang (until reset) at a step, for kill -9 tests: ``create_before`` (the batch create
    request, before anything is created), ``create_after`` (the batch is created, its reply
    never sent) or ``results`` (fetching an ended batch's results)."""


@dataclass(frozen=True, slots=True)
class FakeRequest:
    """One request as the fake received it."""

    path: str
    headers: Mapping[str, str]
    """Header names lowercased."""
    body: Any
    """Parsed JSON body; None when it was not valid JSON."""
    time_s: float
    """``time.monotonic()`` on arrival."""
    query: str = ""
    """The raw query string (``api-version=2024-10-21``), without the ``?``."""


@dataclass(frozen=True, slots=True)
class FakeStats:
    """Counters since the last reset (also served as JSON at ``GET /_stats``)."""

    requests: int
    """API requests received (``/_stats`` and ``/_reset`` excluded)."""
    by_status: Mapping[int, int]
    rate_limited: int
    """Number of 429 answers."""
    by_path: Mapping[str, int]
    in_flight: int
    max_in_flight: int
    input_tokens: int
    """Tokens billed by successful replies (also when ``omit_usage`` does not report them)."""
    output_tokens: int

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (status codes become string keys)."""
        return {
            "requests": self.requests,
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "rate_limited": self.rate_limited,
            "by_path": dict(self.by_path),
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
        }
