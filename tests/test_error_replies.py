"""providers.error_replies: a 2xx body that carries an ``error`` is that error."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from judgekit.providers.error_replies import error_status, raise_error_reply
from judgekit.providers.failures import ErrorReply, Failure, classify_exception
from judgekit.records import Usage

KEY = "sk-proj-abcdef1234567890"


def ok(body: Any) -> httpx.Response:
    """A 200 with ``body`` as JSON, answering a request that carried ``KEY``."""
    request = httpx.Request("POST", "https://gw.example.test/v1/chat/completions")
    request.headers["authorization"] = f"Bearer {KEY}"
    return httpx.Response(200, content=json.dumps(body).encode(), request=request)


CASES = [
    (
        "openai rate limit",
        {"error": {"message": "Slow down.", "type": "requests", "code": "rate_limit_exceeded"}},
        Failure(
            "rate_limit",
            "rate_limit",
            None,
            "HTTP 200 with an error body (rate_limit_exceeded): Slow down.",
        ),
    ),
    (
        "quota is not retried",
        {"error": {"message": "You exceeded your quota.", "code": "insufficient_quota"}},
        Failure(
            "rate_limit",
            "no",
            None,
            "HTTP 200 with an error body (insufficient_quota): You exceeded your quota.",
            lasting=True,  # out of quota: every later request would fail the same way
        ),
    ),
    (
        "numeric code (OpenRouter)",
        {"error": {"code": 502, "message": "Provider returned error"}},
        Failure(
            "server_error",
            "transient",
            None,
            "HTTP 200 with an error body (502): Provider returned error",
        ),
    ),
    (
        "numeric string code (a proxy)",
        {"error": {"code": "401", "message": "bad key"}},
        Failure("auth", "no", None, "HTTP 200 with an error body (401): bad key"),
    ),
    (
        "anthropic overloaded",
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
        Failure(
            "server_error",
            "transient",
            None,
            "HTTP 200 with an error body (overloaded_error): Overloaded",
        ),
    ),
    (
        "invalid api key is auth, not a bad request",
        {
            "error": {
                "message": "Incorrect key.",
                "type": "invalid_request_error",
                "code": "invalid_api_key",
            }
        },
        Failure(
            "auth", "no", None, "HTTP 200 with an error body (invalid_api_key): Incorrect key."
        ),
    ),
    (
        "context length is a bad request",
        {
            "error": {
                "message": "Too long.",
                "type": "invalid_request_error",
                "code": "context_length_exceeded",
            }
        },
        Failure(
            "bad_request",
            "no",
            None,
            "HTTP 200 with an error body (context_length_exceeded): Too long.",
        ),
    ),
    (
        "google status",
        {"error": {"status": "RESOURCE_EXHAUSTED", "message": "Try again later."}},
        Failure(
            "rate_limit",
            "rate_limit",
            None,
            "HTTP 200 with an error body (RESOURCE_EXHAUSTED): Try again later.",
        ),
    ),
    (
        "a plain string",
        {"error": "upstream timed out"},
        Failure(
            "server_error", "transient", None, "HTTP 200 with an error body: upstream timed out"
        ),
    ),
    (
        "unknown kind: a gateway's error",
        {"error": {"message": "Something odd.", "type": "weird"}},
        Failure(
            "server_error", "transient", None, "HTTP 200 with an error body (weird): Something odd."
        ),
    ),
    (
        "a key in the message is redacted",
        {"error": {"message": f"Key {KEY} is not allowed.", "code": "permission_denied"}},
        Failure(
            "auth",
            "no",
            None,
            "HTTP 200 with an error body (permission_denied): Key [redacted] is not allowed.",
        ),
    ),
]


@pytest.mark.parametrize(("body", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_an_error_body_is_classified_as_its_error(body: dict[str, Any], expected: Failure) -> None:
    usage = Usage(input_tokens=3)
    with pytest.raises(ErrorReply) as caught:
        raise_error_reply(body, ok(body), usage)
    assert caught.value.failure == expected
    assert classify_exception(caught.value) == expected
    assert caught.value.usage == usage


@pytest.mark.parametrize(
    "body",
    [{"choices": []}, {"error": None}, {"error": {}}, {"error": ""}, {"error": 3}],
    ids=["no error", "null", "empty object", "empty string", "a number"],
)
def test_no_error_no_exception(body: dict[str, Any]) -> None:
    raise_error_reply(body, ok(body), Usage())


@pytest.mark.parametrize(
    ("error", "status"),
    [
        ({"code": 429}, 429),
        ({"code": "503"}, 503),
        ({"status": 408}, 408),
        ({"code": 200, "type": "server_error"}, 500),
        ({"type": "authentication_error"}, 401),
        ({"type": "not_found_error"}, 400),
        ({"code": "request_timeout"}, 408),
        ({"type": "api_error"}, 500),
        ({}, 502),
    ],
)
def test_error_status(error: dict[str, Any], status: int) -> None:
    assert error_status(error) == status
