"""A 2xx body that is an error: some gateways and proxies (LiteLLM, OpenRouter, API
managers) answer an upstream error with HTTP 200 and the provider's error object.

Such a body is that error, not "no choices in the reply": it is classified exactly as
if it had come with the status its ``code`` or ``type`` stands for (so a rate limit in
a 200 waits and slows the connection, a refused key stops the run, a bad request is
the row's error), and its message is kept::

    error.code / error.status (a number)       that status
    type or code names quota, billing, rate    429  rate_limit (a quota: not retried)
    ... names auth, api_key, permission        401  auth
    ... names overloaded                       529  server_error
    ... names timeout                          408  timeout
    ... names invalid, not_found, unsupported  400  bad_request
    ... names server, internal, unavailable    500  server_error
    anything else                              502  server_error (a gateway's error)

An OpenAI Responses body with ``status: "failed"`` carries its ``error`` the same way.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx

from judgekit.providers.failures import ErrorReply, classify_response
from judgekit.records import Usage

_STATUS_MARKERS: tuple[tuple[tuple[str, ...], int], ...] = (
    (("quota", "billing", "spend_limit", "rate_limit", "rate limit", "too_many", "exhausted"), 429),
    (("auth", "api_key", "permission", "unauthorized", "forbidden"), 401),
    (("overloaded",), 529),
    (("timeout", "timed_out"), 408),
    (("invalid", "bad_request", "not_found", "unsupported", "context_length"), 400),
    (("server", "internal", "unavailable", "api_error", "service"), 500),
)
"""The first marker found in the lowercased type and code decides (auth before
``invalid``: ``invalid_api_key`` is a key problem)."""
GATEWAY_STATUS = 502


def raise_error_reply(body: dict[str, Any], response: httpx.Response, usage: Usage | None) -> None:
    """Raise ErrorReply when a 2xx ``body`` carries a non-empty ``error``; else nothing."""
    error = body.get("error")
    if not error or not isinstance(error, dict | str):
        return
    fields: dict[str, Any] = error if isinstance(error, dict) else {"message": error}
    status = error_status(fields)
    try:
        request = response.request
    except RuntimeError:  # a response built without its request (unit tests)
        request = httpx.Request("POST", "http://localhost/")
    as_sent = httpx.Response(
        status, headers=response.headers, content=response.content, request=request
    )
    failure = classify_response(as_sent)
    assert failure is not None  # status is never 2xx
    label = _label(fields)
    detail = failure.message.partition(": ")[2] or "no message"
    message = f"HTTP {response.status_code} with an error body{label}: {detail}"
    raise ErrorReply(replace(failure, message=message), usage)


def error_status(error: dict[str, Any]) -> int:
    """The HTTP status an error object stands for (see the module table)."""
    for key in ("code", "status"):
        value = error.get(key)
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool) and 400 <= value <= 599:
            return value
    said = " ".join(
        str(error.get(key)).lower() for key in ("type", "code", "status") if error.get(key)
    )
    for markers, status in _STATUS_MARKERS:
        if any(marker in said for marker in markers):
            return status
    return GATEWAY_STATUS


def _label(error: dict[str, Any]) -> str:
    """`` (type)`` naming the error, when the body names it."""
    for key in ("code", "type", "status"):
        value = error.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return f" ({value})"
    return ""
