"""Anthropic's Message Batches API, for the anthropic protocol.

Wire format (https://docs.anthropic.com/en/api/creating-message-batches and
https://platform.claude.com/docs/en/api/csharp/messages/batches/retrieve):

- ``POST {root}/v1/messages/batches`` ``{"requests": [{"custom_id", "params"}]}`` (at most
  100,000 requests and 256 MB; ``custom_id`` matches ``^[a-zA-Z0-9_-]{1,64}$``) answers
  the batch: ``{"id": "msgbatch_...", "processing_status": "in_progress", "request_counts":
  {"processing", "succeeded", "errored", "canceled", "expired"}, "created_at", "results_url"}``.
- ``GET .../batches/{id}``: ``processing_status`` in_progress | canceling | ended.
- ``GET .../batches?limit=N`` lists recent batches (``data``, newest first).  A batch
  carries no metadata: an unrecorded intent is matched to a listed batch that no record
  names, created after the intent (less ``CLOCK_SKEW_S``), with as many requests.
- ``GET {results_url}``: JSONL of ``{"custom_id", "result": {"type": "succeeded",
  "message"} | {"type": "errored", "error": {"error": {"type", "message"}}} |
  {"type": "canceled"} | {"type": "expired"}}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from judgekit.batch.api import (
    BatchApiError,
    ItemResult,
    Remote,
    Send,
    checked,
    json_of,
    jsonl,
)
from judgekit.batch.state import Submission

CLOCK_SKEW_S = 600.0
"""How much earlier than the intent a listed batch may say it was created (clocks differ)."""

_ERROR_KINDS = {
    "invalid_request_error": ("bad_request", True),
    "authentication_error": ("auth", True),
    "permission_error": ("auth", True),
    "not_found_error": ("bad_request", True),
    "rate_limit_error": ("rate_limit", False),
}


@dataclass(frozen=True, slots=True)
class AnthropicBatches:
    """The Message Batches API under ``messages_url`` (``.../v1/messages``)."""

    messages_url: str
    headers: Mapping[str, str]
    max_requests: int = 100_000
    max_bytes: int = 256 * 1024 * 1024

    def line(self, custom_id: str, request: httpx.Request) -> bytes:
        """One ``{"custom_id", "params"}`` entry: the online request's body."""
        entry = {"custom_id": custom_id, "params": json.loads(request.content)}
        return json.dumps(entry, separators=(",", ":")).encode()

    async def create(self, send: Send, lines: list[bytes], intent_id: str) -> str:
        """``POST /v1/messages/batches`` with every entry (the intent id stays local)."""
        body = b'{"requests":[' + b",".join(lines) + b"]}"
        headers = dict(self.headers) | {"content-type": "application/json"}
        request = httpx.Request("POST", self._url(), headers=headers, content=body)
        batch_id = json_of(await checked(send, request, "batch create"), "batch create").get("id")
        if not isinstance(batch_id, str):
            raise BatchApiError("batch create: the reply has no batch id")
        return batch_id

    async def find(self, send: Send, intent: Submission, known: set[str]) -> str | None:
        """An unrecorded listed batch of the intent's size, created after it."""
        listed = await checked(send, self._get(self._url("?limit=100")), "batch list")
        for batch in json_of(listed, "batch list").get("data") or []:
            batch_id = batch.get("id")
            if not isinstance(batch_id, str) or batch_id in known:
                continue
            counts = batch.get("request_counts") or {}
            total = sum(int(v) for v in counts.values() if isinstance(v, int))
            created = _timestamp(batch.get("created_at"))
            if total == intent.requests and created >= intent.created_at - CLOCK_SKEW_S:
                return batch_id
        return None

    async def retrieve(self, send: Send, batch_id: str) -> Remote:
        """``GET /v1/messages/batches/{id}``: ended, or still in progress."""
        got = json_of(await checked(send, self._get(self._url(f"/{batch_id}")), "batch"), "")
        ended = got.get("processing_status") == "ended"
        return Remote(batch_id, "completed" if ended else "in_progress", "", got)

    async def results(self, send: Send, remote: Remote) -> list[ItemResult]:
        """Every line of ``results_url``."""
        url = remote.raw.get("results_url") or self._url(f"/{remote.batch_id}/results")
        content = await checked(send, self._get(str(url)), "batch results")
        return [_item(entry) for entry in jsonl(content.text)]

    def _url(self, tail: str = "") -> str:
        return f"{self.messages_url}/batches{tail}"

    def _get(self, url: str) -> httpx.Request:
        return httpx.Request("GET", url, headers=dict(self.headers))


def _item(entry: dict[str, Any]) -> ItemResult:
    """One results line as an ItemResult."""
    custom_id = str(entry.get("custom_id"))
    result = entry.get("result") or {}
    kind = result.get("type")
    if kind == "succeeded" and isinstance(result.get("message"), dict):
        return ItemResult(custom_id, result["message"])
    if kind in ("expired", "canceled"):
        return ItemResult(custom_id, None, "server_error", f"the batch request {kind}")
    error = ((result.get("error") or {}).get("error")) or {}
    error_kind, final = _ERROR_KINDS.get(str(error.get("type")), ("server_error", False))
    message = f"{error.get('type')}: {error.get('message', '')}"
    return ItemResult(custom_id, None, error_kind, message, final)  # type: ignore[arg-type]


def _timestamp(value: object) -> float:
    """Unix seconds of an RFC 3339 time (0 when unreadable)."""
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0
