"""A loopback LLM provider for tests, the demo and benchmarks (aiohttp, 127.0.0.1).

Endpoints::

    POST /v1/chat/completions   OpenAI Chat Completions  (client base_url: URL/v1)
    POST /v1/responses          OpenAI Responses         (client base_url: URL/v1)
    POST /v1/messages           Anthropic Messages       (client base_url: URL)
    POST /model/{id}/converse   Amazon Bedrock Converse  (client base_url: URL)
    POST ...                    the other paths of ``fake_wire.ROUTES`` (Azure
                                deployments, Gemini, Groq, OpenRouter)
    GET  /_stats                counters as JSON (see ``FakeStats``)
    POST /_reset                clear counters, recordings, switch state; restore settings

Answers come from a stand-in judge (``fake_verdicts``: token overlap, not a
model). Faults are switched on with ``FakeSettings``, changeable while the
server runs. A request passes these stages in order; the first that refuses
answers: hang -> drop (``drop_first_n``) -> no API there (``redirect_to``,
``no_api_status``) -> auth (401) -> anthropic-version (400) -> body (400) ->
429 (``quota_exceeded``, ``rate_limit_first_n``, ``rate_limit_per_s``) -> latency -> 5xx ->
rejected parameters (400) -> ``status_400_rate`` -> reply (``fake_reply_stage``: ``error_in_200``,
``bad_verdict_*``, ``out_of_scale``, ``verdict_defect``, then its shape in
``fake_replies``: ``think_prefix``, the output cap, ``refuse``, ``empty_reply``,
``tool_call_reply``; then ``omit_usage``; last ``malformed_*``). Each ``*_first_n`` switch
counts only the
requests that reach its stage; each ``*_rate`` F fails exactly floor(n*F) of
the first n requests that reach it.

In-process::

    with FakeProvider() as fake:
        fake.settings.rate_limit_first_n = 2
        ... client(base_url=fake.openai_base_url) ...
        assert fake.stats().rate_limited == 2

As a process (prints one line ``listening on http://127.0.0.1:PORT``, serves
until SIGTERM/SIGINT, exits 0; the command line is ``fake_server.switches_main``)::

    python -m judgekit.testing.fake_provider --port 0 --latency-ms 20 --rate-limit-per-s 500
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import socket
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from judgekit.testing import fake_replies as shapes
from judgekit.testing.fake_batches import FakeBatches
from judgekit.testing.fake_faults import FaultGate, check_auth, error_response
from judgekit.testing.fake_reply_stage import reply
from judgekit.testing.fake_settings import FakeRequest, FakeSettings, FakeStats
from judgekit.testing.fake_wire import ROUTES, WireCall, WireProtocol, read_call

__all__ = ["FakeProvider", "FakeRequest", "FakeSettings", "FakeStats"]

_SHUTDOWN_TIMEOUT_S = 0.5
"""How long stop() waits for in-flight handlers (a long latency) before cancelling them."""


@dataclass(slots=True)
class _Counters:
    """Mutable counters behind ``FakeStats``."""

    requests: int = 0
    by_status: Counter[int] = dataclasses.field(default_factory=Counter)
    by_path: Counter[str] = dataclasses.field(default_factory=Counter)
    in_flight: int = 0
    max_in_flight: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


class FakeProvider:
    """The fake server: ``start()`` runs it in a background thread with its own loop."""

    def __init__(
        self,
        settings: FakeSettings | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._initial = dataclasses.replace(settings or FakeSettings())
        self.settings = dataclasses.replace(self._initial)
        self._host, self._port = host, port
        self._ssl_context = ssl_context
        """Serve HTTPS with this server-side context (None: plain HTTP)."""
        # Guards the counters, records and generation: handlers mutate them on
        # the server loop while test code reads or resets them from another thread.
        self._lock = threading.Lock()
        self._counters = _Counters()
        self._records: list[FakeRequest] = []
        self._gate = FaultGate()
        self._generation = 0
        self._release = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._handlers: set[asyncio.Task[Any]] = set()
        self.batches = FakeBatches(lambda: self.settings, self._batch_answer, self._pause)
        """The batch APIs (``fake_batches``): ``submitted()`` and ``calls()``."""

    # -- public API ------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` (``https`` with an ``ssl_context``); the Anthropic base URL."""
        scheme = "https" if self._ssl_context is not None else "http"
        return f"{scheme}://{self._host}:{self._port}"

    @property
    def openai_base_url(self) -> str:
        """``URL/v1``; the base URL for both OpenAI protocols."""
        return self.url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        """Same as ``url``."""
        return self.url

    @property
    def requests(self) -> tuple[FakeRequest, ...]:
        """Requests recorded so far (only while ``settings.record`` is true)."""
        with self._lock:
            return tuple(self._records)

    def stats(self) -> FakeStats:
        """A snapshot of the counters."""
        with self._lock:
            c = self._counters
            return FakeStats(
                requests=c.requests,
                by_status=dict(c.by_status),
                rate_limited=c.by_status[429],
                by_path=dict(c.by_path),
                in_flight=c.in_flight,
                max_in_flight=c.max_in_flight,
                input_tokens=c.input_tokens,
                output_tokens=c.output_tokens,
            )

    def reset(self) -> None:
        """Clear counters, recordings and switch state; restore the initial settings;
        release hanging requests (their replies are not counted)."""
        with self._lock:
            in_flight = self._counters.in_flight
            self._counters = _Counters(in_flight=in_flight, max_in_flight=in_flight)
            self._records.clear()
            self._generation += 1
            self.settings = dataclasses.replace(self._initial)
        self._gate.clear()
        self.batches.reset()
        loop = self._loop
        if loop is None:
            return
        if _running_loop() is loop:
            self._release_hung()
        else:
            loop.call_soon_threadsafe(self._release_hung)

    def start(self) -> FakeProvider:
        """Bind, start serving in a background thread and return self."""
        sock = socket.create_server((self._host, self._port), backlog=1024)
        self._port = sock.getsockname()[1]
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run_thread, args=(loop, sock, ready), name="fake-provider", daemon=True
        )
        self._thread.start()
        if not ready.wait(10) or self._runner is None:
            raise RuntimeError("fake provider did not start")
        return self

    def stop(self) -> None:
        """Stop serving; hanging requests are released, slow ones cancelled."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self.close(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        self._thread = self._loop = None

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def open(self, sock: socket.socket) -> None:
        """Serve on an already bound socket in the running loop (used by the CLI)."""
        self._loop = asyncio.get_running_loop()
        self._port = sock.getsockname()[1]
        app = web.Application(client_max_size=64 * 1024 * 1024)
        for path in ROUTES:
            app.router.add_post(path, self._handle)
        self.batches.add_routes(app.router)
        app.router.add_get("/_stats", self._handle_stats)
        app.router.add_post("/_reset", self._handle_reset)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=_SHUTDOWN_TIMEOUT_S)
        await runner.setup()
        await web.SockSite(runner, sock, ssl_context=self._ssl_context).start()
        self._runner = runner

    async def close(self) -> None:
        """Stop serving in the running loop (used by ``stop()`` and the CLI)."""
        self._release_hung()
        # Woken handlers finish on their own; a client that gave up already
        # closed its connection, so aiohttp's shutdown would not wait for them.
        deadline = time.monotonic() + _SHUTDOWN_TIMEOUT_S
        while self._handlers and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        leftovers = set(self._handlers)
        for task in leftovers:
            task.cancel()
        if leftovers:
            await asyncio.wait(leftovers, timeout=_SHUTDOWN_TIMEOUT_S)

    # -- plumbing --------------------------------------------------------------

    def _run_thread(
        self, loop: asyncio.AbstractEventLoop, sock: socket.socket, ready: threading.Event
    ) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self.open(sock))
            ready.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            ready.set()
            loop.close()

    def _release_hung(self) -> None:
        """Wake every hanging or sleeping request; runs on the server loop."""
        self._release.set()
        self._release = asyncio.Event()

    async def _pause(self, seconds: float) -> None:
        """Sleep, cut short by reset() or stop()."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._release.wait()

    async def _handle_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats().to_json())

    async def _handle_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"reset": True})

    async def _handle(self, request: web.Request) -> web.Response:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            return await self._handle_api(request)
        finally:
            self._handlers.discard(task)

    async def _handle_api(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = None
        generation = self._arrive(request, body)
        response: web.Response | None = None
        try:
            resource = request.match_info.route.resource
            assert resource is not None  # every route of the app is a resource of ROUTES
            protocol = ROUTES[resource.canonical]
            response = await self._answer(request, protocol, body)
            return response
        finally:
            self._leave(generation, None if response is None else response.status)

    def _arrive(self, request: web.Request, body: Any) -> int:
        with self._lock:
            c = self._counters
            c.requests += 1
            c.by_path[request.path] += 1
            c.in_flight += 1
            c.max_in_flight = max(c.max_in_flight, c.in_flight)
            if self.settings.record:
                headers = {k.lower(): v for k, v in request.headers.items()}
                record = FakeRequest(
                    request.path, headers, body, time.monotonic(), request.query_string
                )
                self._records.append(record)
            return self._generation

    def _leave(self, generation: int, status: int | None) -> None:
        with self._lock:
            self._counters.in_flight -= 1
            if status is not None and generation == self._generation:
                self._counters.by_status[status] += 1

    # -- the stages ------------------------------------------------------------

    async def _answer(
        self, request: web.Request, protocol: WireProtocol, body: Any
    ) -> web.Response:
        s, gate = self.settings, self._gate
        if gate.hangs(s):
            await self._release.wait()
            return error_response(protocol, 503, "overloaded", "The server is shutting down.")
        if gate.drops(s):
            assert request.transport is not None
            request.transport.abort()  # a dropped connection: no status line at all
            return web.Response(status=500)  # never reaches the client
        refusal = gate.check_route(request.path, s) or check_auth(request.headers, protocol, s)
        if refusal is not None:
            return refusal
        if body is None:
            message = "We could not parse the JSON body of your request."
            return error_response(protocol, 400, "invalid_request", message)
        call = read_call(protocol, body, request.match_info.get("model_id", ""))
        if isinstance(call, str):
            return error_response(protocol, 400, "invalid_request", call)
        refusal = gate.check_rate(protocol, s)
        if refusal is not None:
            return refusal
        if s.latency_ms > 0:
            await self._pause(s.latency_ms / 1000)
        refusal = gate.check_server(protocol, s) or gate.check_params(call, body, s)
        return refusal or self._reply(call, s, shapes.output_cap(protocol, body))

    def _reply(self, call: WireCall, s: FakeSettings, cap: int | None) -> web.Response:
        response, usage = reply(call, s, self._gate, cap)
        if usage is not None:
            with self._lock:
                self._counters.input_tokens += usage.input_tokens
                self._counters.output_tokens += usage.output_tokens
        return response

    def _batch_answer(self, protocol: WireProtocol, body: Any) -> tuple[int, str]:
        """A batch request answered as the online endpoint answers it (reply stages only)."""
        call = read_call(protocol, body, "")
        if isinstance(call, str):
            return 400, json.dumps({"error": {"message": call}})
        response = self._reply(call, self.settings, shapes.output_cap(protocol, body))
        return response.status, response.text or ""


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


if __name__ == "__main__":
    # The command line lives with judgekit-fake's (fake_server); this name stays the
    # documented one for tests and benchmarks.
    from judgekit.testing.fake_server import switches_main

    raise SystemExit(switches_main())
