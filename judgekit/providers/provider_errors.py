"""What a provider's error body says: its fields, and a short message safe to show.

``provider_error`` reads the OpenAI- and Anthropic-shaped error objects (and the
plain strings of compatible servers).  ``status_message`` is a non-2xx reply as
one line (``HTTP 404 Not Found: <message>``), the request's own key and
anything key-like redacted, cut to ``MESSAGE_CHARS``.  ``is_quota`` and
``exceeds_limit`` read a 429's words: out of credit, or one request above the
limit itself, neither of which waiting fixes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import httpx

MESSAGE_CHARS = 200
_KEY_LIKE = re.compile(
    r"\b(?:sk|pk|rk|gsk)[-_][\w\-*.]{6,}"  # sk-..., sk-ant-..., sk-proj-****abcd, gsk_...
    r"|\bAIza[\w-]{20,}"  # Google API keys
    r"|\b(?=[\w-]*\d)[\w-]{32,}"  # any long token with a digit: hex or base64 secrets
)
_QUOTA_CODES = ("insufficient_quota", "billing_hard_limit", "spend_limit")
_PLAIN_HEADERS = frozenset(
    {"host", "accept", "accept-encoding", "content-type", "content-length", "anthropic-version"}
)
"""Request headers whose values are no secret (every other value is redacted)."""


@dataclass(frozen=True, slots=True)
class ProviderError:
    """The fields of an OpenAI- or Anthropic-shaped error body."""

    message: str
    param: str | None = None
    code: str | None = None


def provider_error(text: str) -> ProviderError:
    """Read ``{"error": {"message", "param", "code"|"type"}}`` and kin; the raw text otherwise."""
    try:
        body = json.loads(text)
    except ValueError:
        return ProviderError(text.strip())
    if not isinstance(body, dict):
        return ProviderError(text.strip())
    error = body.get("error", body)
    if isinstance(error, str):  # {"error": "message"} (some compatible servers)
        return ProviderError(error)
    if not isinstance(error, dict):
        return ProviderError(text.strip())
    message = error.get("message") or error.get("detail") or ""
    param, code = error.get("param"), error.get("code") or error.get("type")
    details = error.get("details")
    if isinstance(details, dict) and isinstance(details.get("error_code"), str):
        code = details["error_code"]  # Anthropic spend limits
    return ProviderError(
        message if isinstance(message, str) else json.dumps(message),
        param if isinstance(param, str) else None,
        code if isinstance(code, str) else None,
    )


def status_message(response: httpx.Response) -> str:
    """``HTTP 404 Not Found: <provider message>``, the message redacted and truncated."""
    head = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
    detail = _provider_detail(response)
    return f"{head}: {detail}" if detail else head


def _provider_detail(response: httpx.Response) -> str:
    try:
        text = response.text
    except (httpx.ResponseNotRead, UnicodeDecodeError):
        return ""
    content_type = response.headers.get("content-type", "")
    if "json" in content_type or text.lstrip().startswith("{"):
        detail = provider_error(text).message
    elif content_type.startswith("text/plain"):
        detail = text
    else:  # an HTML error page from a proxy says nothing useful in one line
        return ""
    return _truncate(_redact(" ".join(detail.split()), response))


def _redact(text: str, response: httpx.Response) -> str:
    """Remove the request's own key and anything key-like from a provider's message."""
    try:
        request_headers = response.request.headers
    except RuntimeError:  # a response built without a request
        request_headers = httpx.Headers()
    # Every header value judgekit did not set itself: the key, and a connection's own
    # headers (a gateway's auth header) that a gateway may echo in its error.
    for name, value in request_headers.items():
        if name.lower() in _PLAIN_HEADERS:
            continue
        secret = value[7:] if value.lower().startswith("bearer ") else value
        if len(secret) >= 6:
            text = text.replace(secret, "[redacted]")
    return _KEY_LIKE.sub("[redacted]", text)


def _truncate(text: str) -> str:
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 1] + "…"


def is_quota(response: httpx.Response) -> bool:
    """A 429 that waiting will not fix: the account is out of credit or over its spend limit.

    Recognised by the error's code (``insufficient_quota``, spend limits) or, since a proxy
    may rewrite the code (LiteLLM sends ``"429"``), by its message; a message that also
    says when to retry is a per-minute quota (Gemini words those alike), not an empty one."""
    error = _error_of(response)
    if error is None:
        return False
    code = (error.code or "").lower()
    if any(marker in code for marker in _QUOTA_CODES):
        return True
    said = error.message.lower()
    if any(marker in said for marker in _RETRY_SOON):
        return False
    return any(marker in said for marker in _QUOTA_MESSAGES)


_QUOTA_MESSAGES = (
    "insufficient_quota",
    "exceeded your current quota",
    "credit balance is too low",
    "insufficient credit",
    "insufficient balance",
    "out of credits",
    "spend limit",
    "billing hard limit",
    "budget has been exceeded",
)
_RETRY_SOON = ("retry in", "try again in", "retry after")
_LIMIT_REQUESTED = re.compile(r"limit:?\s*([\d,]+)\D{0,40}?requested:?\s*([\d,]+)", re.IGNORECASE)


def exceeds_limit(response: httpx.Response) -> bool:
    """A 429 for one request larger than the limit itself (``Limit 30000, Requested 45000``):
    it never clears, however long one waits."""
    error = _error_of(response)
    match = _LIMIT_REQUESTED.search(error.message) if error else None
    if match is None:
        return False
    limit, requested = (int(group.replace(",", "")) for group in match.groups())
    return requested > limit


def _error_of(response: httpx.Response) -> ProviderError | None:
    try:
        return provider_error(response.text)
    except (httpx.ResponseNotRead, UnicodeDecodeError):
        return None
