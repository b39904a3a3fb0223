"""What every provider's batch API offers judgekit, and the records it answers with.

A batch module translates and sends through the ``Send`` it is given (the engine's
transport); it holds no client, no retries, no sleeps.  Failures of the batch
endpoints themselves become one ``BatchApiError`` (an answer's own failure is an
``ItemResult`` with an error).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import httpx

from judgekit.batch.state import Submission
from judgekit.errors import ErrorKind

Send = Callable[[httpx.Request], Awaitable[httpx.Response]]
"""Send one request and read its whole body (the caller applies timeout and proxy)."""

Ending = Literal["in_progress", "completed", "expired", "cancelled", "failed"]


class BatchApiError(Exception):
    """A batch endpoint answered an error or nothing usable.

    ``refused``: the server said no (a 4xx other than 408/409/429), so nothing was
    created; otherwise it may have been."""

    def __init__(self, message: str, *, status: int = 0) -> None:
        super().__init__(message)
        self.status = status
        self.refused = 400 <= status < 500 and status not in (408, 409, 429)


@dataclass(frozen=True, slots=True)
class Remote:
    """A batch as the provider reports it."""

    batch_id: str
    ending: Ending
    """``in_progress`` until it ends (OpenAI: validating/in_progress/finalizing/cancelling;
    Anthropic: in_progress/canceling)."""
    detail: str = ""
    raw: Any = None
    """The provider's batch object (where the result files are named)."""


@dataclass(frozen=True, slots=True)
class ItemResult:
    """One request's outcome in an ended batch: the reply body, or an error."""

    custom_id: str
    body: dict[str, Any] | None
    error: ErrorKind | None = None
    message: str = ""
    final: bool = False
    """True: the error is the request's answer (a 400); False: submit it again."""


class BatchApi(Protocol):
    """One provider's batch endpoints, bound to a connection's API root and headers."""

    @property
    def max_requests(self) -> int:
        """Most requests one batch may hold."""

    @property
    def max_bytes(self) -> int:
        """Most bytes one batch's input may have."""

    def line(self, custom_id: str, request: httpx.Request) -> bytes:
        """The batch entry for one online request (no trailing newline)."""

    async def create(self, send: Send, lines: list[bytes], intent_id: str) -> str:
        """Create a batch of ``lines``; its provider id.  Raises BatchApiError."""

    async def find(self, send: Send, intent: Submission, known: set[str]) -> str | None:
        """The provider's batch created for ``intent``, if the provider has one."""

    async def retrieve(self, send: Send, batch_id: str) -> Remote:
        """The batch's state.  Raises BatchApiError."""

    async def results(self, send: Send, remote: Remote) -> list[ItemResult]:
        """Every result of an ended batch.  Raises BatchApiError."""


async def checked(send: Send, request: httpx.Request, what: str) -> httpx.Response:
    """``send`` the request; BatchApiError for a non-2xx answer or no answer at all."""
    try:
        response = await send(request)
    except (httpx.HTTPError, OSError) as exc:
        raise BatchApiError(f"{what}: {type(exc).__name__} ({exc})") from None
    if not 200 <= response.status_code < 300:
        raise BatchApiError(
            f"{what}: HTTP {response.status_code} ({response.text[:200]})",
            status=response.status_code,
        )
    return response


def json_of(response: httpx.Response, what: str) -> dict[str, Any]:
    """The JSON object of a response; BatchApiError when it is none."""
    try:
        data = json.loads(response.content)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise BatchApiError(f"{what}: the reply is not a JSON object")
    return data


def jsonl(text: str) -> list[dict[str, Any]]:
    """The objects of a JSONL body (blank and unreadable lines skipped)."""
    out: list[dict[str, Any]] = []
    for line in text.splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict):
            out.append(item)
    return out


def status_error(status: int) -> tuple[ErrorKind, bool]:
    """A failed request's ``J_error`` kind and whether it is final (not worth resubmitting)."""
    if status in (401, 403):
        return "auth", True
    if status == 429:
        return "rate_limit", False
    if status >= 500 or status == 0:
        return "server_error", False
    return "bad_request", True
