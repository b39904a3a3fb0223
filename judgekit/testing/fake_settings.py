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
    """Reported reasoning tokens (added to output tokens; Responses gets a reasoning item)."""
    should_continue: bool = True
    """Answer to the continuation question: go on (with a next_prompt), or end."""
    reply_model: str | None = None
    """Model name to report instead of echoing the request's."""
    record: bool = True
    """Record every request in ``FakeProvider.requests`` (off from the CLI: memory)."""


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
    """Usage reported in successful replies."""
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
