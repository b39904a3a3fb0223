"""The way out: which proxy each connection goes through, which CAs TLS trusts, the transports.

Proxies, as curl and httpx read them::

    connections.NAME.proxy = "http://..."     this connection's proxy, whatever the environment
    connections.NAME.proxy = ""               no proxy for this connection
    https:// base_url                          https_proxy, HTTPS_PROXY, then all_proxy, ALL_PROXY
    http:// base_url                           http_proxy, HTTP_PROXY, then all_proxy, ALL_PROXY
    no_proxy / NO_PROXY                        comma-separated hosts that go direct: ``*`` (all),
                                               a host or domain (``example.com`` also matches
                                               ``api.example.com``; a leading ``.`` or ``*.`` is
                                               the same), an IP, a CIDR (``10.0.0.0/8``),
                                               ``host:port``

(lowercase wins when both are set).  A proxy is ``http://`` or ``https://`` (a bare
``host:port`` means ``http://``), optionally with ``user:password@``; SOCKS proxies are
refused with a ConfigError rather than silently bypassed.  An ``https`` target goes
through the proxy in a CONNECT tunnel: TLS stays end to end.

TLS trusts certifi's CA bundle, unless ``SSL_CERT_FILE`` (a PEM bundle) and/or
``SSL_CERT_DIR`` (a hashed directory) are set: then those, as httpx, curl and OpenSSL
do (a corporate proxy's or a private server's CA goes there).

Requests still go straight to ``transport.handle_async_request``: one
``BufferedAiohttpTransport`` (``transport.py``) per distinct proxy, chosen per connection
once, before the run.
"""

from __future__ import annotations

import base64
import functools
import ipaddress
import os
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx

from judgekit.errors import ConfigError
from judgekit.providers.wire import FIXED_HEADERS


@dataclass(frozen=True, slots=True)
class ProxyChoice:
    """The proxy a connection goes through, and what chose it."""

    url: str
    source: str
    """``HTTPS_PROXY`` (the variable's name as set), or ``connections.NAME.proxy``."""

    @property
    def shown(self) -> str:
        """The URL without credentials, safe to print."""
        return bare_url(self.url)


def choose_proxy(
    name: str, base_url: str, configured: str | None, environ: Mapping[str, str]
) -> ProxyChoice | None:
    """The proxy for connection ``name`` (None: direct); ConfigError for one judgekit cannot
    use.  Pure: reads only ``environ``."""
    if configured is not None:
        if not configured:
            return None
        return _checked(ProxyChoice(configured, f"connections.{name}.proxy"))
    try:
        url = httpx.URL(base_url)
    except httpx.InvalidURL:
        return None  # the request itself will say what is wrong with base_url
    scheme = url.scheme.lower()
    if scheme not in ("http", "https"):
        return None
    found = _variable(environ, f"{scheme}_proxy") or _variable(environ, "all_proxy")
    if found is None:
        return None
    no_proxy = _variable(environ, "no_proxy")
    if no_proxy is not None and bypasses(no_proxy[1], url.host, url.port):
        return None
    variable, value = found
    return _checked(ProxyChoice(value if "://" in value else f"http://{value}", variable))


def _variable(environ: Mapping[str, str], lower: str) -> tuple[str, str] | None:
    """(name, value) of a non-empty proxy variable, the lowercase spelling first."""
    for name in (lower, lower.upper()):
        value = environ.get(name, "").strip()
        if value:
            return name, value
    return None


def _checked(choice: ProxyChoice) -> ProxyChoice:
    try:
        url = httpx.URL(choice.url)
    except httpx.InvalidURL:
        raise ConfigError(f"{choice.source}: not a proxy URL") from None
    if url.scheme not in ("http", "https") or not url.host:
        scheme = f"{url.scheme}://" if url.scheme else "this kind of"
        raise ConfigError(
            f"{choice.source}: judgekit goes through http:// and https:// proxies, not "
            f'{scheme} ones; set connections.<name>.proxy to an HTTP proxy, or to "" to '
            "connect directly"
        )
    return choice


def bypasses(no_proxy: str, host: str, port: int | None) -> bool:
    """Whether ``host`` (and ``port``) is listed in a ``NO_PROXY`` value (see the module)."""
    host = host.lower().strip("[]").rstrip(".")
    address = _ip(host)
    for raw in no_proxy.replace(" ", ",").split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        entry_host, entry_port = _split_port(entry)
        if entry_port is not None and entry_port != port:
            continue
        entry_host = entry_host.removeprefix("*").removeprefix(".").rstrip(".")
        if address is not None and "/" in entry_host:
            try:
                if address in ipaddress.ip_network(entry_host, strict=False):
                    return True
            except ValueError:
                pass
            continue
        entry_address = _ip(entry_host)
        if address is not None and entry_address is not None:
            if address == entry_address:
                return True
            continue
        if host == entry_host or host.endswith("." + entry_host):
            return True
    return False


def _split_port(entry: str) -> tuple[str, int | None]:
    """``host:port`` / ``[v6]:port`` -> (host, port); an IPv6 address alone keeps its colons."""
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port = rest.removeprefix(":")
        return host, int(port) if port.isdigit() else None
    if entry.count(":") == 1:
        host, port = entry.split(":")
        return host, int(port) if port.isdigit() else None
    return entry, None


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def bare_url(url: str) -> str:
    """``url`` without credentials, query or fragment: safe to print (a query may hold a key)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"


def tls_context(environ: Mapping[str, str] = os.environ) -> ssl.SSLContext:
    """The TLS context of every connection: ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when set,
    else certifi's CAs.  ConfigError when a bundle cannot be loaded."""
    return _tls_context(environ.get("SSL_CERT_FILE") or None, environ.get("SSL_CERT_DIR") or None)


@functools.cache
def _tls_context(cafile: str | None, capath: str | None) -> ssl.SSLContext:
    """Built once per bundle and process: loading CAs takes tens of milliseconds, and a
    context may serve any number of runs."""
    if cafile is None and capath is None:
        return httpx.create_ssl_context(verify=True, trust_env=False)
    for variable, path, wanted in (
        ("SSL_CERT_FILE", cafile, os.path.isfile),
        ("SSL_CERT_DIR", capath, os.path.isdir),
    ):
        if path is not None and not wanted(path):
            kind = "file" if variable == "SSL_CERT_FILE" else "directory"
            raise ConfigError(
                f"{variable}={path}: no such {kind}; point it at your CA bundle or unset it"
            )
    try:
        return ssl.create_default_context(cafile=cafile, capath=capath)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(
            f"SSL_CERT_FILE={cafile}: not a PEM certificate bundle ({exc.__class__.__name__})"
        ) from None


def needs_tls(urls: Iterable[str]) -> bool:
    """Whether any of ``urls`` (base URLs, proxies) is not plain ``http://``."""
    return any(not url.lower().startswith("http://") for url in urls)


def _refusing_context() -> ssl.SSLContext:
    """A context that trusts no CA: any TLS handshake fails (never reached when every URL is
    ``http://``; fails closed should one not be)."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def _proxy(url: str) -> httpx.Proxy:
    """An ``httpx.Proxy`` whose credentials travel as a ``Proxy-Authorization`` header (the
    transport would hand them to aiohttp as ``proxy_auth``, which aiohttp deprecates)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return httpx.Proxy(url)
    userinfo, _, host = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode()
    bare = urlunsplit(parts._replace(netloc=host))
    return httpx.Proxy(bare, headers={"Proxy-Authorization": f"Basic {token}"})


class _PlainProxyAuth(httpx.AsyncBaseTransport):
    """Adds ``Proxy-Authorization`` to ``http://`` requests: aiohttp sends a proxy's headers
    only with the CONNECT of an ``https://`` target, and an ``http://`` one goes to the
    proxy as an absolute-form request that must carry the credentials itself (the proxy
    drops the header before forwarding, as aiohttp's own ``proxy_auth`` relies on)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, credentials: str) -> None:
        self._inner = inner
        self._credentials = credentials

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through the proxy, with credentials when it is plain HTTP."""
        if request.url.scheme == "http":
            request.headers["Proxy-Authorization"] = self._credentials
            request.extensions.pop(FIXED_HEADERS, None)  # its headers are no longer those
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self._inner.aclose()


def aiohttp_client_error() -> type[Exception]:
    """``aiohttp.ClientError``, imported when first asked for (an ``except`` clause asks only
    when an exception is raised): a run that calls no model never loads aiohttp (~11 MB)."""
    import aiohttp

    return aiohttp.ClientError


class Transports:
    """One ``BufferedAiohttpTransport`` per distinct proxy, looked up by connection name; an async
    context manager that closes them all.

    ``routes`` maps a connection's name to its proxy (None: direct); ``tls=False`` (every
    URL and proxy is ``http://``) skips loading the CA bundle, a fixed ~0.1-0.4 s of CPU per
    run.  httpx's transport
    seam on aiohttp costs ~5x less CPU per call than httpcore's pool at 64+ in flight;
    an ``AsyncClient`` would add cookie, auth and redirect machinery judge calls never
    need, so the engine calls ``handle_async_request`` itself."""

    def __init__(
        self,
        routes: Mapping[str, ProxyChoice | None],
        concurrency: int,
        environ: Mapping[str, str] = os.environ,
        *,
        tls: bool = True,
    ) -> None:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        context = tls_context(environ) if tls else _refusing_context()
        by_proxy: dict[str | None, httpx.AsyncBaseTransport] = {}
        self._routes: dict[str, httpx.AsyncBaseTransport] = {}
        for name, choice in routes.items():
            key = None if choice is None else choice.url
            if key not in by_proxy:
                proxy = None if key is None else _proxy(key)
                # Here, not at the top: a run that calls no model never loads aiohttp (~11 MB).
                from judgekit.engine.transport import BufferedAiohttpTransport

                transport: httpx.AsyncBaseTransport = BufferedAiohttpTransport(
                    verify=context, limits=limits, trust_env=False, proxy=proxy
                )
                if proxy is not None and "Proxy-Authorization" in proxy.headers:
                    credentials = proxy.headers["Proxy-Authorization"]
                    transport = _PlainProxyAuth(transport, credentials)
                by_proxy[key] = transport
            self._routes[name] = by_proxy[key]
        self._all = list(by_proxy.values())

    def __getitem__(self, name: str) -> httpx.AsyncBaseTransport:
        """The transport of connection ``name``."""
        return self._routes[name]

    async def __aenter__(self) -> Transports:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for transport in self._all:
            await transport.aclose()
