"""A small forward HTTP proxy on 127.0.0.1 for tests: it counts what passes through.

Speaks what curl, httpx and aiohttp send a proxy: an absolute-form request
(``POST http://host:port/path HTTP/1.1``) for an ``http://`` target, forwarded with
``Connection: close``, and ``CONNECT host:port`` for an ``https://`` target, after
which it pipes bytes both ways (TLS stays end to end).  Every request line is
recorded in ``seen``.  A target it cannot reach gets 502.

    with ForwardProxy() as proxy:
        ... HTTPS_PROXY=proxy.url ...
        assert proxy.seen == ("CONNECT 127.0.0.1:PORT",)
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from urllib.parse import urlsplit

_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "upgrade"}
)


class ForwardProxy:
    """The proxy: ``start()`` serves in a background thread with its own event loop."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._host = host
        self._port = 0
        self._seen: list[str] = []
        self._headers: list[dict[str, str]] = []
        # Guards the recordings: the server loop appends, test code reads.
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://HOST:PORT``: the value for HTTPS_PROXY / HTTP_PROXY / a connection's proxy."""
        return f"http://{self._host}:{self._port}"

    @property
    def seen(self) -> tuple[str, ...]:
        """Request lines received so far: ``CONNECT host:port`` or ``POST http://...``."""
        with self._lock:
            return tuple(self._seen)

    @property
    def headers(self) -> tuple[dict[str, str], ...]:
        """The headers of each request in ``seen`` (names lowercased)."""
        with self._lock:
            return tuple(self._headers)

    def start(self) -> ForwardProxy:
        """Bind a free port, serve in a background thread, return self."""
        sock = socket.create_server((self._host, 0))
        self._port = sock.getsockname()[1]
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            self._server = loop.run_until_complete(asyncio.start_server(self._handle, sock=sock))
            self._loop = loop
            ready.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=serve, name="fake-proxy", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake proxy did not start")
        return self

    def stop(self) -> None:
        """Stop serving and close every tunnel."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._close(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        self._loop = self._thread = None

    def __enter__(self) -> ForwardProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        # Open tunnels: their handler tasks end when cancelled.
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            writer.close()
            return
        request_line, *lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
        method, target, _ = request_line.split(" ", 2)
        headers = [tuple(part.strip() for part in line.split(":", 1)) for line in lines if line]
        with self._lock:
            self._seen.append(f"{method} {target}")
            self._headers.append({name.lower(): value for name, value in headers})
        try:
            if method == "CONNECT":
                await self._tunnel(target, reader, writer)
            else:
                await self._forward(method, target, headers, reader, writer)
        finally:
            writer.close()

    async def _tunnel(
        self, target: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        host, _, port = target.rpartition(":")
        upstream = await _open(host.strip("[]"), int(port), writer)
        if upstream is None:
            return
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        up_reader, up_writer = upstream
        await _pipe_both(reader, writer, up_reader, up_writer)

    async def _forward(
        self,
        method: str,
        target: str,
        headers: list[tuple[str, ...]],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        url = urlsplit(target)
        length = next((int(v) for n, v in headers if n.lower() == "content-length"), 0)
        body = await reader.readexactly(length) if length else b""
        upstream = await _open(url.hostname or "", url.port or 80, writer)
        if upstream is None:
            return
        up_reader, up_writer = upstream
        path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        kept = [f"{n}: {v}" for n, v in headers if n.lower() not in _HOP_BY_HOP]
        head = "\r\n".join([f"{method} {path} HTTP/1.1", *kept, "Connection: close", "", ""])
        up_writer.write(head.encode("latin-1") + body)
        await up_writer.drain()
        await _copy(up_reader, writer)
        up_writer.close()


async def _open(
    host: str, port: int, client: asyncio.StreamWriter
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
    """A connection to the target; None (and 502 to the client) when it cannot be reached."""
    try:
        return await asyncio.open_connection(host, port)
    except OSError:
        client.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
        with contextlib.suppress(OSError):
            await client.drain()
        return None


async def _copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Bytes from ``source`` to ``sink`` until end of stream."""
    with contextlib.suppress(OSError):
        while chunk := await source.read(65536):
            sink.write(chunk)
            await sink.drain()
        if sink.can_write_eof():
            sink.write_eof()


async def _pipe_both(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    up_reader: asyncio.StreamReader,
    up_writer: asyncio.StreamWriter,
) -> None:
    try:
        await asyncio.gather(_copy(reader, up_writer), _copy(up_reader, writer))
    finally:
        up_writer.close()
