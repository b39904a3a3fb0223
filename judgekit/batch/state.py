"""Batch mode's memory, kept in the answer cache's SQLite file (tables ``batches`` and
``batch_requests``, created by ``cache_file``).

A submission goes through these statuses, each committed before the next step::

    intent ──(provider created it, id recorded)──▶ submitted ──(results stored)──▶ collected
       └──(the provider never saw it)──▶ abandoned

``intent`` is written, with one ``pending`` row per request key, *before* the batch is
created: a crash between "created" and "recorded" leaves an intent that the next run
matches to the provider's batch (``find``) instead of submitting again.  A request row
ends ``answered`` (its answer is in ``answers``), ``retry`` (expired, cancelled, a
transient failure: the next pass submits it again) or ``failed`` (a final error).
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from judgekit.cache_file import BATCH_TABLES, MOVE_IT
from judgekit.errors import CacheError, ErrorKind

MAX_TRIES = 4
"""Submissions of one request key (expiries included) before its last error is final."""

OPEN = ("intent", "submitted")
"""Statuses of a submission whose requests are pending."""


@dataclass(frozen=True, slots=True)
class Submission:
    """One provider batch as recorded (``batch_id`` None while only the intent exists)."""

    intent_id: str
    connection: str
    api_root: str
    protocol: str
    batch_id: str | None
    status: str
    requests: int
    created_at: float
    """Unix time, seconds, when the intent was recorded."""


@dataclass(frozen=True, slots=True)
class RequestState:
    """Where one request key stands: pending in a batch, failed for good, or free."""

    pending: bool
    worst_case_usd: float = 0.0
    error: ErrorKind | None = None
    message: str = ""
    billed: Billed | None = None
    """What a failed request's unusable reply was billed (a refusal, a cut-off reply)."""


@dataclass(frozen=True, slots=True)
class Billed:
    """The tokens and cost of a billed but unusable batch reply (None: not reported), and
    why it was unusable (``MalformedReply.problem``: refused, cut_off, empty)."""

    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None
    problem: str


FREE = RequestState(pending=False)


@dataclass(frozen=True, slots=True)
class Queued:
    """A request this pass found neither cached nor pending: to be submitted."""

    key: str
    model: str
    worst_case_usd: float
    line: bytes
    """The provider's batch line for it (JSONL for OpenAI, one JSON object for Anthropic)."""


class BatchState:
    """The batch tables of one cache file; every write is its own transaction."""

    def __init__(self, path: Path) -> None:
        """Open the cache file (already created and upgraded by ``AnswerCache``) and add
        the batch tables if it has none yet.  Raises CacheError (exit 2, nothing called)."""
        try:
            self._db = sqlite3.connect(path, timeout=30.0, isolation_level=None)
            for table in BATCH_TABLES:
                self._db.execute(table)
        except sqlite3.Error as exc:
            raise CacheError(
                f"{path}: cannot keep batch state in the cache ({exc}); {MOVE_IT}"
            ) from None

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def record_intent(
        self, connection: str, api_root: str, protocol: str, queued: Sequence[Queued]
    ) -> str:
        """Write a submission in status ``intent`` and its requests as ``pending``, in one
        transaction, before anything is sent; return its intent id (also sent to the
        provider as metadata where the API takes it)."""
        intent_id = "jk-" + uuid.uuid4().hex[:20]
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(
                "INSERT INTO batches VALUES (?,?,?,?,NULL,'intent',?,?)",
                (intent_id, connection, api_root, protocol, len(queued), time.time()),
            )
            db.executemany(
                "INSERT INTO batch_requests (key, intent_id, model, worst_case_usd, state)"
                " VALUES (?,?,?,?,'pending')",
                [(q.key, intent_id, q.model, q.worst_case_usd) for q in queued],
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return intent_id

    def record_created(self, intent_id: str, batch_id: str) -> None:
        """The provider created the batch: remember its id (status ``submitted``)."""
        self._db.execute(
            "UPDATE batches SET batch_id = ?, status = 'submitted' WHERE intent_id = ?",
            (batch_id, intent_id),
        )

    def abandon(self, intent_id: str) -> None:
        """The provider never created this batch: its requests are free to submit again."""
        self._db.execute("BEGIN IMMEDIATE")
        self._db.execute(
            "UPDATE batches SET status = 'abandoned' WHERE intent_id = ?", (intent_id,)
        )
        self._db.execute(
            "UPDATE batch_requests SET state = 'retry', message = 'never submitted' "
            "WHERE intent_id = ? AND state = 'pending'",
            (intent_id,),
        )
        self._db.execute("COMMIT")

    def open_submissions(self, connections: Iterable[tuple[str, str]]) -> list[Submission]:
        """Submissions still pending for these (connection name, API root) pairs, oldest first."""
        wanted = set(connections)
        rows = self._db.execute(
            "SELECT intent_id, connection, api_root, protocol, batch_id, status, requests, "
            "created_at FROM batches WHERE status IN ('intent', 'submitted') ORDER BY created_at"
        ).fetchall()
        found = [Submission(*row) for row in rows]
        return [s for s in found if (s.connection, s.api_root) in wanted]

    def known_batch_ids(self) -> set[str]:
        """Every provider batch id recorded in this file."""
        rows = self._db.execute("SELECT batch_id FROM batches WHERE batch_id IS NOT NULL")
        return {str(row[0]) for row in rows}

    def requests_of(self, intent_id: str) -> dict[str, str]:
        """Request key -> model of a submission's still pending requests."""
        rows = self._db.execute(
            "SELECT key, model FROM batch_requests WHERE intent_id = ? AND state = 'pending'",
            (intent_id,),
        )
        return {str(key): str(model) for key, model in rows}

    def settle_request(
        self,
        intent_id: str,
        key: str,
        state: str,
        error: str | None = None,
        message: str = "",
        billed: Billed | None = None,
    ) -> None:
        """One request's end in this batch: ``answered``, ``retry`` or ``failed``; ``billed``
        keeps what an unusable reply cost, so that it lands on its row."""
        bill: tuple[int | None, int | None, float | None, str | None] = (None, None, None, None)
        if billed is not None:
            bill = (billed.input_tokens, billed.output_tokens, billed.cost_usd, billed.problem)
        self._db.execute(
            "UPDATE batch_requests SET state = ?, error = ?, message = ?, billed_input_tokens = ?,"
            " billed_output_tokens = ?, billed_cost_usd = ?, problem = ? "
            "WHERE intent_id = ? AND key = ?",
            (state, error, message, *bill, intent_id, key),
        )

    def finish(self, intent_id: str, message: str) -> None:
        """The batch is done with: requests it did not answer are submitted again."""
        self._db.execute("BEGIN IMMEDIATE")
        self._db.execute(
            "UPDATE batch_requests SET state = 'retry', error = 'server_error', message = ? "
            "WHERE intent_id = ? AND state = 'pending'",
            (message, intent_id),
        )
        self._db.execute(
            "UPDATE batches SET status = 'collected' WHERE intent_id = ?", (intent_id,)
        )
        self._db.execute("COMMIT")

    def request_state(self, key: str) -> RequestState:
        """Whether ``key`` is pending in an open batch, failed for good, or free to submit."""
        rows = self._db.execute(
            "SELECT r.state, r.error, r.message, r.worst_case_usd, b.status, "
            "r.billed_input_tokens, r.billed_output_tokens, r.billed_cost_usd, r.problem "
            "FROM batch_requests r JOIN batches b USING (intent_id) WHERE r.key = ? "
            "ORDER BY b.created_at",
            (key,),
        ).fetchall()
        if not rows:
            return FREE
        for state, _error, _message, worst, status, *_bill in rows:
            if state == "pending" and status in OPEN:
                return RequestState(pending=True, worst_case_usd=float(worst))
        state, error, message, _worst, _status, tokens_in, tokens_out, cost, problem = rows[-1]
        if state == "failed" or (state == "retry" and len(rows) >= MAX_TRIES):
            billed = None
            if problem is not None:
                billed = Billed(tokens_in, tokens_out, cost, str(problem))
            return RequestState(
                pending=False, error=error or "server_error", message=message, billed=billed
            )
        return FREE

    def pending_summary(self, keys: Iterable[str]) -> list[tuple[str, str, float, int]]:
        """(connection, batch id or intent id, created_at, pending requests) of the open
        batches holding any of ``keys``."""
        wanted = set(keys)
        counts: dict[tuple[str, str, float], int] = {}
        rows = self._db.execute(
            "SELECT r.key, b.connection, COALESCE(b.batch_id, b.intent_id), b.created_at "
            "FROM batch_requests r JOIN batches b USING (intent_id) "
            "WHERE r.state = 'pending' AND b.status IN ('intent', 'submitted')"
        )
        for key, connection, batch, created in rows:
            if key in wanted:
                slot = (str(connection), str(batch), float(created))
                counts[slot] = counts.get(slot, 0) + 1
        return [(c, b, t, n) for (c, b, t), n in sorted(counts.items(), key=lambda i: i[0][2])]
