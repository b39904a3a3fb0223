"""The answer cache's rows: an answer as the ``answers`` table stores it and back, and
what a failed write means for storing (``cache.py`` uses both)."""

from __future__ import annotations

import functools
import sqlite3
import time
from dataclasses import dataclass

from judgekit.cache_file import MOVE_IT
from judgekit.records import Reply, Usage
from judgekit.unicode_text import utf8_text

UNKNOWN = -1
"""Stored in the token and cost columns of a reply that reported no usage (the columns
are NOT NULL in caches written by earlier versions)."""
_UNKNOWN_USAGE = Usage(UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN)

SELECT_ANSWER = (
    "SELECT text, model, response_id, input_tokens, output_tokens, cached_input_tokens,"
    " cache_write_tokens, reasoning_tokens, cost_usd, latency_ms FROM answers WHERE key = ?"
)
_COLUMNS = (
    "text, model, response_id, input_tokens, output_tokens, cached_input_tokens,"
    " cache_write_tokens, reasoning_tokens, cost_usd, latency_ms"
)


@functools.lru_cache(maxsize=8)
def select_answers(keys: int) -> str:
    """The statement that finds the answers of ``keys`` keys at once: rows of the key
    followed by ``SELECT_ANSWER``'s columns."""
    return f"SELECT key, {_COLUMNS} FROM answers WHERE key IN ({','.join('?' * keys)})"


INSERT_ANSWER = (
    "INSERT OR REPLACE INTO answers (key, text, model, response_id, input_tokens,"
    " output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, cost_usd,"
    " latency_ms, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
)


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    """A stored reply with what it cost and how long it took when it was paid for."""

    reply: Reply
    cost_usd: float | None
    """None when the reply reported no usage (or its price was unknown)."""
    latency_ms: float


@dataclass(frozen=True, slots=True)
class Stopped:
    """Why answers are no longer stored, and what the user can do about it."""

    cause: str
    fix: str


def answer_of(row: tuple[object, ...]) -> CachedAnswer:
    """The answer in a row of ``SELECT_ANSWER``."""
    usage = None
    if row[3] != UNKNOWN:
        usage = Usage(*row[3:8])  # type: ignore[arg-type]
    reply = Reply(text=row[0], usage=usage, model=row[1], response_id=row[2])  # type: ignore[arg-type]
    cost = None if row[8] == UNKNOWN else row[8]
    return CachedAnswer(reply=reply, cost_usd=cost, latency_ms=row[9])  # type: ignore[arg-type]


def answer_row(key: str, answer: CachedAnswer) -> tuple[object, ...]:
    """The ``answers`` row of ``answer`` (``INSERT_ANSWER``'s parameters), stamped now."""
    reply, usage = answer.reply, answer.reply.usage or _UNKNOWN_USAGE
    return (
        key,
        utf8_text(reply.text),
        reply.model,
        reply.response_id,
        usage.input_tokens,
        usage.output_tokens,
        usage.cached_input_tokens,
        usage.cache_write_tokens,
        usage.reasoning_tokens,
        UNKNOWN if answer.cost_usd is None else answer.cost_usd,
        answer.latency_ms,
        time.time(),
    )


def error_code(exc: sqlite3.Error) -> int:
    """SQLite's primary result code (0 for errors raised by Python's module itself)."""
    return int(getattr(exc, "sqlite_errorcode", 0)) & 0xFF


def is_busy(exc: sqlite3.Error) -> bool:
    return error_code(exc) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def stopped_by(exc: sqlite3.Error) -> Stopped:
    code = error_code(exc)
    if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return Stopped(f"the file is damaged ({exc})", f"delete it, or {MOVE_IT}")
    if code == sqlite3.SQLITE_FULL:
        return Stopped(f"the disk is full ({exc})", f"free some space, or {MOVE_IT}")
    return Stopped(f"cannot write to it ({exc})", f"check the file and its disk, or {MOVE_IT}")
