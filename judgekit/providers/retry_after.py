"""The wait a server asks for before the next request, read from its response headers.

One pure function, ``parse_retry_after``: the ``Retry-After`` family (also in
milliseconds, and as a LiteLLM proxy forwards it) and the ``x-ratelimit-reset-*``
resets of an exhausted limit.  ``failures.classify_response`` calls it for 429
and 5xx replies.
"""

from __future__ import annotations

import email.utils
import re
from datetime import UTC, datetime

import httpx


def parse_retry_after(
    headers: httpx.Headers, *, now: datetime | None = None, resets: bool = True
) -> float | None:
    """Seconds the server asks us to wait, or None when it gives no hint.

    Read in this order, each also under LiteLLM's ``llm_provider-`` prefix (a proxy passes
    the provider's headers on that way): ``retry-after-ms``; ``Retry-After`` (seconds or
    HTTP date); then the ``x-ratelimit-reset-requests`` / ``-tokens`` resets (OpenAI
    durations like ``"1s"``, ``"6m0s"``, ``"20ms"``, or plain seconds): the longest reset of
    a limit whose ``x-ratelimit-remaining-*`` is 0, else, when no remaining count is sent,
    the shortest reset given (a proxy may strip the counts).  ``resets=False`` reads only
    the ``Retry-After`` family (a 5xx is not about a rate limit).  Negative waits become 0."""
    now = now or datetime.now(UTC)
    for prefix in _HINT_PREFIXES:
        millis = _number(headers.get(f"{prefix}retry-after-ms"))
        if millis is not None:
            return max(0.0, millis / 1000)
        value = headers.get(f"{prefix}retry-after")
        if value is not None:
            seconds = _number(value)
            if seconds is None:
                seconds = _seconds_until(value, now)
            if seconds is not None:
                return max(0.0, seconds)
    for prefix in _HINT_PREFIXES if resets else ():
        reset = _limit_reset(headers, prefix, now)
        if reset is not None:
            return max(0.0, reset)
    return None


_HINT_PREFIXES = ("", "llm_provider-")
"""Where a wait hint may be: the provider's own header, or as a LiteLLM proxy forwards it."""


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if number == number and abs(number) != float("inf") else None


def _seconds_until(http_date: str, now: datetime) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(http_date)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - now).total_seconds()


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_EPOCH_S = 1e9
"""A reset given as a number this large is a Unix time, not a duration."""


def parse_duration_s(text: str) -> float | None:
    """OpenAI's reset durations (``"1s"``, ``"6m0s"``, ``"20ms"``, ``"1h2m3.5s"``) in seconds."""
    text = text.strip()
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        return None
    return sum(float(number) * _UNIT_S[unit] for number, unit in parts)


def _reset_s(text: str | None, now: datetime) -> float | None:
    """A reset hint in seconds: a duration, plain seconds, or a Unix time."""
    if text is None:
        return None
    number = _number(text)
    if number is None:
        return parse_duration_s(text)
    return number - now.timestamp() if number >= _EPOCH_S else number


def _limit_reset(headers: httpx.Headers, prefix: str, now: datetime) -> float | None:
    """The reset of the exhausted limit(s) among ``{prefix}x-ratelimit-*`` (see above)."""
    exhausted: list[float] = []
    unknown: list[float] = []
    for limit in ("requests", "tokens"):
        reset = _reset_s(headers.get(f"{prefix}x-ratelimit-reset-{limit}"), now)
        if reset is None:
            continue
        remaining = headers.get(f"{prefix}x-ratelimit-remaining-{limit}")
        if remaining is None:
            unknown.append(reset)
        elif _number(remaining) == 0:
            exhausted.append(reset)
    if exhausted:
        return max(exhausted)
    return min(unknown) if unknown else None
