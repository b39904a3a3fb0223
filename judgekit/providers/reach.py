"""Did a request reach an API at all?  Pure checks behind "a server that is not there".

A failure here is not about one row: the connection's ``base_url`` (or the network
between) is wrong, and every row would fail the same way.  The engine stops the run
when a connection's first calls end like this (``engine.connections``); once a
connection has answered, the same failures are ordinary, retried ``connection``
errors (a server restarting in the middle of a run).

    what happened                                     Unreachable.what
    ------------------------------------------------  ----------------------
    nothing listens on the port (ECONNREFUSED)         refused
    the host name does not resolve                     unknown_host
    the server's TLS certificate is not trusted        untrusted_certificate
    the TCP/TLS connect timed out                      connect_timeout
    the URL is unusable (no http:// or https://,       invalid_url
      no host, a port out of range)

    a 404 / 405 that names no model                   NoApi (wrong path: /v1 missing?)
    a 3xx redirect (judgekit follows none)             NoApi with its Location

A drop after connecting (reset, disconnect, a read timeout) means something is
there: it is none of these.  The same holds through a proxy (``via_proxy``: the
proxy itself could not be reached).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Literal

import httpx

from judgekit.providers.provider_errors import provider_error

UnreachableKind = Literal[
    "refused", "unknown_host", "untrusted_certificate", "connect_timeout", "invalid_url"
]


@dataclass(frozen=True, slots=True)
class Unreachable:
    """A request that never reached a server."""

    what: UnreachableKind
    via_proxy: bool
    """The proxy, not the server, could not be reached."""
    detail: str
    """A short, fixed description safe to show (OpenSSL's verify message for TLS)."""


@dataclass(frozen=True, slots=True)
class NoApi:
    """A server answered, but no API lives at the request's path."""

    status: int
    reason_phrase: str
    location: str | None
    """Where a redirect points (scheme, host and path only: no query, no credentials)."""


def unreachable(exc: BaseException) -> Unreachable | None:
    """How ``exc`` shows that the request reached no server, or None (see the table)."""
    import aiohttp  # here: a run that calls no model never loads aiohttp (~11 MB)

    chain = _chain(exc)
    via_proxy = any(isinstance(item, aiohttp.ClientProxyConnectionError) for item in chain)
    for item in chain:
        if isinstance(item, httpx.UnsupportedProtocol | httpx.InvalidURL | aiohttp.InvalidURL):
            return Unreachable("invalid_url", via_proxy, "not an http:// or https:// URL")
        if isinstance(item, aiohttp.ClientConnectorCertificateError):
            item = item.certificate_error
        if isinstance(item, ssl.SSLCertVerificationError):
            detail = getattr(item, "verify_message", None) or "certificate verify failed"
            return Unreachable("untrusted_certificate", via_proxy, detail)
        if isinstance(item, aiohttp.ClientConnectorDNSError):
            return Unreachable("unknown_host", via_proxy, "host name could not be resolved")
        if isinstance(item, ConnectionRefusedError):
            return Unreachable("refused", via_proxy, "connection refused")
        if isinstance(item, aiohttp.ConnectionTimeoutError | httpx.ConnectTimeout) and not any(
            isinstance(other, aiohttp.ClientError) and other is not item for other in chain
        ):
            return Unreachable("connect_timeout", via_proxy, "connect timed out")
    return None


def no_api(response: httpx.Response) -> NoApi | None:
    """A 404/405 naming no model, or a redirect: the URL holds no API; None otherwise.

    A 404 that names a model (OpenAI's ``model_not_found``, Ollama's "model 'x' not
    found") comes from the API itself: it is the row's ``bad_request``, not this."""
    status = response.status_code
    if 300 <= status < 400:
        return NoApi(status, response.reason_phrase, _bare_url(response.headers.get("location")))
    if status not in (404, 405):
        return None
    try:
        error = provider_error(response.text)
    except (httpx.ResponseNotRead, UnicodeDecodeError):
        error = None
    if error is not None and "model" in f"{error.code or ''} {error.message}".lower():
        return None
    return NoApi(status, response.reason_phrase, None)


def _bare_url(location: str | None) -> str | None:
    """A redirect target without query, fragment or credentials (they may carry secrets)."""
    if not location:
        return None
    try:
        url = httpx.URL(location)
    except httpx.InvalidURL:
        return None
    if not url.is_absolute_url:
        return url.path or None
    port = f":{url.port}" if url.port is not None else ""
    return f"{url.scheme}://{url.host}{port}{url.path}"


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc``, its causes and contexts, and the OS error behind an aiohttp connect error."""
    import aiohttp  # here: a run that calls no model never loads aiohttp (~11 MB)

    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 12 and current not in chain:
        chain.append(current)
        if isinstance(current, aiohttp.ClientConnectorError):
            chain.append(current.os_error)
        current = current.__cause__ or current.__context__
    return chain
