"""The answer cache's write path (``AnswerCache`` in ``cache.py`` is one): answers made
durable each turn of the event loop (journaled, or committed), flushed into SQLite, held
while another process has the write lock, and what a failure means for them.

Once a run has started, a cache failure never stops it and never loses an answer from
the output: another process's lock holds answers in memory (at most ``WAITING_MAX``)
until it frees (``store_waiting``), and the end of a run waits for it up to
``$JUDGEKIT_CACHE_WAIT_S``; a damaged file, a full disk or any other failed write stops
storing, with one notice at once; answers then go to the output, and to the journal while
it can be written, which is then kept for the next opening.  ``problem()`` is the one
line the run ends with (exit 1).
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from judgekit.cache_file import MOVE_IT, WAIT_ENV
from judgekit.cache_journal import FLUSH_ANSWERS, FLUSH_S, AnswerJournal, Row
from judgekit.cache_rows import (
    INSERT_ANSWER,
    CachedAnswer,
    Stopped,
    answer_row,
    error_code,
    is_busy,
    stopped_by,
)

WAITING_MAX = 10_000
"""Answers held in memory while another process holds the write lock (a few KB each);
beyond that, answers go to the output only (and to the journal, with one)."""


class AnswerStore:
    """Storing answers in an open cache file (the module docstring).  The subclass opens
    the file and sets the attributes below (``_journal_base`` before the first
    ``commit_in_groups``); ``__init__`` sets what storing keeps."""

    path: Path
    _db: sqlite3.Connection
    _cursor: sqlite3.Cursor
    _notice: Callable[[str], None]
    _journal_base: Path
    """The cache file with symlinks resolved: journals are named after it."""

    def __init__(self, *, want_journal: bool) -> None:
        """No answer held yet; ``want_journal``: journal during a run (``cache_journal``)."""
        self._want_journal = want_journal
        self._journal: AnswerJournal | None = None
        self._journaled: dict[str, CachedAnswer] = {}
        self._journaled_rows: list[Row] = []
        """Their rows as the journal took them: the flush commits the same rows (built
        once per answer, stamped when it was journaled)."""
        """Answers in the journal, not yet in SQLite (in arrival order)."""
        self._journaled_at = 0.0
        """``time.monotonic()`` when the oldest of them was journaled."""
        self._waiting: dict[str, CachedAnswer] = {}
        self._pending: dict[str, CachedAnswer] = {}
        """Answers of this turn of the event loop, committed at the start of the next one."""
        self._schedule: Callable[[Callable[[], None]], Any] | None = None
        self._unstored = 0
        self._kept = 0
        self._kept_in = ""
        """Answers not in SQLite but in this run's journal, which is then kept for the
        next opening to store (storing stopped, or the lock stayed held)."""
        self._stopped: Stopped | None = None
        self._told_locked = False
        self._told_full = False
        self.stores = 0
        """Commits to SQLite so far: a lookup made before the last but one may be out of
        date (``engine.lookahead``)."""
        self._last_stored: dict[str, CachedAnswer] = {}
        """The answers of the last commit (``held`` finds them: a lookup made before that
        commit alone stays true)."""

    def commit_in_groups(self, schedule: Callable[[Callable[[], None]], Any] | None) -> None:
        """From now on, commit the answers put in one turn of the event loop together, at
        the start of its next turn: ``schedule`` is the running loop's ``call_soon`` (with
        a journal: journaled then, committed in larger groups).  None commits what is
        pending and goes back to one commit per ``put``."""
        self.commit_pending()
        if schedule is None:
            self._flush_journaled()
            self._close_journal()
        elif self._want_journal and self._journal is None and self._stopped is None:
            with contextlib.suppress(OSError):  # no journal: each turn is committed instead
                self._journal = AnswerJournal(self._journal_base)
        self._schedule = schedule

    def put(self, key: str, answer: CachedAnswer) -> None:
        """Store and commit one answer (at once, or with the others of this turn of the
        event loop: ``commit_in_groups``), or hold it while another process has the write
        lock."""
        if self._stopped is not None and self._journal is None:
            self._unstored += 1
            return
        if self._waiting and self._journal is None:  # keep arrival order for store_waiting
            self._hold(key, answer)
            return
        first = not self._pending
        self._pending[key] = answer
        if self._schedule is None:
            self.commit_pending()
        elif first:
            self._schedule(self.commit_pending)

    def commit_pending(self) -> None:
        """Make the answers put since the last call durable: appended to the journal (and
        flushed into SQLite once ``FLUSH_ANSWERS`` or ``FLUSH_S`` is reached), or without
        one committed in one transaction.  On another process's lock they wait in memory
        (``store_waiting``), on any other failure storing stops (module docstring)."""
        if self._pending:
            pending, self._pending = self._pending, {}
            if self._stopped is not None:
                if self._journal is None or not self._journal.append(_rows(pending)):
                    self._unstored += len(pending)
                else:
                    self._kept += len(pending)
            elif not self._journal_append(pending):
                self._commit(pending)
        if self._journaled and (
            len(self._journaled) >= FLUSH_ANSWERS
            or time.monotonic() - self._journaled_at >= FLUSH_S
        ):
            self._flush_journaled()

    def _journal_append(self, pending: dict[str, CachedAnswer]) -> bool:
        """Journal ``pending``; False when there is no journal to take them."""
        journal = self._journal
        if journal is None:
            return False
        rows = _rows(pending)
        if not journal.append(rows):
            # A full disk, most likely: the journal's space goes to SQLite, which gets
            # what the journal held at once (and a write cut short would end what a
            # replay reads): no more journal.
            journal.close()
            self._journal = None
            batch, self._journaled, self._journaled_rows = self._journaled, {}, []
            self._commit(batch | pending)
            return True
        if not self._journaled:
            self._journaled_at = time.monotonic()
        self._journaled.update(pending)
        self._journaled_rows += rows
        return True

    def _flush_journaled(self) -> None:
        """Commit the journaled answers in one transaction; the journal is emptied once
        nothing in it waits any more."""
        if not self._journaled:
            return
        batch, rows = self._journaled, self._journaled_rows
        self._journaled, self._journaled_rows = {}, []
        self._commit(batch, rows)
        if self._stopped is None and not self._waiting and self._journal is not None:
            self._journal.clear()

    def _close_journal(self) -> None:
        """Delete the journal once what it held is stored; keep it (for the next opening
        to store) when some of it is not."""
        if self._journal is None or self._journaled or self._waiting:
            return
        if self._kept:
            self._kept_in = self._journal.path.name
            self._journal.release()
        else:
            self._journal.close()
        self._journal = None

    def _lose(self, answers: int) -> None:
        """``answers`` did not reach SQLite: with a journal they are in it (every answer
        of a run that has one is journaled first) and kept, without one they are lost."""
        if self._journal is not None:
            self._kept += answers
        else:
            self._unstored += answers

    def _store_rows(self, rows: list[Row]) -> bool:
        """Store rows of a killed run's journal in one transaction; False if not now."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(INSERT_ANSWER, rows)
            self._db.execute("COMMIT")
        except sqlite3.Error:
            self._roll_back()
            return False
        return True

    def _commit(self, pending: dict[str, CachedAnswer], rows: list[Row] | None = None) -> None:
        """Commit ``pending`` in one transaction (see ``commit_pending``); ``rows``: their
        rows when already built (the journal's)."""
        if self._stopped is not None:
            self._lose(len(pending))
            return
        self.stores += 1
        self._last_stored = pending
        try:
            if rows is None:
                rows = _rows(pending)
            if len(rows) == 1:  # autocommit: one statement, its own transaction
                self._cursor.execute(INSERT_ANSWER, rows[0])
            else:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany(INSERT_ANSWER, rows)
                self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._roll_back()
            if is_busy(exc):
                for key, answer in pending.items():
                    self._hold(key, answer)
                return
            if error_code(exc) == sqlite3.SQLITE_FULL and len(pending) > 1:
                refused = self._store_what_fits(pending)
                if refused is not None:
                    self._failed(refused)
                return
            self._lose(len(pending))
            self._failed(exc)

    def _store_what_fits(self, pending: dict[str, CachedAnswer]) -> sqlite3.Error | None:
        """A full disk refused a group: store its answers one at a time while they fit
        (a group's transaction needs room for all of them at once)."""
        for done, (key, answer) in enumerate(pending.items()):
            try:
                self._cursor.execute(INSERT_ANSWER, answer_row(key, answer))
            except sqlite3.Error as exc:
                self._roll_back()
                self._lose(len(pending) - done)
                return exc
        return None

    def waiting(self) -> int:
        """How many answers wait in memory for the write lock (a flush of the journal
        that is due happens first)."""
        self.commit_pending()
        return len(self._waiting)

    def store_waiting(self) -> bool:
        """Try once, without waiting, to store the journaled and held answers; True when
        none wait any more (stored, or dropped because storing stopped)."""
        self.commit_pending()
        self._flush_journaled()
        if not self._waiting:
            return True
        if self._stopped is None:
            self.stores += 1
            self._last_stored = dict(self._waiting)
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany(INSERT_ANSWER, _rows(self._waiting))
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._roll_back()
                if is_busy(exc):
                    return False
                self._failed(exc)
            else:
                self._notice(
                    f"cache {self.path}: the lock is free again; "
                    f"{_answers(len(self._waiting))} stored"
                )
                self._waiting.clear()
                if self._journal is not None and not self._journaled:
                    self._journal.clear()
                return True
        self._lose(len(self._waiting))
        self._waiting.clear()
        return True

    def give_up_waiting(self, waited_s: float) -> None:
        """The lock stayed held: the waiting answers will not be stored."""
        if not self._waiting:
            return
        self._lose(len(self._waiting))
        self._waiting.clear()
        self._stopped = Stopped(
            f"another process held its write lock for more than {waited_s:g} s",
            f"rerun when that process is done, or set {WAIT_ENV} higher, or {MOVE_IT}",
        )

    def problem(self, *, output_written: bool) -> str | None:
        """The one line a run ends with when answers could not be stored, else None."""
        self.commit_pending()
        if self._stopped is None and self._unstored == 0 and self._kept == 0:
            return None
        stopped = self._stopped or Stopped(
            f"more than {WAITING_MAX} answers waited for another process's write lock",
            f"rerun when that process is done, or {MOVE_IT}",
        )
        where = "they are in the output; " if output_written else ""
        lost = (
            f"; {_answers(self._unstored)} not stored ({where}a rerun pays for them again)"
            if self._unstored
            else ""
        )
        if self._kept:
            kept = "1 answer waits" if self._kept == 1 else f"{self._kept} answers wait"
            lost += f"; {kept} in {self._journal_name()}, which the next run stores"
        return f"cache {self.path}: {stopped.cause}{lost}; {stopped.fix}"

    def _journal_name(self) -> str:
        """The journal's file name as the user sees it beside the cache."""
        name = self._journal.path.name if self._journal is not None else self._kept_in
        return str(self.path.with_name(name))

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
        self._lose(1)
        if not self._told_full:
            self._told_full = True
            self._notice(
                f"cache {self.path}: {WAITING_MAX} answers wait for the lock; "
                "further answers go to the output only"
            )

    def _failed(self, exc: sqlite3.Error) -> None:
        """A lookup or a write failed: busy is passing; anything else stops storing."""
        if is_busy(exc) or self._stopped is not None:
            return
        self._stopped = stopped_by(exc)
        self._lose(len(self._journaled))
        self._journaled.clear()
        self._journaled_rows.clear()
        goes = (
            f"the output and {self._journal_name()}, which the next run stores"
            if self._journal is not None
            else "the output only"
        )
        self._notice(
            f"cache {self.path}: {self._stopped.cause}; answers from now on go to {goes}; "
            f"{self._stopped.fix}"
        )

    def _roll_back(self) -> None:
        # SQLite may have rolled back already (a full disk does): nothing left to undo.
        with contextlib.suppress(sqlite3.Error):
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")


def _rows(answers: dict[str, CachedAnswer]) -> list[Row]:
    return [answer_row(key, answer) for key, answer in answers.items()]


def _answers(n: int) -> str:
    return "1 answer was" if n == 1 else f"{n} answers were"
