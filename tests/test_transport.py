"""The transport judgekit sends through (``engine.transport``): a reply read whole reads as
httpx's own response would, encoded or not; headers reach the server as httpx built them."""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from aiohttp import web

from judgekit.engine.transport import BufferedAiohttpTransport
from judgekit.providers.wire import post_json

BODY = {"choices": [{"message": {"content": "caf\u00e9 \u2713"}}], "usage": {"prompt_tokens": 3}}


@asynccontextmanager
async def server() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """An aiohttp server on 127.0.0.1 answering ``/plain`` as is and ``/gzip`` compressed;
    yields its URL and the headers of every request it received."""
    seen: list[dict[str, str]] = []

    async def plain(request: web.Request) -> web.Response:
        headers = {name.lower(): value for name, value in request.headers.items()}
        seen.append(headers | {"body": (await request.read()).decode()})
        return web.json_response(BODY, headers={"x-request-id": "req-1"})

    async def compressed(request: web.Request) -> web.Response:
        raw = gzip.compress(json.dumps(BODY).encode())
        return web.Response(
            body=raw,
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        )

    app = web.Application()
    app.router.add_post("/plain", plain)
    app.router.add_post("/gzip", compressed)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


@pytest.mark.anyio
@pytest.mark.parametrize("path", ["/plain", "/gzip"])
async def test_a_reply_read_whole_reads_as_an_httpx_response(path: str) -> None:
    transport = BufferedAiohttpTransport()
    async with server() as (url, _seen):
        request = post_json(url + path, {"authorization": "Bearer k"}, {"a": 1})
        response = await transport.handle_async_request(request)
        await transport.aclose()
    assert response.status_code == 200
    assert response.reason_phrase == "OK"
    assert await response.aread() == json.dumps(BODY).encode() == response.content
    assert response.json() == BODY
    assert response.text == json.dumps(BODY)
    assert response.request is request


@pytest.mark.anyio
async def test_the_server_receives_the_headers_and_body_httpx_built() -> None:
    transport = BufferedAiohttpTransport()
    async with server() as (url, seen):
        for body in ({"a": 1}, {"a": 22}):  # one header set, two lengths
            headers = {"authorization": "Bearer k", "content-type": "application/json"}
            request = post_json(url + "/plain", headers, body)
            response = await transport.handle_async_request(request)
            assert response.headers["x-request-id"] == "req-1"
        await transport.aclose()
    assert [(h["content-length"], h["body"]) for h in seen] == [("7", '{"a":1}'), ("8", '{"a":22}')]
    assert {(h["authorization"], h["content-type"], h["host"]) for h in seen} == {
        ("Bearer k", "application/json", url.removeprefix("http://"))
    }


@pytest.mark.anyio
async def test_a_streamed_upload_is_sent_as_a_stream() -> None:
    """A body httpx has not read (a batch file upload) goes out as it is streamed."""

    async def parts() -> AsyncIterator[bytes]:
        for part in (b'{"a":', b"1}"):
            yield part

    transport = BufferedAiohttpTransport()
    async with server() as (url, seen):
        request = httpx.Request("POST", url + "/plain", content=parts())
        response = await transport.handle_async_request(request)
        await transport.aclose()
    assert response.json() == BODY
    assert seen[0]["body"] == '{"a":1}'
