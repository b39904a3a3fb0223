"""The HTTP transport: httpx's transport seam on aiohttp, reading each reply whole.

``httpx_aiohttp.AiohttpTransport`` hands httpx a streaming body that httpx then pulls
through ``aiter_bytes`` -> decoders -> ``aiter_raw`` -> aiohttp's ``iter_chunked``, one
async generator per layer.  A judge's reply is a few KB and is always read whole, so
this transport reads it inside the request (``ClientResponse.read``, one await) and
gives httpx the bytes: the same ``httpx.Response`` (status, raw headers, content
decoded by httpx as before: an unencoded body is stored as it came, which is what
httpx's own read stores), about a third less client CPU per call in the transport
(``make bench`` S1/S2; py-spy showed ~10% of a call in the streaming layers).  The
headers of a connection's requests are handed to aiohttp as one ready multidict.

Errors map exactly as ``AiohttpTransport`` maps them (``map_aiohttp_exceptions``): a
drop while reading is ``httpx.ReadError``, a read timeout ``httpx.ReadTimeout``.
"""

from __future__ import annotations

import functools

import aiohttp
import httpx
from aiohttp import hdrs
from httpx_aiohttp import AiohttpTransport
from httpx_aiohttp.transport import map_aiohttp_exceptions
from multidict import CIMultiDict, CIMultiDictProxy

from judgekit.providers.wire import FIXED_HEADERS

_HTTP_1_1 = b"HTTP/1.1"


@functools.lru_cache(maxsize=16)
def _client_timeout(
    connect_s: float | None, read_s: float | None, pool_s: float | None
) -> aiohttp.ClientTimeout:
    """aiohttp's timeout for httpx's ``timeout`` extension (seconds), built once per value."""
    return aiohttp.ClientTimeout(sock_connect=connect_s, sock_read=read_s, connect=pool_s)


def _aiohttp_headers(request: httpx.Request) -> CIMultiDictProxy[str]:
    """The headers of a request with a body in memory, as aiohttp takes them without
    converting: the same few headers go with every call of a connection, so each distinct
    set is built once.  Content-Length is left to aiohttp, which counts the same bytes."""
    fixed = request.extensions.get(FIXED_HEADERS)
    # post_json's requests carry them ready, unless a header was added since (a proxy's)
    if fixed is None or len(request.headers) != len(fixed) + 1:
        fixed = tuple((k, v) for k, v in request.headers.raw if k.lower() != b"content-length")
    return _headers_of(fixed)


@functools.lru_cache(maxsize=64)
def _headers_of(raw: tuple[tuple[bytes, bytes], ...]) -> CIMultiDictProxy[str]:
    """An immutable multidict of ``raw`` (latin-1, as httpx encodes header bytes)."""
    return CIMultiDictProxy(CIMultiDict((k.decode("latin-1"), v.decode("latin-1")) for k, v in raw))


class BufferedAiohttpTransport(AiohttpTransport):
    """``AiohttpTransport`` whose responses arrive already read (module docstring).

    Same constructor (``verify``, ``limits``, ``trust_env``, ``proxy``); raises what
    ``AiohttpTransport`` raises (``httpx.TransportError`` subclasses)."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request``, read the whole reply, and return it as an ``httpx.Response``
        whose content is already in memory."""
        if not isinstance(self.client, aiohttp.ClientSession):
            self.client = self.get_client()
        timeout = request.extensions.get("timeout", {})
        proxy = self.proxy
        data: bytes | httpx.AsyncByteStream | None
        headers: CIMultiDictProxy[str] | httpx.Headers
        try:
            data = request.content or None
            headers = _aiohttp_headers(request)
        except httpx.RequestNotRead:  # a streamed upload (a batch file): aiohttp chunks it
            data = request.stream  # type: ignore[assignment]
            request.headers.pop("transfer-encoding", None)
            headers = request.headers
        try:
            async with self.client.request(
                method=request.method,
                url=str(request.url),
                headers=headers,
                data=data,
                allow_redirects=False,
                auto_decompress=False,  # httpx decodes, as it does for AiohttpTransport
                compress=False,
                timeout=_client_timeout(
                    timeout.get("connect"), timeout.get("read"), timeout.get("pool")
                ),
                server_hostname=request.extensions.get("sni_hostname"),
                proxy=str(proxy.url) if proxy else None,
                proxy_auth=aiohttp.BasicAuth(*proxy.auth) if proxy and proxy.auth else None,
                proxy_headers=proxy.headers if proxy else None,
            ) as reply:
                body = await reply.read()
        except Exception:
            with map_aiohttp_exceptions():  # as AiohttpTransport maps them, entered on failure only
                raise
        extensions = {"http_version": _HTTP_1_1}
        if reply.reason:
            extensions["reason_phrase"] = reply.reason.encode()
        response = httpx.Response(
            status_code=reply.status,
            headers=reply.raw_headers,
            stream=httpx.ByteStream(body),
            request=request,
            extensions=extensions,
        )
        if hdrs.CONTENT_ENCODING in reply.headers:
            response.read()  # httpx decodes gzip, br, deflate, zstd, as before
        else:
            # What ``read()`` stores for an unencoded body (the bytes as they came), without
            # its generator layers: ~12 us a reply.  tests/test_transport.py pins that the
            # response then reads as httpx's own (content, text, json, aread).
            response._content = body
        return response
