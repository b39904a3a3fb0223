"""The answer cache: every paid-for reply, committed to SQLite the moment it arrives.

Keyed by a hash of what changes the answer (method, URL, body: the body holds
the model and the prompt).  Headers, API keys, concurrency, retries and
timeouts never enter the key or the store.  WAL mode, and every answer committed
before the event loop next waits for the network, survives ``kill -9``; concurrent runs
share one file.

During a run, the answers that arrive in one turn of the event loop are committed
together, at the start of its next turn (``commit_in_groups``): one transaction per
turn instead of one per answer writes each B-tree page once per group, so the WAL
grows (and is checkpointed and synced) several times less often.  An answer waits
for its commit only while the callbacks already ready run: no byte is sent or read
in between.  Outside a run (``put`` from a batch collection, a library caller) each
answer is committed at once.  Where the file lives and
how it is opened (created, upgraded, set aside): ``cache_file.py``.
The views that store nothing (``--dry-run``, ``--no-cache``): ``cache_views.py``.

Once a run has started, a cache failure never stops it and never loses an
answer from the output:

- another process holds the write lock: answers wait in memory (at most
  ``WAITING_MAX``) and are stored in one transaction when it frees
  (``store_waiting``: the engine retries while the run goes, and waits for it at
  the end up to ``$JUDGEKIT_CACHE_WAIT_S``, then gives up);
- the file turns out damaged, the disk fills up, or any other write fails:
  storing stops, answers go to the output only, and one notice says so at once;
- a lookup that fails is a miss.

``problem()`` is then the one line the run ends with (exit 1).
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from judgekit.cache_file import (
    MOVE_IT,
    WAIT_ENV,
    CacheLocation,
    cache_location,
    default_cache_path,
    lock_wait_s,
    open_cache_file,
)
from judgekit.cache_views import CountingCache, NoCache
from judgekit.records import Reply, Usage

__all__ = [
    "AnswerCache",
    "CacheLocation",
    "CachedAnswer",
    "CountingCache",
    "NoCache",
    "cache_location",
    "default_cache_path",
    "request_key",
]

UNKNOWN = -1
"""Stored in the token and cost columns of a reply that reported no usage (the columns
are NOT NULL in caches written by earlier versions)."""
_UNKNOWN_USAGE = Usage(UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN)

WAITING_MAX = 10_000
"""Answers held in memory while another process holds the write lock (a few KB each);
beyond that, answers go to the output only."""

_SELECT = (
    "SELECT text, model, response_id, input_tokens, output_tokens, cached_input_tokens,"
    " cache_write_tokens, reasoning_tokens, cost_usd, latency_ms FROM answers WHERE key = ?"
)
_INSERT = (
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
class _Stopped:
    """Why answers are no longer stored, and what the user can do about it."""

    cause: str
    fix: str


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


def _ignore(_message: str) -> None:
    """The default notice sink."""


class AnswerCache:
    """SQLite store of answers; every method is called from the event loop thread and
    none raises once the file is open (see the module docstring)."""

    def __init__(self, path: Path | CacheLocation, notice: Callable[[str], None] = _ignore) -> None:
        """Open (create, upgrade, set aside) the file; raises CacheError (exit 2)."""
        location = path if isinstance(path, CacheLocation) else CacheLocation(path)
        self.path = location.path
        self.wait_s = lock_wait_s()
        """How long the end of a run waits for another process's write lock, seconds."""
        self._notice = notice
        self._db = open_cache_file(location, self.wait_s, notice)
        # One cursor for the per-call lookups and single inserts: Connection.execute makes
        # and registers a new cursor each time.  A lookup by primary key runs to its end
        # in fetchone, so the cursor never holds a read transaction open.
        self._cursor = self._db.cursor()
        self._waiting: dict[str, CachedAnswer] = {}
        self._pending: dict[str, CachedAnswer] = {}
        """Answers of this turn of the event loop, committed at the start of the next one."""
        self._schedule: Callable[[Callable[[], None]], Any] | None = None
        self._unstored = 0
        self._stopped: _Stopped | None = None
        self._told_locked = False
        self._told_full = False

    def get(self, key: str) -> CachedAnswer | None:
        """The stored (or waiting) answer for ``key``, if any; a failed lookup is a miss."""
        held = self._pending.get(key) or self._waiting.get(key)
        if held is not None:
            return held
        try:
            row = self._cursor.execute(_SELECT, (key,)).fetchone()
        except sqlite3.Error as exc:
            self._failed(exc)
            return None
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
        """Whether ``key`` is answered."""
        return self.get(key) is not None

    def commit_in_groups(self, schedule: Callable[[Callable[[], None]], Any] | None) -> None:
        """From now on, commit the answers put in one turn of the event loop together, at
        the start of its next turn: ``schedule`` is the running loop's ``call_soon``.  None
        commits what is pending and goes back to one commit per ``put``."""
        self.commit_pending()
        self._schedule = schedule

    def put(self, key: str, answer: CachedAnswer) -> None:
        """Store and commit one answer (at once, or with the others of this turn of the
        event loop: ``commit_in_groups``), or hold it while another process has the write
        lock."""
        if self._stopped is not None:
            self._unstored += 1
            return
        if self._waiting:  # keep arrival order: store_waiting writes them all at once
            self._hold(key, answer)
            return
        first = not self._pending
        self._pending[key] = answer
        if self._schedule is None:
            self.commit_pending()
        elif first:
            self._schedule(self.commit_pending)

    def commit_pending(self) -> None:
        """Commit the answers put since the last commit, in one transaction; on another
        process's lock they wait in memory (``store_waiting``), on any other failure
        storing stops (module docstring)."""
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        if self._stopped is not None:
            self._unstored += len(pending)
            return
        try:
            if len(pending) == 1:  # autocommit: one statement, its own transaction
                ((key, answer),) = pending.items()
                self._cursor.execute(_INSERT, _row(key, answer))
            else:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany(_INSERT, [_row(k, a) for k, a in pending.items()])
                self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._roll_back()
            if _is_busy(exc):
                for key, answer in pending.items():
                    self._hold(key, answer)
            else:
                self._unstored += len(pending)
                self._failed(exc)

    def waiting(self) -> int:
        """How many answers wait in memory for the write lock."""
        self.commit_pending()
        return len(self._waiting)

    def store_waiting(self) -> bool:
        """Try once, without waiting, to store the held answers in one transaction;
        True when none wait any more (stored, or dropped because storing stopped)."""
        self.commit_pending()
        if not self._waiting:
            return True
        if self._stopped is None:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany(_INSERT, [_row(k, a) for k, a in self._waiting.items()])
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._roll_back()
                if _is_busy(exc):
                    return False
                self._failed(exc)
            else:
                self._notice(
                    f"cache {self.path}: the lock is free again; "
                    f"{_answers(len(self._waiting))} stored"
                )
                self._waiting.clear()
                return True
        self._unstored += len(self._waiting)
        self._waiting.clear()
        return True

    def give_up_waiting(self, waited_s: float) -> None:
        """The lock stayed held: the waiting answers will not be stored."""
        if not self._waiting:
            return
        self._unstored += len(self._waiting)
        self._waiting.clear()
        self._stopped = _Stopped(
            f"another process held its write lock for more than {waited_s:g} s",
            f"rerun when that process is done, or set {WAIT_ENV} higher, or {MOVE_IT}",
        )

    def problem(self, *, output_written: bool) -> str | None:
        """The one line a run ends with when answers could not be stored, else None."""
        self.commit_pending()
        if self._stopped is None and self._unstored == 0:
            return None
        stopped = self._stopped or _Stopped(
            f"more than {WAITING_MAX} answers waited for another process's write lock",
            f"rerun when that process is done, or {MOVE_IT}",
        )
        where = "they are in the output; " if output_written else ""
        lost = (
            f"; {_answers(self._unstored)} not stored ({where}a rerun pays for them again)"
            if self._unstored
            else ""
        )
        return f"cache {self.path}: {stopped.cause}{lost}; {stopped.fix}"

    def get_quirks(self, endpoint: str) -> str | None:
        """What a server was found to reject in earlier runs (JSON), if anything."""
        try:
            row = self._db.execute(
                "SELECT settings FROM quirks WHERE endpoint = ?", (endpoint,)
            ).fetchone()
        except sqlite3.Error as exc:
            self._failed(exc)
            return None
        return None if row is None else str(row[0])

    def put_quirks(self, endpoint: str, settings: str) -> None:
        """Remember what a server rejects, so a rerun does not probe it again (best effort:
        a run that cannot store it only probes again next time)."""
        if self._stopped is not None:
            return
        try:
            self._db.execute("INSERT OR REPLACE INTO quirks VALUES (?, ?)", (endpoint, settings))
        except sqlite3.Error as exc:
            self._failed(exc)

    def close(self) -> None:
        """Close the database (answers still waiting are counted as not stored)."""
        self.commit_pending()
        self._unstored += len(self._waiting)
        self._waiting.clear()
        self._db.close()

    def _hold(self, key: str, answer: CachedAnswer) -> None:
        if not self._told_locked:
            self._told_locked = True
            self._notice(
                f"cache {self.path} is locked by another process; answers wait in memory "
                "and are stored when it frees"
            )
        if len(self._waiting) < WAITING_MAX or key in self._waiting:
            self._waiting[key] = answer
            return
        self._unstored += 1
        if not self._told_full:
            self._told_full = True
            self._notice(
                f"cache {self.path}: {WAITING_MAX} answers wait for the lock; "
                "further answers go to the output only"
            )

    def _failed(self, exc: sqlite3.Error) -> None:
        """A lookup or a write failed: busy is passing; anything else stops storing."""
        if _is_busy(exc) or self._stopped is not None:
            return
        self._stopped = _stopped_by(exc)
        self._notice(
            f"cache {self.path}: {self._stopped.cause}; answers from now on go to the output "
            f"only; {self._stopped.fix}"
        )

    def _roll_back(self) -> None:
        # SQLite may have rolled back already (a full disk does): nothing left to undo.
        with contextlib.suppress(sqlite3.Error):
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")


def _row(key: str, answer: CachedAnswer) -> tuple[object, ...]:
    reply, usage = answer.reply, answer.reply.usage or _UNKNOWN_USAGE
    return (
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
    )


def _code(exc: sqlite3.Error) -> int:
    """SQLite's primary result code (0 for errors raised by Python's module itself)."""
    return int(getattr(exc, "sqlite_errorcode", 0)) & 0xFF


def _is_busy(exc: sqlite3.Error) -> bool:
    return _code(exc) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _stopped_by(exc: sqlite3.Error) -> _Stopped:
    code = _code(exc)
    if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return _Stopped(f"the file is damaged ({exc})", f"delete it, or {MOVE_IT}")
    if code == sqlite3.SQLITE_FULL:
        return _Stopped(f"the disk is full ({exc})", f"free some space, or {MOVE_IT}")
    return _Stopped(f"cannot write to it ({exc})", f"check the file and its disk, or {MOVE_IT}")


def _answers(n: int) -> str:
    return "1 answer was" if n == 1 else f"{n} answers were"
