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
    unsupported URL scheme                         connection          no
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

The end of this module holds what the three protocol modules share: the
canonical body encoding, reading a 2xx body (raising MalformedReply), and the
fallback ladder behind every ``adapt``.
"""

from __future__ import annotations

import email.utils
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

import httpx

from judgekit.errors import ErrorKind
from judgekit.records import Usage

if TYPE_CHECKING:
    import aiohttp

RetryPolicy = Literal["rate_limit", "transient", "no"]
"""``rate_limit``: wait (Retry-After) and slow the connection; ``transient``: back off
and retry up to ``max_retries``; ``no``: the row's error, at once."""

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


def classify_response(response: httpx.Response) -> Failure | None:
    """None for a 2xx response, else its Failure (see the module table)."""
    status = response.status_code
    if 200 <= status < 300:
        return None
    message = _status_message(response)
    if status == 429:
        if _is_quota(response):
            return Failure("rate_limit", "no", None, message, lasting=True)
        if _exceeds_limit(response):
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


def _status_message(response: httpx.Response) -> str:
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


def _is_quota(response: httpx.Response) -> bool:
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


def _exceeds_limit(response: httpx.Response) -> bool:
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
    cause = _aiohttp_cause(exc)
    if cause is not None:
        return _classify_aiohttp(cause)
    if isinstance(exc, httpx.TimeoutException):
        return Failure("timeout", "transient", None, _TIMEOUT_MESSAGES.get(type(exc), "timed out"))
    if isinstance(exc, TimeoutError):
        return Failure("timeout", "transient", None, "request timed out")
    if isinstance(exc, httpx.UnsupportedProtocol):
        return Failure("connection", "no", None, "unsupported URL scheme (use http or https)")
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
