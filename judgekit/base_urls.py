"""What a connection's ``base_url`` must be, and how one is shown in a message.

A base URL is an absolute ``http://`` or ``https://`` URL with a host (and a port in
0..65535).  It is checked when the config is read (a literal URL), when ``${VAR}`` is
expanded (``config.expanded_connection``, ``config_connections.preset_connection``),
and once more by the engine should a request still find it unusable
(``providers.reach``): a URL without a scheme otherwise fails every row as a retried
"connection error".

A URL is shown without credentials, query or fragment: any of them may hold a key.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx


def shown_url(url: str) -> str:
    """``url`` without ``user:password@``, query or fragment, safe to print; a URL
    without a scheme stays without one (``127.0.0.1:8000/v1``)."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        scheme, rest = "", url
    rest = re.split(r"[?#]", rest, maxsplit=1)[0]
    authority, slash, path = rest.partition("/")
    return f"{scheme}{separator}{authority.rpartition('@')[2]}{slash}{path}"


def base_url_problem(url: str) -> str | None:
    """What is wrong with ``url`` as a base URL, with what to do, or None when usable:
    ``"127.0.0.1:8000/v1" is not an http:// or https:// URL; add the scheme, e.g.
    http://127.0.0.1:8000/v1``."""
    shown = shown_url(url)
    quoted = f'"{shown}"'
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError when not a number in 0..65535
        httpx.URL(url)
    except (ValueError, httpx.InvalidURL):
        return f"{quoted} is not a valid URL; write it as http://HOST:PORT/PATH"
    if "://" not in url:
        return f"{quoted} is not an http:// or https:// URL; add the scheme, e.g. http://{shown}"
    if parts.scheme.lower() not in ("http", "https"):
        return f"{quoted} is not an http:// or https:// URL; use http:// or https://"
    if not parts.hostname:
        return (
            f"{quoted} names no host (an empty variable?); write it as http://HOST:PORT/PATH, "
            "e.g. http://localhost:8000/v1"
        )
    del port
    if parts.username is not None or parts.password is not None:
        # aiohttp refuses credentials in the URL beside an Authorization header (the key):
        # every request would fail.  A gateway's own credential goes in a header.
        return (
            f"{quoted} holds a user name or password (user:password@ before the host); drop "
            "it from the URL and send the credential with api_key_env, or as a header in the "
            'connection\'s headers (e.g. Authorization = "Basic ${GATEWAY_AUTH}")'
        )
    return None
