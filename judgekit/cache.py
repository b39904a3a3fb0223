"""The answer cache: every paid-for reply, committed to SQLite the moment it arrives.

Keyed by a hash of what changes the answer (method, URL, body: the body holds
the model and the prompt).  Headers, API keys, concurrency, retries and
timeouts never enter the key or the store.  WAL mode with one commit per answer
survives ``kill -9``; ``busy_timeout`` lets concurrent runs share one file.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from judgekit.errors import UsageError
from judgekit.records import Reply, Usage

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    model TEXT NOT NULL,
    response_id TEXT,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cached_input_tokens INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    reasoning_tokens INTEGER NOT NULL,
    cost_usd REAL NOT NULL,
    latency_ms REAL NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS quirks (
    endpoint TEXT PRIMARY KEY,
    settings TEXT NOT NULL
)
"""


UNKNOWN = -1
"""Stored in the token and cost columns of a reply that reported no usage (the columns
are NOT NULL in caches written by earlier versions)."""
_UNKNOWN_USAGE = Usage(UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN)


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    """A stored reply with what it cost and how long it took when it was paid for."""

    reply: Reply
    cost_usd: float | None
    """None when the reply reported no usage (or its price was unknown)."""
    latency_ms: float


def request_key(request: httpx.Request, endpoint: str | None = None) -> str:
    """Cache key of a request: sha256 of method, URL and body (never headers).

    ``endpoint`` (a connection's ``cache_endpoint``) stands for the URL's scheme, host
    and port: answers of a server whose address changes (a random port) stay cached."""
    digest = hashlib.sha256()
    digest.update(request.method.encode())
    digest.update(b"\n")
    url = str(request.url) if endpoint is None else f"{endpoint} {request.url.raw_path.decode()}"
    digest.update(url.encode())
    digest.update(b"\n")
    digest.update(request.content)
    return digest.hexdigest()


def default_cache_path() -> Path:
    """``$JUDGEKIT_CACHE``, else ``$XDG_CACHE_HOME/judgekit/cache.sqlite3`` (~/.cache)."""
    explicit = os.environ.get("JUDGEKIT_CACHE")
    if explicit:
        return Path(explicit)
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "judgekit" / "cache.sqlite3"


class AnswerCache:
    """SQLite store of answers; ``get``/``put`` are called from the event loop thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=30.0, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL: a commit survives a killed process (not a power cut), at a
            # fraction of FULL's cost per answer.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:  # OSError: mkdir under a file, no permission
            raise UsageError(
                f"{path}: cannot open the cache ({exc}); use --cache PATH or --no-cache"
            ) from None

    def get(self, key: str) -> CachedAnswer | None:
        """The stored answer for ``key``, if any."""
        row = self._db.execute(
            "SELECT text, model, response_id, input_tokens, output_tokens, cached_input_tokens,"
            " cache_write_tokens, reasoning_tokens, cost_usd, latency_ms"
            " FROM answers WHERE key = ?",
            (key,),
        ).fetchone()
        if row is None:
            return None
        usage = None
        if row[3] != UNKNOWN:
            usage = Usage(
                input_tokens=row[3],
                output_tokens=row[4],
                cached_input_tokens=row[5],
                cache_write_tokens=row[6],
                reasoning_tokens=row[7],
            )
        reply = Reply(text=row[0], usage=usage, model=row[1], response_id=row[2])
        cost = None if row[8] == UNKNOWN else row[8]
        return CachedAnswer(reply=reply, cost_usd=cost, latency_ms=row[9])

    def contains(self, key: str) -> bool:
        """Whether ``key`` is answered (for ``--dry-run``)."""
        return (
            self._db.execute("SELECT 1 FROM answers WHERE key = ?", (key,)).fetchone() is not None
        )

    def put(self, key: str, answer: CachedAnswer) -> None:
        """Store and commit one answer (autocommit: one transaction per answer)."""
        reply, usage = answer.reply, answer.reply.usage or _UNKNOWN_USAGE
        self._db.execute(
            "INSERT OR REPLACE INTO answers VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                key,
                reply.text,
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
            ),
        )

    def get_quirks(self, endpoint: str) -> str | None:
        """What a server was found to reject in earlier runs (JSON), if anything."""
        row = self._db.execute(
            "SELECT settings FROM quirks WHERE endpoint = ?", (endpoint,)
        ).fetchone()
        return None if row is None else str(row[0])

    def put_quirks(self, endpoint: str, settings: str) -> None:
        """Remember what a server rejects, so a rerun does not probe it again."""
        self._db.execute("INSERT OR REPLACE INTO quirks VALUES (?, ?)", (endpoint, settings))

    def close(self) -> None:
        """Close the database."""
        self._db.close()


class NoCache:
    """``--no-cache``: remembers nothing, stores nothing."""

    path = None

    def get(self, key: str) -> CachedAnswer | None:
        """Always a miss."""
        return None

    def contains(self, key: str) -> bool:
        """Never answered."""
        return False

    def put(self, key: str, answer: CachedAnswer) -> None:
        """Discard."""

    def get_quirks(self, endpoint: str) -> str | None:
        """Nothing known."""
        return None

    def put_quirks(self, endpoint: str, settings: str) -> None:
        """Discard."""

    def close(self) -> None:
        """Nothing to close."""
