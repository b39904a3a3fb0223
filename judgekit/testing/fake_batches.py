"""The fake provider's batch APIs: OpenAI's Batch API and Anthropic's Message Batches.

Endpoints (wire shapes as in ``judgekit.batch.openai_batch`` / ``anthropic_batch``)::

    POST /v1/files                           multipart upload, purpose=batch
    GET  /v1/files/{id}/content              an uploaded, output or error file
    POST /v1/batches                         create (input_file_id, endpoint, metadata)
    GET  /v1/batches  /v1/batches/{id}       list, retrieve
    POST /v1/messages/batches                create ({"requests": [{custom_id, params}]})
    GET  /v1/messages/batches[/{id}]         list, retrieve
    GET  /v1/messages/batches/{id}/results   JSONL results

Each request in a batch is answered as the online endpoint would answer it (the
provider's ``answer`` callable) when the batch ends, on its
``batch_polls_to_finish``-th status check.  Switches: ``batch_ending``,
``batch_fail_every``, ``batch_hang_at`` (``FakeSettings``).  ``submitted()`` counts,
per custom_id, every time a request body arrived in any batch: a request paid twice
shows a 2.  ``calls()`` lists ``METHOD /path`` of every batch endpoint call.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from judgekit.testing.fake_faults import check_auth
from judgekit.testing.fake_settings import FakeSettings
from judgekit.testing.fake_wire import WireProtocol

Answer = Callable[[WireProtocol, Any], tuple[int, str]]
"""(protocol, request body) -> (status, reply body text), as the online endpoint answers."""

_HANG_S = 3600.0
_OPENAI_ENDPOINTS: dict[str, WireProtocol] = {
    "/v1/chat/completions": "chat_completions",
    "/v1/responses": "responses",
}


@dataclass(slots=True)
class _Batch:
    """One batch and, once ended, its results."""

    id: str
    protocol: WireProtocol
    entries: list[tuple[str, Any]]
    metadata: dict[str, str]
    created_at: float
    endpoint: str = ""
    input_file_id: str = ""
    polls: int = 0
    status: str = "in_progress"
    output_file_id: str | None = None
    error_file_id: str | None = None
    results: list[dict[str, Any]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)


class FakeBatches:
    """Batch state of one fake server; handlers run on its loop, readers anywhere."""

    def __init__(
        self,
        settings: Callable[[], FakeSettings],
        answer: Answer,
        pause: Callable[[float], Awaitable[None]],
    ) -> None:
        self._settings = settings
        self._answer = answer
        self._pause = pause
        # Guards everything below: handlers write on the server loop, tests read elsewhere.
        self._lock = threading.Lock()
        self._files: dict[str, bytes] = {}
        self._batches: dict[str, _Batch] = {}
        self._submitted: Counter[str] = Counter()
        self._calls: list[str] = []
        self._next = 0

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """Serve the batch endpoints."""
        router.add_post("/v1/files", self._upload)
        router.add_get("/v1/files/{file_id}/content", self._content)
        router.add_post("/v1/batches", self._openai_create)
        router.add_get("/v1/batches", self._list)
        router.add_get("/v1/batches/{batch_id}", self._retrieve)
        router.add_post("/v1/messages/batches", self._anthropic_create)
        router.add_get("/v1/messages/batches", self._list)
        router.add_get("/v1/messages/batches/{batch_id}", self._retrieve)
        router.add_get("/v1/messages/batches/{batch_id}/results", self._anthropic_results)

    def reset(self) -> None:
        """Forget every file, batch, count and call."""
        with self._lock:
            self._files.clear()
            self._batches.clear()
            self._submitted.clear()
            self._calls.clear()
            self._next = 0

    def submitted(self) -> dict[str, int]:
        """custom_id -> how many times it arrived in a created batch."""
        with self._lock:
            return dict(self._submitted)

    def calls(self) -> list[str]:
        """``METHOD /path`` of every batch endpoint call, in arrival order."""
        with self._lock:
            return list(self._calls)

    # -- OpenAI ---------------------------------------------------------------------------

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        refused = self._arrive(request, "chat_completions")
        if refused is not None:
            return refused
        form = _multipart(request.content_type, request.headers, await request.read())
        data = form.get("file")
        if form.get("purpose") != b"batch" or data is None:
            return _openai_error(400, "expected a file and purpose=batch")
        with self._lock:
            file_id = self._new_id("file-")
            self._files[file_id] = data
        return web.json_response({"id": file_id, "object": "file", "bytes": len(data)})

    async def _content(self, request: web.Request) -> web.StreamResponse:
        refused = self._arrive(request, "chat_completions")
        if refused is not None:
            return refused
        if self._settings().batch_hang_at == "results":
            await self._pause(_HANG_S)
        with self._lock:
            data = self._files.get(request.match_info["file_id"])
        if data is None:
            return _openai_error(404, "no such file")
        return web.Response(body=data, content_type="application/octet-stream")

    async def _openai_create(self, request: web.Request) -> web.StreamResponse:
        refused = self._arrive(request, "chat_completions")
        if refused is not None:
            return refused
        body = await request.json()
        endpoint = body.get("endpoint")
        with self._lock:
            data = self._files.get(body.get("input_file_id", ""))
        if data is None or endpoint not in _OPENAI_ENDPOINTS:
            return _openai_error(400, "unknown input_file_id or endpoint")
        if body.get("completion_window") != "24h":
            return _openai_error(400, "completion_window must be 24h")
        lines = [json.loads(line) for line in data.splitlines() if line.strip()]
        if any(line.get("url") != endpoint for line in lines):
            return _openai_error(400, "every line's url must be the batch endpoint")
        entries = [(str(line["custom_id"]), line["body"]) for line in lines]
        batch = await self._create(
            "batch_", _OPENAI_ENDPOINTS[endpoint], entries, body.get("metadata") or {}
        )
        if batch is None:
            return _openai_error(500, "hung")
        batch.endpoint, batch.input_file_id = endpoint, body["input_file_id"]
        return web.json_response(self._openai_object(batch))

    def _openai_object(self, batch: _Batch) -> dict[str, Any]:
        counts = batch.counts
        return {
            "id": batch.id,
            "object": "batch",
            "endpoint": batch.endpoint,
            "input_file_id": batch.input_file_id,
            "completion_window": "24h",
            "status": batch.status,
            "output_file_id": batch.output_file_id,
            "error_file_id": batch.error_file_id,
            "created_at": int(batch.created_at),
            "metadata": batch.metadata,
            "request_counts": {
                "total": len(batch.entries),
                "completed": counts["succeeded"],
                "failed": len(batch.entries) - counts["succeeded"] if counts else 0,
            },
        }

    # -- Anthropic ------------------------------------------------------------------------

    async def _anthropic_create(self, request: web.Request) -> web.StreamResponse:
        refused = self._arrive(request, "anthropic")
        if refused is not None:
            return refused
        body = await request.json()
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests:
            return _anthropic_error(400, "requests: a non-empty list is required")
        entries = [(str(r["custom_id"]), r["params"]) for r in requests]
        batch = await self._create("msgbatch_", "anthropic", entries, {})
        if batch is None:
            return _anthropic_error(500, "hung")
        return web.json_response(self._anthropic_object(batch, request))

    def _anthropic_object(self, batch: _Batch, request: web.Request) -> dict[str, Any]:
        ended = batch.status != "in_progress"
        counts = {k: batch.counts[k] for k in ("succeeded", "errored", "canceled", "expired")}
        url = f"{request.scheme}://{request.host}/v1/messages/batches/{batch.id}/results"
        return {
            "id": batch.id,
            "type": "message_batch",
            "processing_status": "ended" if ended else "in_progress",
            "request_counts": {"processing": 0 if ended else len(batch.entries), **counts},
            "created_at": _rfc3339(batch.created_at),
            "results_url": url if ended else None,
        }

    async def _anthropic_results(self, request: web.Request) -> web.StreamResponse:
        refused = self._arrive(request, "anthropic")
        if refused is not None:
            return refused
        if self._settings().batch_hang_at == "results":
            await self._pause(_HANG_S)
        with self._lock:
            batch = self._batches.get(request.match_info["batch_id"])
        if batch is None or batch.status == "in_progress":
            return _anthropic_error(404, "no results (yet)")
        text = "".join(json.dumps(r) + "\n" for r in batch.results)
        return web.Response(text=text, content_type="application/binary")

    # -- both -----------------------------------------------------------------------------

    async def _create(
        self, prefix: str, protocol: WireProtocol, entries: list[tuple[str, Any]], meta: Any
    ) -> _Batch | None:
        """Create and count a batch (hanging where ``batch_hang_at`` says); None if hung."""
        hang_at = self._settings().batch_hang_at
        if hang_at == "create_before":
            await self._pause(_HANG_S)
            return None
        with self._lock:
            batch = _Batch(self._new_id(prefix), protocol, entries, dict(meta), time.time())
            self._batches[batch.id] = batch
            self._submitted.update(custom_id for custom_id, _ in entries)
        if hang_at == "create_after":
            await self._pause(_HANG_S)
            return None
        return batch

    async def _list(self, request: web.Request) -> web.StreamResponse:
        anthropic = request.path.startswith("/v1/messages")
        refused = self._arrive(request, "anthropic" if anthropic else "chat_completions")
        if refused is not None:
            return refused
        with self._lock:
            batches = sorted(self._batches.values(), key=lambda b: -b.created_at)
            kind = [b for b in batches if (b.protocol == "anthropic") == anthropic]
        if anthropic:
            data = [self._anthropic_object(b, request) for b in kind]
        else:
            data = [self._openai_object(b) for b in kind]
        return web.json_response({"object": "list", "data": data, "has_more": False})

    async def _retrieve(self, request: web.Request) -> web.StreamResponse:
        anthropic = request.path.startswith("/v1/messages")
        refused = self._arrive(request, "anthropic" if anthropic else "chat_completions")
        if refused is not None:
            return refused
        with self._lock:
            batch = self._batches.get(request.match_info["batch_id"])
        if batch is None:
            return (_anthropic_error if anthropic else _openai_error)(404, "no such batch")
        batch.polls += 1
        if batch.status == "in_progress" and batch.polls >= self._settings().batch_polls_to_finish:
            self._finish(batch)
        if anthropic:
            return web.json_response(self._anthropic_object(batch, request))
        return web.json_response(self._openai_object(batch))

    def _finish(self, batch: _Batch) -> None:
        """End ``batch`` as ``batch_ending`` says, answering every request if it completes."""
        s = self._settings()
        ending = s.batch_ending
        output: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for index, (custom_id, body) in enumerate(batch.entries):
            if ending != "completed":
                status, text = 0, ""
            elif s.batch_fail_every and (index + 1) % s.batch_fail_every == 0:
                status, text = 500, json.dumps({"error": {"message": "internal error"}})
            else:
                status, text = self._answer(batch.protocol, body)
            reply = json.loads(text) if text else None
            if batch.protocol == "anthropic":
                batch.results.append(_anthropic_result(custom_id, status, reply, ending))
                batch.counts[batch.results[-1]["result"]["type"]] += 1
                continue
            line = _openai_line(custom_id, status, reply, ending)
            (output if status == 200 else errors).append(line)
            batch.counts["succeeded" if status == 200 else "failed"] += 1
        with self._lock:
            if output:
                batch.output_file_id = self._new_id("file-")
                self._files[batch.output_file_id] = _jsonl(output)
            if errors:
                batch.error_file_id = self._new_id("file-")
                self._files[batch.error_file_id] = _jsonl(errors)
        batch.status = ending if batch.protocol != "anthropic" else "ended"

    def _arrive(self, request: web.Request, protocol: WireProtocol) -> web.Response | None:
        """Log the call; the auth check's refusal, if any."""
        with self._lock:
            self._calls.append(f"{request.method} {request.path}")
        return check_auth(request.headers, protocol, self._settings())

    def _new_id(self, prefix: str) -> str:
        """A fresh id (call with the lock held)."""
        self._next += 1
        return f"{prefix}{self._next:06d}"


def _openai_line(custom_id: str, status: int, reply: Any, ending: str) -> dict[str, Any]:
    """One output or error file line."""
    if ending != "completed":
        code = "batch_expired" if ending == "expired" else "batch_cancelled"
        message = f"This request was not executed: the batch {ending}."
        return {
            "custom_id": custom_id,
            "response": None,
            "error": {"code": code, "message": message},
        }
    return {
        "id": f"batch_req_{custom_id[:12]}",
        "custom_id": custom_id,
        "response": {"status_code": status, "request_id": "req_fake", "body": reply},
        "error": None,
    }


def _anthropic_result(custom_id: str, status: int, reply: Any, ending: str) -> dict[str, Any]:
    """One results line."""
    if ending != "completed":
        return {
            "custom_id": custom_id,
            "result": {"type": "expired" if ending == "expired" else "canceled"},
        }
    if status == 200:
        return {"custom_id": custom_id, "result": {"type": "succeeded", "message": reply}}
    error = {"type": "api_error", "message": str((reply or {}).get("error", ""))}
    return {
        "custom_id": custom_id,
        "result": {"type": "errored", "error": {"type": "error", "error": error}},
    }


def _multipart(content_type: str, headers: Mapping[str, str], body: bytes) -> dict[str, bytes]:
    """Field name -> content of a multipart/form-data body (parsed here: aiohttp's own
    reader warns of a deprecation on some chunk boundaries)."""
    if content_type != "multipart/form-data":
        return {}
    boundary = headers["content-type"].split("boundary=", 1)[-1].strip('"').encode()
    fields: dict[str, bytes] = {}
    for part in body.split(b"--" + boundary)[1:-1]:
        head, _, content = part.strip(b"\r\n").partition(b"\r\n\r\n")
        name = head.split(b'name="', 1)[-1].split(b'"', 1)[0].decode()
        fields[name] = content
    return fields


def _jsonl(items: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(item) + "\n" for item in items).encode()


def _rfc3339(unix_s: float) -> str:
    return datetime.fromtimestamp(unix_s, UTC).isoformat().replace("+00:00", "Z")


def _openai_error(status: int, message: str) -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": "invalid_request_error"}}, status=status
    )


def _anthropic_error(status: int, message: str) -> web.Response:
    body = {"type": "error", "error": {"type": "invalid_request_error", "message": message}}
    return web.json_response(body, status=status)
