"""providers.failures: the classification table, Retry-After, provider messages, real sockets."""

from __future__ import annotations

import json
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import aiohttp
import anyio
import httpx
import pytest
from anyio.abc import SocketAttribute, SocketStream

from judgekit.engine.transport import BufferedAiohttpTransport
from judgekit.providers.failures import (
    Failure,
    MalformedReply,
    classify_exception,
    classify_response,
)
from judgekit.providers.provider_errors import provider_error
from judgekit.providers.retry_after import parse_duration_s, parse_retry_after
from judgekit.providers.wire import read_json, token_count
from judgekit.records import Usage

KEY = "sk-proj-Zx9secretSECRETsecret0000"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def response(
    status: int, body: Any = None, headers: dict[str, str] | None = None, *, key: str = KEY
) -> httpx.Response:
    """A response to a request that carried ``key``, as the engine would get it."""
    request = httpx.Request(
        "POST", "http://127.0.0.1:9/v1/chat/completions", headers={"authorization": f"Bearer {key}"}
    )
    if body is None or isinstance(body, str):
        return httpx.Response(status, text=body or "", headers=headers, request=request)
    return httpx.Response(status, json=body, headers=headers, request=request)


def openai_error(message: str, code: str | None = None, param: str | None = None) -> Any:
    return {
        "error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    }


def anthropic_error(kind: str, message: str) -> Any:
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_011"}


# --- classify_response --------------------------------------------------------------------

CLASSIFY_CASES = [
    ("200", response(200, {"id": "x"}), None),
    ("204", response(204), None),
    (
        "429 retry-after",
        response(
            429, openai_error("Rate limit reached.", "rate_limit_exceeded"), {"retry-after": "7"}
        ),
        Failure("rate_limit", "rate_limit", 7.0, "HTTP 429 Too Many Requests: Rate limit reached."),
    ),
    (
        "429 no header",
        response(429, anthropic_error("rate_limit_error", "Number of requests exceeded.")),
        Failure(
            "rate_limit",
            "rate_limit",
            None,
            "HTTP 429 Too Many Requests: Number of requests exceeded.",
        ),
    ),
    (
        "429 quota",
        response(429, openai_error("You exceeded your current quota.", "insufficient_quota")),
        Failure(
            "rate_limit",
            "no",
            None,
            "HTTP 429 Too Many Requests: You exceeded your current quota.",
            lasting=True,
        ),
    ),
    (
        "429 anthropic spend limit",
        response(
            429,
            {
                "type": "error",
                "error": {
                    "type": "rate_limit_error",
                    "message": "Spend limit reached.",
                    "details": {"error_code": "enforced_spend_limit_reached"},
                },
            },
            {"retry-after": "60"},
        ),
        Failure(
            "rate_limit",
            "no",
            None,
            "HTTP 429 Too Many Requests: Spend limit reached.",
            lasting=True,
        ),
    ),
    (
        "401 openai",
        response(401, openai_error("Incorrect API key provided.", "invalid_api_key")),
        Failure("auth", "no", None, "HTTP 401 Unauthorized: Incorrect API key provided."),
    ),
    (
        "403 anthropic",
        response(403, anthropic_error("permission_error", "Your API key lacks permission.")),
        Failure("auth", "no", None, "HTTP 403 Forbidden: Your API key lacks permission."),
    ),
    (
        "408",
        response(408, "", {"retry-after": "1"}),
        Failure("timeout", "transient", 1.0, "HTTP 408 Request Timeout"),
    ),
    (
        "409",
        response(409, anthropic_error("conflict_error", "Conflict.")),
        Failure("server_error", "transient", None, "HTTP 409 Conflict: Conflict."),
    ),
    (
        "500",
        response(500, openai_error("The server had an error.")),
        Failure(
            "server_error",
            "transient",
            None,
            "HTTP 500 Internal Server Error: The server had an error.",
        ),
    ),
    (
        "503 retry-after-ms",
        response(
            503,
            "<html><body>busy</body></html>",
            {"retry-after-ms": "1500", "content-type": "text/html"},
        ),
        Failure("server_error", "transient", 1.5, "HTTP 503 Service Unavailable"),
    ),
    (
        "529 overloaded",
        response(529, anthropic_error("overloaded_error", "Overloaded"), {"retry-after": "3"}),
        Failure("server_error", "transient", 3.0, "HTTP 529: Overloaded"),
    ),
    (
        "400",
        response(400, openai_error("Unsupported parameter: 'max_tokens'.", param="max_tokens")),
        Failure(
            "bad_request", "no", None, "HTTP 400 Bad Request: Unsupported parameter: 'max_tokens'."
        ),
    ),
    (
        "404 plain text",
        response(404, "model   not\nfound", {"content-type": "text/plain"}),
        Failure("bad_request", "no", None, "HTTP 404 Not Found: model not found"),
    ),
    (
        "413",
        response(413, anthropic_error("request_too_large", "Request exceeds the maximum size")),
        Failure(
            "bad_request",
            "no",
            None,
            "HTTP 413 Request Entity Too Large: Request exceeds the maximum size",
        ),
    ),
    (
        "301",
        response(301, "", {"location": "https://elsewhere/"}),
        Failure(
            "bad_request", "no", None, "HTTP 301 Moved Permanently (redirects are not followed)"
        ),
    ),
]


@pytest.mark.parametrize(
    ("given", "expected"),
    [case[1:] for case in CLASSIFY_CASES],
    ids=[case[0] for case in CLASSIFY_CASES],
)
def test_classify_response(given: httpx.Response, expected: Failure | None) -> None:
    assert classify_response(given) == expected


QUOTA_CASES = [
    ("openai code", openai_error("Quota.", "insufficient_quota"), True),
    (
        "litellm rewrote the code",
        openai_error("You exceeded your current quota, please check your plan.", "429"),
        True,
    ),
    (
        "anthropic credit",
        anthropic_error("rate_limit_error", "Your credit balance is too low to access the API."),
        True,
    ),
    (
        "a per-minute quota that says when to retry",
        openai_error("You exceeded your current quota. Please retry in 34.2s.", "429"),
        False,
    ),
    ("an ordinary rate limit", openai_error("Rate limit reached.", "rate_limit_exceeded"), False),
]


@pytest.mark.parametrize(
    ("body", "quota"), [c[1:] for c in QUOTA_CASES], ids=[c[0] for c in QUOTA_CASES]
)
def test_a_quota_error_is_known_by_its_code_or_its_message(body: Any, quota: bool) -> None:
    failure = classify_response(response(429, body, {"retry-after": "1"}))
    assert failure is not None
    assert (failure.retry == "no", failure.lasting) == (quota, quota)


def test_one_request_above_the_limit_is_not_retried() -> None:
    message = (
        "Request too large for gpt-4o on tokens per min (TPM): Limit 30000, Requested 45210. "
        "The input or output tokens must be reduced in order to run successfully."
    )
    failure = classify_response(response(429, openai_error(message, "rate_limit_exceeded")))
    assert failure is not None
    assert (failure.kind, failure.retry, failure.lasting) == ("rate_limit", "no", False)
    fits = message.replace("Requested 45210", "Requested 2000")
    failure = classify_response(response(429, openai_error(fits, "rate_limit_exceeded")))
    assert failure is not None and failure.retry == "rate_limit"


def test_classify_response_truncates_long_messages() -> None:
    failure = classify_response(response(400, openai_error("x" * 500)))
    assert failure is not None
    assert failure.message == "HTTP 400 Bad Request: " + "x" * 199 + "…"


@pytest.mark.parametrize(
    "message",
    [
        f"Incorrect API key provided: {KEY}.",
        "Incorrect API key provided: sk-proj-********************************Ab3d.",
        "invalid x-api-key sk-ant-api03-AbCdEf123456",
        "API key not valid: AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUv",
        "bad token 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    ],
    ids=["own key", "masked key", "anthropic-like", "google-like", "long hex"],
)
def test_classify_response_never_repeats_a_key(message: str) -> None:
    failure = classify_response(response(401, openai_error(message)))
    assert failure is not None
    assert "[redacted]" in failure.message
    assert "sk-" not in failure.message
    assert KEY[8:] not in failure.message
    assert not any(len(word) >= 20 for word in failure.message.split())


def test_classify_response_keeps_ordinary_words() -> None:
    message = "max_tokens: key-value pairs exceed context_length_exceeded_for_this_model"
    failure = classify_response(response(400, openai_error(message)))
    assert failure == Failure("bad_request", "no", None, f"HTTP 400 Bad Request: {message}")


def test_classify_response_redacts_an_anthropic_key_header() -> None:
    request = httpx.Request(
        "POST", "http://127.0.0.1:9/v1/messages", headers={"x-api-key": "abc123XYZ"}
    )
    answer = httpx.Response(
        401, json=anthropic_error("authentication_error", "bad abc123XYZ"), request=request
    )
    failure = classify_response(answer)
    assert failure is not None
    assert failure.message == "HTTP 401 Unauthorized: bad [redacted]"


# --- parse_retry_after -------------------------------------------------------------------

NOW = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)

RETRY_AFTER_CASES = [
    ("seconds", {"retry-after": "20"}, 20.0),
    ("fractional seconds", {"retry-after": "0.5"}, 0.5),
    ("ms wins", {"retry-after": "2", "retry-after-ms": "1250"}, 1.25),
    ("http date", {"retry-after": "Sun, 01 Nov 2026 12:00:30 GMT"}, 30.0),
    ("past date", {"retry-after": "Sun, 01 Nov 2026 11:59:00 GMT"}, 0.0),
    ("negative", {"retry-after": "-3"}, 0.0),
    ("garbage", {"retry-after": "soon"}, None),
    ("garbage ms falls back", {"retry-after-ms": "nan", "retry-after": "4"}, 4.0),
    ("nothing", {}, None),
    (
        "exhausted openai limit",
        {
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": "6m0s",
            "x-ratelimit-remaining-tokens": "1000",
            "x-ratelimit-reset-tokens": "20ms",
        },
        360.0,
    ),
    (
        "both limits exhausted",
        {
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": "1s",
            "x-ratelimit-remaining-tokens": "0",
            "x-ratelimit-reset-tokens": "1.5s",
        },
        1.5,
    ),
    (
        "limits not exhausted",
        {"x-ratelimit-remaining-requests": "5", "x-ratelimit-reset-requests": "1s"},
        None,
    ),
    ("litellm retry-after", {"llm_provider-retry-after": "3"}, 3.0),
    ("litellm retry-after-ms", {"llm_provider-retry-after-ms": "250"}, 0.25),
    ("the provider's own header first", {"retry-after": "2", "llm_provider-retry-after": "9"}, 2.0),
    (
        "litellm exhausted reset",
        {
            "llm_provider-x-ratelimit-remaining-requests": "0",
            "llm_provider-x-ratelimit-reset-requests": "6m0s",
        },
        360.0,
    ),
    ("reset without remaining counts", {"x-ratelimit-reset-tokens": "20ms"}, 0.02),
    (
        "shortest reset when no count says which",
        {"x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "250ms"},
        0.25,
    ),
    ("reset in plain seconds", {"x-ratelimit-reset-requests": "2.5"}, 2.5),
    (
        "reset as a unix time",
        {"x-ratelimit-reset-requests": str(int(NOW.timestamp()) + 42)},
        42.0,
    ),
    ("garbage reset", {"x-ratelimit-reset-requests": "soon"}, None),
]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [case[1:] for case in RETRY_AFTER_CASES],
    ids=[case[0] for case in RETRY_AFTER_CASES],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(httpx.Headers(headers), now=NOW) == expected


def test_a_5xx_reads_no_rate_limit_reset() -> None:
    headers = {"x-ratelimit-reset-requests": "6m0s", "retry-after": "2"}
    assert parse_retry_after(httpx.Headers(headers), now=NOW, resets=False) == 2.0
    del headers["retry-after"]
    assert parse_retry_after(httpx.Headers(headers), now=NOW, resets=False) is None
    failure = classify_response(response(503, "busy", headers))
    assert failure is not None and failure.retry_after_s is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1s", 1.0),
        ("20ms", 0.02),
        ("6m0s", 360.0),
        ("1h2m3.5s", 3723.5),
        ("", None),
        ("1x", None),
        ("s", None),
    ],
    ids=["s", "ms", "m s", "h m s", "empty", "bad unit", "no number"],
)
def test_parse_duration_s(text: str, expected: float | None) -> None:
    assert parse_duration_s(text) == expected


# --- provider_error and reply helpers -----------------------------------------------------

PROVIDER_ERROR_CASES = [
    (
        "openai",
        json.dumps(openai_error("Bad value.", "unsupported_value", "temperature")),
        ("Bad value.", "temperature", "unsupported_value"),
    ),
    (
        "anthropic",
        json.dumps(anthropic_error("invalid_request_error", "tools: bad")),
        ("tools: bad", None, "invalid_request_error"),
    ),
    ("string error", json.dumps({"error": "model not loaded"}), ("model not loaded", None, None)),
    (
        "vllm",
        json.dumps({"object": "error", "message": "max_tokens too big", "type": "BadRequestError"}),
        ("max_tokens too big", None, "BadRequestError"),
    ),
    ("fastapi", json.dumps({"detail": "Not Found"}), ("Not Found", None, None)),
    ("not json", "  upstream timeout ", ("upstream timeout", None, None)),
    ("json list", "[1, 2]", ("[1, 2]", None, None)),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [case[1:] for case in PROVIDER_ERROR_CASES],
    ids=[case[0] for case in PROVIDER_ERROR_CASES],
)
def test_provider_error(text: str, expected: tuple[str, str | None, str | None]) -> None:
    error = provider_error(text)
    assert (error.message, error.param, error.code) == expected


def test_read_json_rejects_what_is_not_an_object() -> None:
    with pytest.raises(MalformedReply, match=r"body is not JSON \(Expecting"):
        read_json(httpx.Response(200, content=b'{"id": "x"'))
    with pytest.raises(MalformedReply, match="body is not a JSON object"):
        read_json(httpx.Response(200, json=[1]))
    assert read_json(httpx.Response(200, json={"a": 1})) == {"a": 1}


@pytest.mark.parametrize(
    ("usage", "path", "expected"),
    [
        ({"a": 3}, ("a",), 3),
        ({"a": {"b": 4}}, ("a", "b"), 4),
        ({}, ("a",), 0),
        ({"a": None}, ("a", "b"), 0),
        (None, ("a",), 0),
        ({"a": 5.0}, ("a",), 5),
    ],
    ids=["int", "nested", "absent", "null parent", "no usage", "integral float"],
)
def test_token_count(usage: Any, path: tuple[str, ...], expected: int) -> None:
    assert token_count(usage, *path) == expected


@pytest.mark.parametrize(
    "value", ["12", -1, True, 1.5], ids=["string", "negative", "bool", "fraction"]
)
def test_token_count_rejects_non_counts(value: Any) -> None:
    with pytest.raises(MalformedReply, match=r"usage\.a is not a token count"):
        token_count({"a": value}, "a")


# --- classify_exception: constructed exceptions -------------------------------------------


def _chained(outer: BaseException, cause: BaseException) -> BaseException:
    outer.__cause__ = cause
    return outer


EXCEPTION_CASES = [
    (
        "malformed",
        MalformedReply("body is not JSON", Usage(1, 2)),
        Failure("malformed_response", "transient", None, "malformed reply: body is not JSON"),
    ),
    *[
        (
            f"billed but unusable: {problem}",
            MalformedReply(f"{problem} reply", Usage(1, 2), problem),
            Failure("malformed_response", "no", None, f"{problem} reply"),
        )
        for problem in ("refused", "cut_off", "empty")
    ],
    ("fail_after", TimeoutError(), Failure("timeout", "transient", None, "request timed out")),
    (
        "httpx read timeout",
        httpx.ReadTimeout("x"),
        Failure("timeout", "transient", None, "read timed out"),
    ),
    (
        "httpx connect timeout",
        httpx.ConnectTimeout("x"),
        Failure("timeout", "transient", None, "connect timed out"),
    ),
    (
        "httpx pool timeout",
        httpx.PoolTimeout("x"),
        Failure("timeout", "transient", None, "timed out waiting for a free connection"),
    ),
    (
        "httpx connect error",
        httpx.ConnectError("x"),
        Failure("connection", "transient", None, "cannot connect"),
    ),
    (
        "httpx remote protocol",
        httpx.RemoteProtocolError("x"),
        Failure("connection", "transient", None, "server broke the HTTP protocol"),
    ),
    (
        "httpx read error",
        httpx.ReadError("x"),
        Failure("connection", "transient", None, "connection lost while reading the response"),
    ),
    (
        "httpx write error",
        httpx.WriteError("x"),
        Failure("connection", "transient", None, "connection lost while sending the request"),
    ),
    (
        "httpx proxy error",
        httpx.ProxyError("x"),
        Failure("connection", "transient", None, "proxy error"),
    ),
    (
        "unsupported scheme",
        httpx.UnsupportedProtocol("x"),
        Failure("connection", "no", None, "unsupported URL scheme (use http or https)"),
    ),
    (
        "decoding",
        httpx.DecodingError("x"),
        Failure("malformed_response", "transient", None, "response body could not be decoded"),
    ),
    (
        "plain OSError",
        ConnectionResetError(),
        Failure("connection", "transient", None, "connection reset by peer"),
    ),
    (
        "aiohttp disconnect behind ConnectTimeout",
        _chained(httpx.ConnectTimeout("Server disconnected"), aiohttp.ServerDisconnectedError()),
        Failure("connection", "transient", None, "server disconnected"),
    ),
    (
        "aiohttp socket timeout behind ConnectTimeout",
        _chained(httpx.ConnectTimeout("x"), aiohttp.SocketTimeoutError()),
        Failure("timeout", "transient", None, "read timed out"),
    ),
    (
        "aiohttp connect timeout",
        _chained(httpx.ConnectTimeout("x"), aiohttp.ConnectionTimeoutError()),
        Failure("timeout", "transient", None, "connect timed out"),
    ),
    (
        "raw aiohttp response error",
        aiohttp.ClientResponseError(
            aiohttp.RequestInfo(aiohttp.client.URL("http://h/"), "POST", {}), (), status=400
        ),  # type: ignore[arg-type]
        Failure("connection", "transient", None, "invalid HTTP response"),
    ),
    (
        "status error",
        httpx.HTTPStatusError(
            "x", request=httpx.Request("GET", "http://h/"), response=response(503)
        ),
        Failure("server_error", "transient", None, "HTTP 503 Service Unavailable"),
    ),
]


@pytest.mark.parametrize(
    ("exc", "expected"),
    [case[1:] for case in EXCEPTION_CASES],
    ids=[case[0] for case in EXCEPTION_CASES],
)
def test_classify_exception(exc: BaseException, expected: Failure) -> None:
    assert classify_exception(exc) == expected


@pytest.mark.parametrize(
    "exc",
    [ValueError("bug"), KeyError("k"), KeyboardInterrupt()],
    ids=["value", "key", "interrupt"],
)
def test_classify_exception_refuses_bugs(exc: BaseException) -> None:
    with pytest.raises(TypeError, match=f"unexpected {type(exc).__name__} from a model call"):
        classify_exception(exc)


# --- classify_exception: what the real transport raises against a misbehaving server ------

Behaviour = Callable[[SocketStream], Awaitable[None]]


async def _read_request(stream: SocketStream) -> None:
    """Read one small HTTP request (headers and Content-Length body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += await stream.receive()
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    while len(body) < length:
        body += await stream.receive()


async def _disconnect(stream: SocketStream) -> None:
    await _read_request(stream)
    await stream.aclose()


async def _reset(stream: SocketStream) -> None:
    await _read_request(stream)
    raw = stream.extra(SocketAttribute.raw_socket)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    await stream.aclose()


async def _garbage(stream: SocketStream) -> None:
    await _read_request(stream)
    await stream.send(b"NOT HTTP AT ALL\r\n\r\n")
    await stream.aclose()


async def _partial_body(stream: SocketStream) -> None:
    await _read_request(stream)
    await stream.send(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"id"')
    await stream.aclose()


async def _hang(stream: SocketStream) -> None:
    await _read_request(stream)
    await anyio.sleep_forever()


@asynccontextmanager
async def loopback(behaviour: Behaviour) -> AsyncIterator[str]:
    """A TCP server on 127.0.0.1, port 0, answering every connection with ``behaviour``."""

    async def handle(stream: SocketStream) -> None:
        async with stream:
            await behaviour(stream)

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, handle)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            group.cancel_scope.cancel()


async def _send_through_transport(url: str, *, timeout_s: float = 5.0) -> BaseException:
    """POST through the transport judgekit uses; the exception it raises."""
    transport = BufferedAiohttpTransport()
    async with httpx.AsyncClient(transport=transport, timeout=timeout_s) as client:
        try:
            await client.post(url + "/v1/chat/completions", content=b"{}")
        except Exception as exc:
            return exc
    raise AssertionError("the request unexpectedly succeeded")


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.anyio
async def test_refused_connection_is_a_connection_failure() -> None:
    exc = await _send_through_transport(_closed_port_url())
    assert isinstance(exc, httpx.ConnectTimeout)  # what the transport really raises
    assert classify_exception(exc) == Failure("connection", "transient", None, "connection refused")


@pytest.mark.anyio
async def test_refused_connection_through_httpx_own_transport() -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError) as caught:
            await client.post(_closed_port_url() + "/v1/responses", content=b"{}")
    assert classify_exception(caught.value) == Failure(
        "connection", "transient", None, "connection refused"
    )


SERVER_CASES = [
    ("disconnect", _disconnect, Failure("connection", "transient", None, "server disconnected")),
    ("reset", _reset, Failure("connection", "transient", None, "connection reset by peer")),
    ("garbage", _garbage, Failure("connection", "transient", None, "invalid HTTP response")),
    (
        "partial body",
        _partial_body,
        Failure("connection", "transient", None, "response body incomplete"),
    ),
    ("hang", _hang, Failure("timeout", "transient", None, "read timed out")),
]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("behaviour", "expected"),
    [case[1:] for case in SERVER_CASES],
    ids=[case[0] for case in SERVER_CASES],
)
async def test_misbehaving_server(behaviour: Behaviour, expected: Failure) -> None:
    async with loopback(behaviour) as url:
        exc = await _send_through_transport(url, timeout_s=0.2)
    assert classify_exception(exc) == expected


@pytest.mark.anyio
async def test_overall_timeout_from_fail_after() -> None:
    async with loopback(_hang) as url:
        transport = BufferedAiohttpTransport()
        async with httpx.AsyncClient(transport=transport, timeout=30) as client:
            with pytest.raises(TimeoutError) as caught, anyio.fail_after(0.2):
                await client.post(url + "/v1/messages", content=b"{}")
    assert classify_exception(caught.value) == Failure(
        "timeout", "transient", None, "request timed out"
    )
