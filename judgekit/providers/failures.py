"""Classify every failed model call once: what kind of error, and whether to retry.

A failure is either an HTTP response that is not 2xx, or an exception raised
while sending or reading (or a 2xx body judgekit cannot use)::

    what happened                                  kind                retry
    ---------------------------------------------  ------------------  ----------
    429 Too Many Requests                          rate_limit          rate_limit
    429 out of quota or credit (code or message)   rate_limit          no, lasting
    429 for one request above the limit itself     rate_limit          no
    401, 403                                       auth                no
    408 Request Timeout                            timeout             transient
    409 Conflict (Anthropic: retry is safe)        server_error        transient
    5xx, incl. 529 Anthropic "overloaded"          server_error        transient
    3xx (redirects are not followed)               bad_request         no
    other 4xx (400, 404, 413, 422 ...)             bad_request         no
    builtin TimeoutError (anyio.fail_after)        timeout             transient
    httpx.TimeoutException                         timeout             transient
    refused / reset / dropped connection           connection          transient
    httpx.NetworkError, RemoteProtocolError, ...   connection          transient
    unsupported URL scheme, invalid URL            connection          no
    MalformedReply: 2xx body not JSON, no answer   malformed_response  transient
    MalformedReply: refused, cut off, empty        malformed_response  no (billed;
                                                   the same again at temperature 0)
    ErrorReply: a 2xx body holding an ``error``    as its type/code says (see
                                                   ``error_replies``)
    anything else                                  TypeError: a bug keeps its traceback

``retry_after_s`` is the wait the server asked for (``parse_retry_after``: its
``Retry-After`` family or rate-limit resets, also as a LiteLLM proxy forwards them),
429 and 5xx alike.  ``lasting`` marks a failure every later request of the
connection would share.  Whether a request reached a server at all is
``providers.reach``'s question.  The transport judgekit uses
(``httpx_aiohttp.AiohttpTransport``) maps a refused or dropped connection to
``httpx.ConnectTimeout``; the aiohttp exception in ``__cause__`` says what
really happened, so it is read first.

A ``Failure.message`` is short and safe to show: it never holds a header value
or an API key (key-like strings in a provider's message are redacted).

The parts live beside it: ``retry_after`` reads the wait a server asks for,
``provider_errors`` an error body's fields and its safe one-line message, and
``error_replies`` an error in a 2xx body.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import httpx

from judgekit.errors import ErrorKind
from judgekit.providers.provider_errors import exceeds_limit, is_quota, status_message
from judgekit.providers.retry_after import parse_retry_after
from judgekit.records import Usage

if TYPE_CHECKING:
    import aiohttp

RetryPolicy = Literal["rate_limit", "transient", "no"]
"""``rate_limit``: wait (Retry-After) and slow the connection; ``transient``: back off
and retry up to ``max_retries``; ``no``: the row's error, at once."""


@dataclass(frozen=True, slots=True)
class Failure:
    """One classified failure: its ``J_error`` kind and what to do about it."""

    kind: ErrorKind
    retry: RetryPolicy
    retry_after_s: float | None
    message: str
    lasting: bool = False
    """Every later request of the connection would fail alike (out of quota or credit)."""


ReplyProblem = Literal["malformed", "refused", "cut_off", "empty"]
"""Why a 2xx reply is unusable.  ``malformed``: the body is broken (worth a retry);
the others are answers the model really gave, billed, and the same again if asked
again unchanged: ``refused``, ``cut_off`` at the output cap, ``empty``."""


class MalformedReply(Exception):
    """A 2xx reply whose body judgekit cannot use: not JSON, no text, a refusal."""

    def __init__(
        self, reason: str, usage: Usage | None = None, problem: ReplyProblem = "malformed"
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.usage = usage
        """Tokens the provider billed for the unusable reply, when its body said."""
        self.problem = problem


class ErrorReply(MalformedReply):
    """A 2xx reply whose body is an error (some gateways answer errors with 200)."""

    def __init__(self, failure: Failure, usage: Usage | None = None) -> None:
        super().__init__(failure.message, usage)
        self.failure = failure
        """The error, classified as if it had come with its own status."""


def classify_response(response: httpx.Response) -> Failure | None:
    """None for a 2xx response, else its Failure (see the module table)."""
    status = response.status_code
    if 200 <= status < 300:
        return None
    message = status_message(response)
    if status == 429:
        if is_quota(response):
            return Failure("rate_limit", "no", None, message, lasting=True)
        if exceeds_limit(response):
            return Failure("rate_limit", "no", None, message)
        return Failure("rate_limit", "rate_limit", parse_retry_after(response.headers), message)
    if status in (401, 403):
        return Failure("auth", "no", None, message)
    if status == 408 or status == 409 or status >= 500:
        kind: ErrorKind = "timeout" if status == 408 else "server_error"
        return Failure(
            kind, "transient", parse_retry_after(response.headers, resets=False), message
        )
    if 300 <= status < 400:
        return Failure("bad_request", "no", None, f"{message} (redirects are not followed)")
    return Failure("bad_request", "no", None, message)


def classify_exception(exc: BaseException) -> Failure:
    """The Failure of an exception raised while sending or reading; TypeError for a bug."""
    if isinstance(exc, ErrorReply):
        return exc.failure
    if isinstance(exc, MalformedReply):
        if exc.problem != "malformed":  # billed, and the same again: never retried unchanged
            return Failure("malformed_response", "no", None, exc.reason)
        return Failure("malformed_response", "transient", None, f"malformed reply: {exc.reason}")
    if isinstance(exc, httpx.HTTPStatusError):
        failure = classify_response(exc.response)
        if failure is not None:
            return failure
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):  # before its aiohttp cause
        return Failure("connection", "no", None, "unsupported URL scheme (use http or https)")
    cause = _aiohttp_cause(exc)
    if cause is not None:
        return _classify_aiohttp(cause)
    if isinstance(exc, httpx.TimeoutException):
        return Failure("timeout", "transient", None, _TIMEOUT_MESSAGES.get(type(exc), "timed out"))
    if isinstance(exc, TimeoutError):
        return Failure("timeout", "transient", None, "request timed out")
    if isinstance(exc, httpx.DecodingError):
        return Failure(
            "malformed_response", "transient", None, "response body could not be decoded"
        )
    if isinstance(exc, httpx.TransportError | OSError):
        return Failure("connection", "transient", None, _connection_message(exc))
    raise TypeError(f"unexpected {type(exc).__name__} from a model call") from exc


_TIMEOUT_MESSAGES: dict[type[BaseException], str] = {
    httpx.ConnectTimeout: "connect timed out",
    httpx.ReadTimeout: "read timed out",
    httpx.WriteTimeout: "write timed out",
    httpx.PoolTimeout: "timed out waiting for a free connection",
}


def _aiohttp_cause(exc: BaseException) -> aiohttp.ClientError | None:
    """The aiohttp error behind an exception (itself, or its cause chain)."""
    import aiohttp  # here: a run that calls no model never loads aiohttp (~11 MB)

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, aiohttp.ClientError):
            return current
        seen.add(id(current))
        current = current.__cause__
    return None


def _classify_aiohttp(cause: aiohttp.ClientError) -> Failure:
    import aiohttp  # here: a run that calls no model never loads aiohttp (~11 MB)

    if isinstance(cause, aiohttp.ServerTimeoutError):
        connecting = isinstance(cause, aiohttp.ConnectionTimeoutError)
        return Failure(
            "timeout", "transient", None, "connect timed out" if connecting else "read timed out"
        )
    if isinstance(cause, aiohttp.ClientPayloadError):
        return Failure("connection", "transient", None, "response body incomplete")
    if isinstance(cause, aiohttp.ClientResponseError):
        return Failure("connection", "transient", None, "invalid HTTP response")
    if isinstance(cause, aiohttp.ServerDisconnectedError):
        return Failure("connection", "transient", None, "server disconnected")
    return Failure("connection", "transient", None, _connection_message(cause))


def _connection_message(exc: BaseException) -> str:
    """A short, fixed description: no host, header or URL text that could carry a secret."""
    import aiohttp  # here: a run that calls no model never loads aiohttp (~11 MB)

    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 8:
        chain.append(current)
        if isinstance(current, aiohttp.ClientConnectorError):
            chain.append(current.os_error)
        current = current.__cause__ or current.__context__
    for item in chain:
        if isinstance(item, ConnectionRefusedError):
            return "connection refused"
        if isinstance(item, ConnectionResetError):
            return "connection reset by peer"
        if isinstance(item, aiohttp.ClientConnectorDNSError):
            return "host name could not be resolved"
        if isinstance(item, aiohttp.ClientSSLError):
            return "TLS handshake failed"
        if isinstance(item, httpx.ProxyError):
            return "proxy error"
        if isinstance(item, httpx.RemoteProtocolError):
            return "server broke the HTTP protocol"
        if isinstance(item, httpx.ReadError):
            return "connection lost while reading the response"
        if isinstance(item, httpx.WriteError):
            return "connection lost while sending the request"
    if any(isinstance(item, aiohttp.ClientConnectorError | httpx.ConnectError) for item in chain):
        return "cannot connect"
    return "connection error"
