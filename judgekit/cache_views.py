"""The cache views that store nothing: ``CountingCache`` (``--dry-run``: look up, never
write) and ``NoCache`` (``--no-cache``: remember nothing)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from judgekit.cache_file import open_for_counting
from judgekit.cache_journal import journal_keys

if TYPE_CHECKING:
    from judgekit.cache import CachedAnswer


class CountingCache:
    """``--dry-run``'s view of the cache: looks answers up in an existing file, and
    never creates nor changes one."""

    def __init__(self, path: Path) -> None:
        """Open ``path`` if it exists; raises CacheError when it is not a cache."""
        self.path = path
        self._db = open_for_counting(path)
        try:
            self._journaled = journal_keys(path.resolve())
        except (OSError, RuntimeError):
            self._journaled = journal_keys(path)
        """Answers a run keeps in its journal (``cache_journal``): paid for, so cached."""

    def contains(self, key: str) -> bool:
        """Whether ``key`` is answered (a failed lookup counts as not)."""
        if key in self._journaled:
            return True
        if self._db is None:
            return False
        try:
            found = self._db.execute("SELECT 1 FROM answers WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error:
            return False
        return found is not None

    def close(self) -> None:
        """Close the file, if one was opened."""
        if self._db is not None:
            self._db.close()


class NoCache:
    """``--no-cache``, and runs that call no model: remembers nothing, stores nothing."""

    path = None
    wait_s = 0.0
    stores = 0

    def get(self, key: str) -> CachedAnswer | None:
        """Always a miss."""
        return None

    def held(self, key: str) -> CachedAnswer | None:
        """Nothing is held."""
        return None

    def get_many(self, keys: list[str]) -> dict[str, CachedAnswer]:
        """Always misses."""
        return {}

    def contains(self, key: str) -> bool:
        """Never answered."""
        return False

    def put(self, key: str, answer: CachedAnswer) -> None:
        """Discard."""

    def commit_in_groups(self, schedule: Callable[[Callable[[], None]], Any] | None) -> None:
        """Nothing is stored."""

    def waiting(self) -> int:
        """Nothing waits."""
        return 0

    def store_waiting(self) -> bool:
        """Nothing to store."""
        return True

    def give_up_waiting(self, waited_s: float) -> None:
        """Nothing waits."""

    def problem(self, *, output_written: bool) -> str | None:
        """Never a problem."""
        return None

    def get_quirks(self, endpoint: str) -> str | None:
        """Nothing known."""
        return None

    def put_quirks(self, endpoint: str, settings: str) -> None:
        """Discard."""

    def close(self) -> None:
        """Nothing to close."""
