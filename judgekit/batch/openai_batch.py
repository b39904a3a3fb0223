"""OpenAI's Batch API, for the chat_completions and responses protocols.

Wire format (https://platform.openai.com/docs/api-reference/batch and
https://developers.openai.com/api/reference/cli/resources/batches/methods/create):

- ``POST {root}/files`` (multipart, ``purpose=batch``) uploads a JSONL file, one
  ``{"custom_id", "method": "POST", "url": "/v1/chat/completions", "body"}`` a line, at
  most 50,000 lines and 200 MB; answers ``{"id": "file-..."}``.
- ``POST {root}/batches`` ``{"input_file_id", "endpoint", "completion_window": "24h",
  "metadata"}`` (at most 16 string pairs) answers the batch object.
- ``GET {root}/batches/{id}``: ``status`` validating | in_progress | finalizing |
  completed | failed | expired | cancelling | cancelled; ``output_file_id``,
  ``error_file_id``.  ``GET {root}/batches?limit=N`` lists recent batches (``data``).
- ``GET {root}/files/{id}/content``: JSONL of ``{"custom_id", "response": {"status_code",
  "body"}, "error": {"code", "message"} | null}``; requests a batch never ran (expired,
  cancelled) appear in the error file with ``error.code`` ``batch_expired`` /
  ``batch_cancelled``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from judgekit.batch.api import (
    BatchApiError,
    Ending,
    ItemResult,
    Remote,
    Send,
    checked,
    json_of,
    jsonl,
    status_error,
)
from judgekit.batch.state import Submission

METADATA_KEY = "judgekit_intent"
"""The batch metadata key holding the intent id: how a run finds a batch it created but
never recorded."""

_ENDINGS: dict[str, Ending] = {
    "completed": "completed",
    "expired": "expired",
    "cancelled": "cancelled",
    "failed": "failed",
}


@dataclass(frozen=True, slots=True)
class OpenAIBatches:
    """The Batch API at ``root`` (``https://api.openai.com/v1``) for ``endpoint_path``."""

    root: str
    headers: Mapping[str, str]
    endpoint_path: str
    """``/v1/chat/completions`` or ``/v1/responses``."""
    max_requests: int = 50_000
    max_bytes: int = 200 * 1024 * 1024

    def line(self, custom_id: str, request: httpx.Request) -> bytes:
        """One JSONL line: the online request's body under ``custom_id``."""
        entry = {
            "custom_id": custom_id,
            "method": "POST",
            "url": self.endpoint_path,
            "body": json.loads(request.content),
        }
        return json.dumps(entry, separators=(",", ":")).encode()

    async def create(self, send: Send, lines: list[bytes], intent_id: str) -> str:
        """Upload the file, then create the batch tagged with ``intent_id``."""
        data = b"\n".join(lines) + b"\n"
        upload = httpx.Request(
            "POST",
            f"{self.root}/files",
            headers=dict(self.headers),
            data={"purpose": "batch"},
            files={"file": ("judgekit-batch.jsonl", data, "application/jsonl")},
        )
        file_id = json_of(await checked(send, upload, "file upload"), "file upload").get("id")
        if not isinstance(file_id, str):
            raise BatchApiError("file upload: the reply has no file id")
        body = {
            "input_file_id": file_id,
            "endpoint": self.endpoint_path,
            "completion_window": "24h",
            "metadata": {METADATA_KEY: intent_id},
        }
        made = await checked(send, self._post("batches", body), "batch create")
        batch_id = json_of(made, "batch create").get("id")
        if not isinstance(batch_id, str):
            raise BatchApiError("batch create: the reply has no batch id")
        return batch_id

    async def find(self, send: Send, intent: Submission, known: set[str]) -> str | None:
        """The listed batch whose metadata carries the intent id."""
        listed = await checked(send, self._get("batches?limit=100"), "batch list")
        for batch in json_of(listed, "batch list").get("data") or []:
            metadata = batch.get("metadata") or {}
            if metadata.get(METADATA_KEY) == intent.intent_id and isinstance(batch.get("id"), str):
                return str(batch["id"])
        return None

    async def retrieve(self, send: Send, batch_id: str) -> Remote:
        """``GET /batches/{id}``."""
        got = json_of(await checked(send, self._get(f"batches/{batch_id}"), "batch status"), "")
        status = str(got.get("status"))
        detail = json.dumps(got.get("errors")) if status == "failed" else ""
        return Remote(batch_id, _ENDINGS.get(status, "in_progress"), detail, got)

    async def results(self, send: Send, remote: Remote) -> list[ItemResult]:
        """The output file's answers and the error file's failures."""
        out: list[ItemResult] = []
        for field in ("output_file_id", "error_file_id"):
            file_id = remote.raw.get(field)
            if not isinstance(file_id, str):
                continue
            content = await checked(send, self._get(f"files/{file_id}/content"), "batch results")
            out.extend(_item(entry) for entry in jsonl(content.text))
        return out

    def _get(self, path: str) -> httpx.Request:
        return httpx.Request("GET", f"{self.root}/{path}", headers=dict(self.headers))

    def _post(self, path: str, body: Any) -> httpx.Request:
        return httpx.Request("POST", f"{self.root}/{path}", headers=dict(self.headers), json=body)


def _item(entry: dict[str, Any]) -> ItemResult:
    """One output or error line as an ItemResult."""
    custom_id = str(entry.get("custom_id"))
    response = entry.get("response") or {}
    status = int(response.get("status_code") or 0)
    body = response.get("body")
    if status == 200 and isinstance(body, dict):
        return ItemResult(custom_id, body)
    error = entry.get("error") or {}
    if error.get("code") in ("batch_expired", "batch_cancelled"):
        return ItemResult(custom_id, None, "server_error", str(error.get("message", "")))
    message = json.dumps(body)[:300] if body else str(error.get("message", ""))
    kind, final = status_error(status)
    return ItemResult(custom_id, None, kind, f"HTTP {status}: {message}", final)
