"""The fake provider's fault stages: which request is refused, and how.

Every check reads ``FakeSettings`` afresh and returns an ``aiohttp`` error
response, or None to let the request through. ``*_first_n`` switches count the
requests that reach their stage; ``*_rate`` switches fail exactly
floor(n * rate) of the first n requests that reach them (no RNG).
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter, deque
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from judgekit.testing import fake_bedrock
from judgekit.testing.fake_settings import FakeSettings
from judgekit.testing.fake_wire import (
    STRUCTURED_PARAM,
    ErrorClass,
    WireCall,
    WireProtocol,
    error_body,
)


class FaultGate:
    """The fault stages plus the state they keep (switch counters, the 1 s window)."""

    def __init__(self) -> None:
        # Guards the counters and the window: handlers use them on the server
        # loop while clear() may run on a test thread.
        self._lock = threading.Lock()
        self._taken: Counter[str] = Counter()
        self._seen: Counter[str] = Counter()
        self._window: deque[float] = deque()

    def clear(self) -> None:
        """Forget every switch counter and the rate-limit window."""
        with self._lock:
            self._taken.clear()
            self._seen.clear()
            self._window.clear()

    def take_first(self, name: str, limit: int) -> bool:
        """True for the first ``limit`` requests that ask (a ``*_first_n`` switch)."""
        if limit <= 0:
            return False
        with self._lock:
            if self._taken[name] >= limit:
                return False
            self._taken[name] += 1
            return True

    def hit_rate(self, name: str, rate: float) -> bool:
        """True for exactly floor(n * rate) of the first n requests that ask."""
        if rate <= 0:
            return False
        with self._lock:
            self._seen[name] += 1
            n = self._seen[name]
        return math.floor(n * rate) > math.floor((n - 1) * rate)

    def window_wait_s(self, limit: int) -> float | None:
        """Sliding 1 s window of admitted requests: None to admit, else seconds to wait."""
        now = time.monotonic()
        with self._lock:
            window = self._window
            while window and window[0] <= now - 1.0:
                window.popleft()
            if len(window) >= limit:
                return max(window[0] + 1.0 - now, 0.001)
            window.append(now)
            return None

    def hangs(self, s: FakeSettings) -> bool:
        """Whether this request never gets an answer (until reset or stop)."""
        return s.hang or self.take_first("hang", s.hang_first_n)

    def check_rate(self, protocol: WireProtocol, s: FakeSettings) -> web.Response | None:
        """429 for ``quota_exceeded``, ``rate_limit_first_n``, then ``rate_limit_per_s``."""
        if s.quota_exceeded:
            message = "You exceeded your current quota, please check your plan and billing details."
            # A LiteLLM proxy rewrites the provider's code (insufficient_quota) to "429".
            return error_response(protocol, 429, "rate_limit", message, None, "429")
        if self.take_first("rate_limit", s.rate_limit_first_n):
            first_wait_s = 1.0 if s.retry_after_s is None else s.retry_after_s
            return rate_limited(protocol, s, first_wait_s, "Rate limit reached for requests.")
        if s.rate_limit_per_s > 0:
            wait_s = self.window_wait_s(s.rate_limit_per_s)
            if wait_s is not None:
                wait_s = wait_s if s.retry_after_s is None else s.retry_after_s
                message = f"Rate limit reached for requests per second: limit {s.rate_limit_per_s}."
                return rate_limited(protocol, s, wait_s, message)
        return None

    def check_server(self, protocol: WireProtocol, s: FakeSettings) -> web.Response | None:
        """``fail_status`` (503) for ``fail_5xx_first_n`` and ``fail_5xx_rate``."""
        first = self.take_first("fail_5xx", s.fail_5xx_first_n)
        if first or self.hit_rate("fail_5xx", s.fail_5xx_rate):
            kind: ErrorClass = "overloaded" if s.fail_status in (503, 529) else "server"
            message = "The server had an error while processing your request. Sorry about that!"
            return error_response(protocol, s.fail_status, kind, message)
        return None

    def check_params(
        self, call: WireCall, body: Mapping[str, Any], s: FakeSettings
    ) -> web.Response | None:
        """400 for rejected parameters, then for ``status_400_rate``."""
        protocol = call.protocol
        if s.reject_structured_output and names_structured(protocol, body):
            param = STRUCTURED_PARAM[protocol]
            if protocol == "bedrock_converse" and "toolConfig" in body:
                param = "toolConfig.toolChoice"
            message = f"Unsupported parameter: '{param}' is not supported with this model."
            return _bad_request(protocol, message, param, "unsupported_parameter")
        temperature = _temperature(protocol, body)
        if s.reject_temperature and temperature is not None:
            message = (
                f"Unsupported value: 'temperature' does not support {temperature} with "
                "this model. Only the default (1) value is supported."
            )
            return _bad_request(protocol, message, "temperature", "unsupported_value")
        if s.reject_max_tokens and protocol == "chat_completions" and "max_tokens" in body:
            message = (
                "Unsupported parameter: 'max_tokens' is not supported with this model. "
                "Use 'max_completion_tokens' instead."
            )
            return _bad_request(protocol, message, "max_tokens", "unsupported_parameter")
        if self.hit_rate("status_400", s.status_400_rate):
            return _bad_request(protocol, "Invalid request (injected by the fake provider).")
        return None

    def check_route(self, path: str, s: FakeSettings) -> web.Response | None:
        """``no_api_status`` (a plain-text 404/405 page) or a 301 to ``redirect_to``."""
        if s.redirect_to is not None:
            location = s.redirect_to.rstrip("/") + path
            return web.Response(status=301, headers={"Location": location}, text="Moved")
        if s.no_api_status:
            status = s.no_api_status
            text = f"{status}: {'Not Found' if status == 404 else 'Method Not Allowed'}"
            return web.Response(status=status, text=text)
        return None

    def drops(self, s: FakeSettings) -> bool:
        """Whether this request's connection is closed without an answer."""
        return self.take_first("drop", s.drop_first_n)

    def bad_verdict(self, s: FakeSettings, *, reask: bool) -> bool:
        """Whether the verdict text is prose; the stricter re-ask gets a proper answer."""
        if s.bad_verdict_always:
            return True
        return not reask and self.take_first("bad_verdict", s.bad_verdict_first_n)

    def malformed(self, s: FakeSettings) -> bool:
        """Whether this 200 carries a truncated JSON body."""
        first = self.take_first("malformed", s.malformed_first_n)
        return first or self.hit_rate("malformed", s.malformed_rate)


def error_response(
    protocol: WireProtocol,
    status: int,
    kind: ErrorClass,
    message: str,
    param: str | None = None,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """A JSON error response shaped like the protocol's real one."""
    body = error_body(protocol, kind, message, param=param, code=code)
    if protocol == "bedrock_converse":
        headers = {**(headers or {}), **fake_bedrock.error_headers(kind)}
    return web.json_response(body, status=status, headers=headers)


def _temperature(protocol: WireProtocol, body: Mapping[str, Any]) -> Any:
    """The temperature a body sends, or None (Bedrock: ``inferenceConfig.temperature``)."""
    if protocol == "bedrock_converse":
        inference = body.get("inferenceConfig")
        return inference.get("temperature") if isinstance(inference, dict) else None
    return body.get("temperature")


def _bad_request(
    protocol: WireProtocol, message: str, param: str | None = None, code: str | None = None
) -> web.Response:
    return error_response(protocol, 400, "invalid_request", message, param, code)


def check_auth(
    headers: Mapping[str, str], protocol: WireProtocol, s: FakeSettings
) -> web.Response | None:
    """401 for ``status_401`` or a key other than ``api_key`` (Bedrock: 403); 400 without
    anthropic-version.  OpenAI-shaped protocols take ``Authorization: Bearer`` or Azure's
    ``api-key`` header."""
    if protocol == "anthropic":
        key = headers.get("x-api-key")
    else:
        authorization = headers.get("Authorization", "")
        key = authorization[7:] if authorization.startswith("Bearer ") else None
        if key is None and protocol != "bedrock_converse":
            key = headers.get("api-key")
    if s.status_401 or (s.api_key is not None and key != s.api_key):
        # Never echo the key, not even masked.
        if protocol == "anthropic":
            return error_response(protocol, 401, "auth", "invalid x-api-key")
        if protocol == "bedrock_converse":
            message = "Authentication failed: Please make sure your API Key is valid."
            return error_response(protocol, fake_bedrock.AUTH_STATUS, "auth", message)
        message = "Incorrect API key provided."
        return error_response(protocol, 401, "auth", message, code="invalid_api_key")
    if protocol == "anthropic" and "anthropic-version" not in headers:
        return _bad_request(protocol, "anthropic-version: header is required")
    return None


def rate_limited(
    protocol: WireProtocol, s: FakeSettings, wait_s: float, message: str
) -> web.Response:
    """429 announcing ``wait_s`` the way ``retry_hint`` says (``Retry-After`` in ceil
    seconds and ``retry-after-ms`` by default; none without ``send_retry_after``)."""
    headers = _wait_hint(s.retry_hint, wait_s) if s.send_retry_after else {}
    full = f"{message} Please try again in {math.ceil(wait_s * 1000)}ms."
    return error_response(protocol, 429, "rate_limit", full, None, "rate_limit_exceeded", headers)


def _wait_hint(style: str, wait_s: float) -> dict[str, str]:
    millis = f"{math.ceil(wait_s * 1000)}ms"
    if style == "standard":
        return {"Retry-After": str(math.ceil(wait_s)), "retry-after-ms": millis[:-2]}
    if style == "litellm":
        return {
            "llm_provider-retry-after": str(math.ceil(wait_s)),
            "llm_provider-x-ratelimit-remaining-requests": "0",
            "llm_provider-x-ratelimit-reset-requests": millis,
        }
    if style == "reset":
        return {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": millis}
    if style == "none":
        return {}
    raise ValueError(f"retry_hint: unknown style {style!r} (standard, litellm, reset, none)")


def names_structured(protocol: WireProtocol, body: Mapping[str, Any]) -> bool:
    """Whether the body carries the protocol's structured-output parameter."""
    if protocol == "chat_completions":
        return "response_format" in body
    if protocol == "anthropic":
        return "tool_choice" in body
    if protocol == "bedrock_converse":
        return "outputConfig" in body or "toolConfig" in body
    text = body.get("text")
    return isinstance(text, dict) and "format" in text
