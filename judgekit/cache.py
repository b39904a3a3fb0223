"""The answer cache: every paid-for reply, durable from the turn of the event loop
after it arrives, in SQLite.

Keyed by a hash of what changes the answer (method, URL, body: the body holds
the model and the prompt).  Headers, API keys, concurrency, retries and
timeouts never enter the key or the store.  WAL mode; concurrent runs share one file.

During a run, the answers that arrive in one turn of the event loop are made durable
together at the start of its next turn (``commit_in_groups``), before the loop waits for
the network again, so they survive ``kill -9``: with a journal (``journal=True``, a
local run: ``cache_journal.py``) they are appended to it and committed to SQLite every
``FLUSH_ANSWERS`` answers or ``FLUSH_S`` seconds; without one, each turn's answers are
committed in one transaction.  Outside a run (``put`` from a batch collection, a library
caller) each answer is committed at once.  Opening the cache stores what killed runs
left in their journals.  Where the file lives and how it is opened (created, upgraded,
set aside): ``cache_file.py``; its rows: ``cache_rows.py``; the views that store nothing
(``--dry-run``, ``--no-cache``): ``cache_views.py``; lookups made ahead of the calls:
``get_many``, ``held``, ``stores`` (``engine.lookahead``).

Once a run has started, a cache failure never stops it and never loses an
answer from the output:

- another process holds the write lock: answers wait in memory (at most
  ``WAITING_MAX``) and are stored in one transaction when it frees
  (``store_waiting``: the engine retries while the run goes, and waits for it at
  the end up to ``$JUDGEKIT_CACHE_WAIT_S``, then gives up);
- the file turns out damaged, the disk fills up, or any other write fails:
  storing stops and one notice says so at once; answers go to the output, and to the
  journal while it can be written, which is then kept for the next opening;
- a lookup that fails is a miss.

``problem()`` is then the one line the run ends with (exit 1).
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from pathlib import Path

import httpx

from judgekit.cache_file import (
    CacheLocation,
    cache_location,
    default_cache_path,
    lock_wait_s,
    open_cache_file,
)
from judgekit.cache_journal import available as journal_available
from judgekit.cache_journal import replay_orphans
from judgekit.cache_rows import (
    SELECT_ANSWER,
    CachedAnswer,
    answer_of,
    select_answers,
)
from judgekit.cache_store import WAITING_MAX, AnswerStore
from judgekit.cache_views import CountingCache, NoCache

__all__ = [
    "WAITING_MAX",
    "AnswerCache",
    "CacheLocation",
    "CachedAnswer",
    "CountingCache",
    "NoCache",
    "cache_location",
    "default_cache_path",
    "request_key",
]

_KEYS_PER_LOOKUP = 250
"""Keys per ``get_many`` statement (SQLite allows 32,766 parameters; plans stay small)."""


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


class AnswerCache(AnswerStore):
    """SQLite store of answers; every method is called from the event loop thread and
    none raises once the file is open (see the module docstring).  Lookups are here;
    storing is ``AnswerStore``'s (``cache_store.py``)."""

    def __init__(
        self,
        path: Path | CacheLocation,
        notice: Callable[[str], None] = _ignore,
        *,
        journal: bool = False,
    ) -> None:
        """Open (create, upgrade, set aside) the file, and store what killed runs left in
        their journals; raises CacheError (exit 2).  ``journal``: during a run
        (``commit_in_groups``), answers go to a journal first (``cache_journal``)."""
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
        super().__init__(want_journal=journal and journal_available())
        # Journals are named after the file itself: a cache given through a symlink and
        # through its target share them.
        self._journal_base = _resolved(self.path)
        replayed, unreplayed = replay_orphans(self._journal_base, self._store_rows)
        if replayed:
            notice(
                f"cache {self.path}: stored {replayed} "
                f"{'answer' if replayed == 1 else 'answers'} a stopped run had kept in its journal"
            )
        self._orphaned = {str(row[0]): answer_of(row[1:11]) for row in unreplayed}
        """Answers of killed runs' journals that could not be stored now (a read-only
        directory, a lock held): answered from memory, and left for a later opening."""

    def held(self, key: str) -> CachedAnswer | None:
        """The answer for ``key`` among those this process holds in memory until they
        reach SQLite (this turn's, journaled, waiting for the lock) or sent there in the
        last commit, if any."""
        return (
            self._pending.get(key)
            or self._journaled.get(key)
            or self._waiting.get(key)
            or self._last_stored.get(key)
            or (self._orphaned.get(key) if self._orphaned else None)
        )

    def get_many(self, keys: list[str]) -> dict[str, CachedAnswer]:
        """The answers SQLite holds for ``keys``, looked up together (``engine.lookahead``);
        a failed lookup is a miss (as in ``get``)."""
        found: dict[str, CachedAnswer] = {}
        for start in range(0, len(keys), _KEYS_PER_LOOKUP):
            chunk = keys[start : start + _KEYS_PER_LOOKUP]
            try:
                rows = self._db.execute(select_answers(len(chunk)), chunk).fetchall()
            except sqlite3.Error:
                # A damaged page fails the whole statement: one key at a time, only the
                # answers on it are lost.
                for key in chunk:
                    answer = self.get(key)
                    if answer is not None:
                        found[key] = answer
                continue
            for row in rows:
                found[row[0]] = answer_of(row[1:])
        return found

    def get(self, key: str) -> CachedAnswer | None:
        """The stored (or waiting) answer for ``key``, if any; a failed lookup is a miss."""
        held = self.held(key)
        if held is not None:
            return held
        try:
            row = self._cursor.execute(SELECT_ANSWER, (key,)).fetchone()
        except sqlite3.Error as exc:
            self._failed(exc)
            return None
        return None if row is None else answer_of(row)

    def contains(self, key: str) -> bool:
        """Whether ``key`` is answered."""
        return self.get(key) is not None

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
        """Close the database (answers still waiting are counted as not stored) and
        delete the journal."""
        self.commit_pending()
        self._flush_journaled()
        self._lose(len(self._waiting))
        self._waiting.clear()
        self._close_journal()
        self._db.close()


def _resolved(path: Path) -> Path:
    """``path`` with its symlinks resolved, or as given when that fails."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path
