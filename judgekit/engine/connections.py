"""What a run learns about each connection as it goes: is a server there, is it closed.

- **Is a server there?**  Until a connection has answered once, a request that
  reached no server (refused, unknown host, untrusted TLS certificate, connect
  timeout) or no API (a 404/405 naming no model, a redirect) stops the run with
  ``UnreachableError`` (exit 2), naming the connection, the URL and the likely fix,
  as a 401 does: every row would fail alike.  Once it has answered, the same
  failures are ordinary ``connection`` errors, retried (a server restarting).
- **Closed for good.**  Out of quota, or a rate limit that never clears: the
  connection's remaining rows fail at once with the reason, no call made.
- **Said once.**  A warning about a connection is printed once per run, not per row.

All state is touched on the event loop thread only, between awaits.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from judgekit.base_urls import base_url_problem, shown_url
from judgekit.engine.network import bare_url
from judgekit.engine.plan import ConnectionPlan
from judgekit.errors import UnreachableError
from judgekit.presets import default_base_url
from judgekit.providers.reach import NoApi, Unreachable, no_api, unreachable


class ConnectionHealth:
    """Per-run knowledge of every connection (see the module docstring)."""

    def __init__(self, notice: Callable[[str], None]) -> None:
        self._notice = notice
        self._answered: set[str] = set()
        self._closed: dict[str, str] = {}
        self._told: set[tuple[str, str]] = set()

    def closed(self, name: str) -> str | None:
        """Why connection ``name`` takes no more calls, or None."""
        return self._closed.get(name)

    def close(self, connection: ConnectionPlan, reason: str) -> None:
        """Fail the connection's remaining rows with ``reason`` (said once)."""
        if connection.name not in self._closed:
            self._closed[connection.name] = reason
            self._notice(f"{reason}; its remaining rows fail without a call")

    def tell_once(self, connection: ConnectionPlan, topic: str, message: str) -> None:
        """Print ``message`` the first time ``topic`` comes up for this connection."""
        if (connection.name, topic) not in self._told:
            self._told.add((connection.name, topic))
            self._notice(f"connection '{connection.name}': {message}")

    def on_response(self, connection: ConnectionPlan, response: httpx.Response) -> None:
        """Note an HTTP answer; UnreachableError when the first ones show no API there."""
        if connection.name in self._answered:
            return
        problem = no_api(response)
        if problem is None:
            self._answered.add(connection.name)
            return
        raise UnreachableError(_no_api_message(connection, response, problem))

    def on_exception(self, connection: ConnectionPlan, exc: BaseException) -> None:
        """UnreachableError when a first request reached no server; else nothing."""
        if connection.name in self._answered:
            return
        problem = unreachable(exc)
        if problem is not None:
            raise UnreachableError(_unreachable_message(connection, problem))


def _unreachable_message(connection: ConnectionPlan, problem: Unreachable) -> str:
    where = f"connection '{connection.name}'"
    if problem.what == "invalid_url":
        base_url = connection.endpoint.base_url
        reason = base_url_problem(base_url) or f'"{shown_url(base_url)}" is not a usable URL'
        return f"{where}: base_url {reason}"
    url = bare_url(connection.endpoint.base_url)
    proxy = connection.proxy
    if problem.via_proxy and proxy is not None:
        return (
            f"{where}: cannot reach the proxy {proxy.shown} (from {proxy.source}): "
            f"{problem.detail}; is the proxy running? check {proxy.source}"
        )
    via = f" (through the proxy {proxy.shown} from {proxy.source})" if proxy else ""
    if problem.what == "refused":
        fix = "is the server running? check the port in base_url"
        return f"{where}: nothing answers at {url}{via} (connection refused); {fix}"
    if problem.what == "unknown_host":
        return (
            f"{where}: cannot resolve the host of {url}{via} ({problem.detail}); "
            "check base_url (and the network or VPN)"
        )
    if problem.what == "untrusted_certificate":
        return (
            f"{where}: {url}{via}: the server's TLS certificate is not trusted "
            f"({problem.detail}); if a private CA or a corporate proxy signs it, set "
            "SSL_CERT_FILE to a PEM bundle holding that CA"
        )
    timeout_s = connection.config.timeout_s
    fix = "is the server running?" if proxy else "is the server running, or is a proxy needed?"
    return (
        f"{where}: {url}{via}: connect timed out after {timeout_s:g} s; {fix} "
        "(set HTTPS_PROXY / HTTP_PROXY, or connections.<name>.proxy)"
    )


def _no_api_message(connection: ConnectionPlan, response: httpx.Response, problem: NoApi) -> str:
    where = f"connection '{connection.name}'"
    base = connection.endpoint.base_url
    url = bare_url(base)
    path = response.request.url.path
    answer = f"HTTP {problem.status} {problem.reason_phrase}".rstrip()
    if 300 <= problem.status < 400:
        target = problem.location or "elsewhere"
        fix = "judgekit follows no redirect: set base_url to where the API is"
        suggestion = _redirect_base(problem.location, path, base)
        if suggestion is not None:
            fix += f' (did you mean base_url = "{suggestion}"?)'
        return f"{where}: POST {path} at {url} redirects to {target} ({answer}); {fix}"
    return f"{where}: no API at {url}: POST {path} answered {answer}; {_path_fix(connection)}"


def _path_fix(connection: ConnectionPlan) -> str:
    """The likely fix of a base_url whose path holds no API."""
    base = bare_url(connection.endpoint.base_url).rstrip("/")
    if connection.config.protocol == "anthropic":
        return f"check base_url (the API root, e.g. {default_base_url('anthropic')})"
    if not base.endswith("/v1"):
        return f'did you mean base_url = "{base}/v1"?'
    return f'check base_url and protocol = "{connection.config.protocol}"'


def _redirect_base(location: str | None, path: str, base_url: str) -> str | None:
    """The base URL a redirect points at: its target minus the endpoint's own suffix."""
    if location is None or "://" not in location:
        return None
    base_path = httpx.URL(base_url).path.rstrip("/")
    suffix = path.removeprefix(base_path) if path.startswith(base_path) else ""
    if suffix and location.endswith(suffix):
        return location.removesuffix(suffix)
    return None
