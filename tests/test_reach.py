"""providers.reach: which failures mean "no server there" or "no API there" (pure)."""

from __future__ import annotations

import ssl
from typing import Any

import aiohttp
import httpx
import pytest

from judgekit.providers.reach import NoApi, Unreachable, no_api, unreachable


def _chained(outer: BaseException, cause: BaseException) -> BaseException:
    outer.__cause__ = cause
    return outer


KEY = aiohttp.client_reqrep.ConnectionKey(
    "api.example.com", 443, True, True, None, None, None, None
)


def _cert_error() -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, "certificate verify failed")
    error.verify_message = "self-signed certificate"
    return error


UNREACHABLE = [
    (
        "no scheme",
        _chained(
            httpx.UnsupportedProtocol("x"),
            aiohttp.NonHttpUrlClientError("127.0.0.1:1/v1/chat/completions"),
        ),
        Unreachable("invalid_url", False, "not an http:// or https:// URL"),
    ),
    (
        "port out of range",
        _chained(
            httpx.UnsupportedProtocol("x"),
            aiohttp.InvalidUrlClientError("http://127.0.0.1:99999/v1/chat/completions"),
        ),
        Unreachable("invalid_url", False, "not an http:// or https:// URL"),
    ),
    (
        "refused",
        _chained(
            httpx.ConnectTimeout("x"),
            aiohttp.ClientConnectorError(KEY, ConnectionRefusedError(111, "refused")),
        ),
        Unreachable("refused", False, "connection refused"),
    ),
    (
        "unknown host",
        _chained(
            httpx.ConnectTimeout("x"),
            aiohttp.ClientConnectorDNSError(KEY, OSError(-2, "Name or service not known")),
        ),
        Unreachable("unknown_host", False, "host name could not be resolved"),
    ),
    (
        "untrusted certificate",
        _chained(
            httpx.ConnectTimeout("x"),
            aiohttp.ClientConnectorCertificateError(KEY, _cert_error()),
        ),
        Unreachable("untrusted_certificate", False, "self-signed certificate"),
    ),
    (
        "connect timeout",
        _chained(httpx.ConnectTimeout("x"), aiohttp.ConnectionTimeoutError()),
        Unreachable("connect_timeout", False, "connect timed out"),
    ),
    (
        "proxy refused",
        _chained(
            httpx.ConnectTimeout("x"),
            aiohttp.ClientProxyConnectionError(KEY, ConnectionRefusedError(111, "refused")),
        ),
        Unreachable("refused", True, "connection refused"),
    ),
    (
        "refused, httpx's own transport",
        _chained(httpx.ConnectError("x"), ConnectionRefusedError()),
        Unreachable("refused", False, "connection refused"),
    ),
    ("disconnect", _chained(httpx.ConnectTimeout("x"), aiohttp.ServerDisconnectedError()), None),
    ("read timeout", _chained(httpx.ConnectTimeout("x"), aiohttp.SocketTimeoutError()), None),
    ("reset", ConnectionResetError(), None),
]


@pytest.mark.parametrize(
    ("exc", "expected"), [c[1:] for c in UNREACHABLE], ids=[c[0] for c in UNREACHABLE]
)
def test_unreachable(exc: BaseException, expected: Unreachable | None) -> None:
    assert unreachable(exc) == expected


def _response(status: int, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    request = httpx.Request("POST", "http://127.0.0.1:9/chat/completions")
    if isinstance(body, str) or body is None:
        return httpx.Response(status, text=body or "", headers=headers, request=request)
    return httpx.Response(status, json=body, headers=headers, request=request)


NO_API = [
    ("plain 404", _response(404, "404 page not found"), NoApi(404, "Not Found", None)),
    ("fastapi 404", _response(404, {"detail": "Not Found"}), NoApi(404, "Not Found", None)),
    ("405", _response(405, "Method Not Allowed"), NoApi(405, "Method Not Allowed", None)),
    (
        "redirect, query and credentials dropped",
        _response(301, "", {"location": "https://u:p@h.example/v1/chat/completions?key=s"}),
        NoApi(301, "Moved Permanently", "https://h.example/v1/chat/completions"),
    ),
    (
        "openai model_not_found is the API's answer",
        _response(
            404,
            {"error": {"message": "The model `x` does not exist", "code": "model_not_found"}},
        ),
        None,
    ),
    ("ollama model not found", _response(404, {"error": "model 'llama9' not found"}), None),
    ("400", _response(400, {"error": {"message": "bad"}}), None),
    ("200", _response(200, {"id": "x"}), None),
]


@pytest.mark.parametrize(
    ("response", "expected"), [c[1:] for c in NO_API], ids=[c[0] for c in NO_API]
)
def test_no_api(response: httpx.Response, expected: NoApi | None) -> None:
    assert no_api(response) == expected
