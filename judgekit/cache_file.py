"""Where the answer cache lives, and its file: created, checked, upgraded or set aside.

Everything that can make the file unusable before a run starts becomes one
``CacheError`` (exit 2, nothing called) naming the file, the cause and what to
do.  Failures once answers are paid for are ``cache.py``'s business: they never
stop a run.

Layouts: ``PRAGMA user_version`` holds ``LAYOUT_VERSION``.  Files written
before the stamp carry 0 and read as layout 1 when their columns match.  A file
that lacks only columns with a natural default (token details, latency) is
upgraded in place; one whose ``answers`` table lacks what an answer needs is
renamed to ``NAME.old`` and a new cache started, with a notice either way.
"""

from __future__ import annotations

import math
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from judgekit.errors import CacheError

LAYOUT_VERSION = 1

_ANSWERS = """
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
)"""
_QUIRKS = "CREATE TABLE IF NOT EXISTS quirks (endpoint TEXT PRIMARY KEY, settings TEXT NOT NULL)"
_BATCHES = """
CREATE TABLE IF NOT EXISTS batches (
    intent_id TEXT PRIMARY KEY,
    connection TEXT NOT NULL,
    api_root TEXT NOT NULL,
    protocol TEXT NOT NULL,
    batch_id TEXT,
    status TEXT NOT NULL,
    requests INTEGER NOT NULL,
    created_at REAL NOT NULL
)"""
_BATCH_REQUESTS = """
CREATE TABLE IF NOT EXISTS batch_requests (
    key TEXT NOT NULL,
    intent_id TEXT NOT NULL,
    model TEXT NOT NULL,
    worst_case_usd REAL NOT NULL,
    state TEXT NOT NULL,
    error TEXT,
    message TEXT,
    billed_input_tokens INTEGER,
    billed_output_tokens INTEGER,
    billed_cost_usd REAL,
    problem TEXT,
    PRIMARY KEY (key, intent_id)
)"""
BATCH_TABLES = (_BATCHES, _BATCH_REQUESTS)
"""Batch mode's state (``judgekit.batch.state``): which provider batch holds which request
key, submitted when, its status.  Created in a layout-1 file by the first ``--batch`` run,
without a version change: an older judgekit ignores tables it does not know."""

_REQUIRED = ("key", "text", "model", "input_tokens", "output_tokens", "cost_usd")
"""Columns without which a stored row is not an answer: such a file is set aside."""
_ADDABLE = {
    "response_id": "TEXT",
    "cached_input_tokens": "INTEGER NOT NULL DEFAULT 0",
    "cache_write_tokens": "INTEGER NOT NULL DEFAULT 0",
    "reasoning_tokens": "INTEGER NOT NULL DEFAULT 0",
    "latency_ms": "REAL NOT NULL DEFAULT 0",
    "created_at": "REAL NOT NULL DEFAULT 0",
}
"""Columns an older layout may lack, with what an upgrade fills in."""

DEFAULT_WAIT_S = 30.0
WAIT_ENV = "JUDGEKIT_CACHE_WAIT_S"
MOVE_IT = "use --cache PATH or --no-cache"
SET_IT = "set JUDGEKIT_CACHE=/path/to/cache.sqlite3, or use --cache PATH or --no-cache"


@dataclass(frozen=True, slots=True)
class CacheLocation:
    """The cache file and what to tell a user who needs it elsewhere."""

    path: Path
    move_it: str = MOVE_IT
    """``MOVE_IT`` for a path the user chose, ``SET_IT`` for the default location."""


def cache_location(explicit: Path | None) -> CacheLocation:
    """``--cache PATH``, else ``$JUDGEKIT_CACHE``, else ``$XDG_CACHE_HOME/judgekit/...``,
    else ``$HOME/.cache/judgekit/cache.sqlite3``; CacheError when none of them is set."""
    if explicit is not None:
        return CacheLocation(explicit)
    chosen = os.environ.get("JUDGEKIT_CACHE")
    if chosen:
        return CacheLocation(Path(chosen))
    return CacheLocation(default_cache_path(), SET_IT)


def default_cache_path() -> Path:
    """``$JUDGEKIT_CACHE``, else ``$XDG_CACHE_HOME/judgekit/cache.sqlite3``, else under
    ``$HOME/.cache``.  Raises CacheError when neither XDG_CACHE_HOME nor HOME is set: no
    guessing a home directory from the password database on a server that has none."""
    chosen = os.environ.get("JUDGEKIT_CACHE")
    if chosen:
        return Path(chosen)
    xdg = os.environ.get("XDG_CACHE_HOME")
    home = os.environ.get("HOME")
    if xdg:
        return Path(xdg) / "judgekit" / "cache.sqlite3"
    if home:
        return Path(home) / ".cache" / "judgekit" / "cache.sqlite3"
    raise CacheError(
        "no place for the answer cache: it goes to $XDG_CACHE_HOME/judgekit/cache.sqlite3 "
        f"or ~/.cache/judgekit/cache.sqlite3, and neither XDG_CACHE_HOME nor HOME is set; {SET_IT}"
    )


def lock_wait_s() -> float:
    """How long a run waits for another process's write lock: ``$JUDGEKIT_CACHE_WAIT_S``
    (seconds, default 30).  Raises CacheError when it is not a number >= 0."""
    raw = os.environ.get(WAIT_ENV)
    if raw is None or raw == "":
        return DEFAULT_WAIT_S
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not math.isfinite(seconds) or seconds < 0:
        raise CacheError(f"{WAIT_ENV}={raw!r}: not a number of seconds >= 0; unset it or fix it")
    return seconds


def open_cache_file(
    location: CacheLocation, wait_s: float, notice: Callable[[str], None]
) -> sqlite3.Connection:
    """An open connection to a cache file of the current layout, creating, upgrading or
    setting aside the file as needed (each said through ``notice``).  The connection
    autocommits and never waits for a lock (busy timeout 0): the store decides what
    waiting means.  Raises CacheError."""
    path = location.path
    check_is_sqlite(location)  # before SQLite opens it: it writes into an empty file only
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, timeout=wait_s, isolation_level=None)
    except (sqlite3.Error, OSError) as exc:  # mkdir under a file, no permission, read-only
        raise CacheError(_cannot_open(location, exc)) from None
    try:
        aside = _check_layout(db, path, notice)
        if aside is None:
            db.execute("PRAGMA journal_mode=WAL")
            # NORMAL: a commit survives a killed process (not a power cut), at a
            # fraction of FULL's cost per answer.
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(_QUIRKS)  # a no-op, taking no lock, when it exists
            db.execute("PRAGMA busy_timeout=0")
            return db
    except sqlite3.Error as exc:
        db.close()
        raise CacheError(_open_failure(location, exc, wait_s)) from None
    except CacheError:
        db.close()
        raise
    db.close()
    _set_aside(path, aside, notice)
    return open_cache_file(location, wait_s, notice)


def open_for_counting(path: Path) -> sqlite3.Connection | None:
    """The existing cache file for ``--dry-run`` to look answers up in, never created
    nor changed; None when there is no file, or no answers table to read."""
    if not path.is_file():
        return None
    check_is_sqlite(CacheLocation(path))
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, isolation_level=None)
        if "key" not in _columns(db):
            db.close()
            return None
    except sqlite3.Error as exc:
        raise CacheError(_open_failure(CacheLocation(path), exc, 0.0)) from None
    return db


SQLITE_HEADER = b"SQLite format 3\x00"
"""The first 16 bytes of every SQLite database file (sqlite.org/fileformat.html, 1.3)."""


def check_is_sqlite(location: CacheLocation) -> None:
    """Raise CacheError, having changed nothing, when the cache file exists, is not empty
    and does not start with ``SQLITE_HEADER``: a dataset, a config or an output given as
    ``--cache`` is not a cache (a damaged cache still starts with the header).  A missing
    or empty file is a new cache."""
    path = location.path
    if path.is_dir():  # --cache DIR, or --cache '' (the current directory)
        name = path / "cache.sqlite3"
        raise CacheError(
            f"{path}: is a directory, not a cache file; give a file name (e.g. --cache "
            f"{name}), or use --no-cache"
        )
    try:
        if not path.is_file():
            return
        with path.open("rb") as file:
            head = file.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise CacheError(_cannot_open(location, exc)) from None
    if head and head != SQLITE_HEADER:
        raise CacheError(
            f"{path}: not an answer cache (a cache is an SQLite file, this is not one); "
            "judgekit did not change it: give --cache a new path, or use --no-cache"
        )


def _columns(db: sqlite3.Connection) -> list[str]:
    return [str(row[1]) for row in db.execute("PRAGMA table_info(answers)")]


def _check_layout(db: sqlite3.Connection, path: Path, notice: Callable[[str], None]) -> str | None:
    """Create, accept or upgrade the layout; return why the file must be set aside, if so."""
    tables = sorted(str(r[0]) for r in db.execute("SELECT name FROM sqlite_master"))
    if not tables:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("BEGIN IMMEDIATE")
        db.execute(_ANSWERS)
        db.execute(_QUIRKS)
        db.execute(f"PRAGMA user_version={LAYOUT_VERSION}")
        db.execute("COMMIT")
        return None
    if "answers" not in tables:
        raise CacheError(
            f"{path}: an SQLite database but not a judgekit cache "
            f"(tables: {', '.join(tables)}); {MOVE_IT}"
        )
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version > LAYOUT_VERSION:
        raise CacheError(
            f"{path}: written by a newer judgekit (cache layout {version}; this one reads "
            f"{LAYOUT_VERSION}); upgrade judgekit, or {MOVE_IT}"
        )
    columns = _columns(db)
    lacking = [c for c in _REQUIRED if c not in columns]
    if lacking:
        return f"its answers table has no {', '.join(lacking)}"
    missing = [c for c in _ADDABLE if c not in columns]
    if missing:
        db.execute("BEGIN IMMEDIATE")
        for column in missing:
            db.execute(f"ALTER TABLE answers ADD COLUMN {column} {_ADDABLE[column]}")
        db.execute(f"PRAGMA user_version={LAYOUT_VERSION}")
        db.execute("COMMIT")
        notice(
            f"cache {path}: upgraded from an older layout (added {', '.join(missing)}); "
            "its answers are kept"
        )
    return None


def _set_aside(path: Path, why: str, notice: Callable[[str], None]) -> None:
    """Rename an unreadable cache (and its WAL files) to ``NAME.old`` (``.old-2``, ...)."""
    aside = path.with_name(path.name + ".old")
    number = 1
    while aside.exists():
        number += 1
        aside = path.with_name(f"{path.name}.old-{number}")
    try:
        for suffix in ("-wal", "-shm"):
            companion = path.with_name(path.name + suffix)
            if companion.exists():
                companion.rename(aside.with_name(aside.name + suffix))
        path.rename(aside)
    except OSError as exc:
        raise CacheError(
            f"{path}: written in a layout this judgekit cannot read ({why}) and cannot be "
            f"moved aside ({exc}); delete it, or {MOVE_IT}"
        ) from None
    notice(
        f"cache {path}: written in a layout this judgekit cannot read ({why}); "
        f"moved it to {aside} and started a new cache"
    )


def _cannot_open(location: CacheLocation, exc: BaseException) -> str:
    if location.move_it == SET_IT:
        return f"cannot create the answer cache at {location.path} ({exc}); {SET_IT}"
    return f"{location.path}: cannot open the cache ({exc}); {location.move_it}"


def _open_failure(location: CacheLocation, exc: sqlite3.Error, wait_s: float) -> str:
    """The one line for a file SQLite refused while judgekit set it up."""
    path, code = location.path, exc.sqlite_errorcode & 0xFF
    if code == sqlite3.SQLITE_NOTADB:
        return (
            f"{path}: cannot open the cache ({exc}): if it is a damaged cache, delete it; "
            f"or {MOVE_IT}"
        )
    if code == sqlite3.SQLITE_CORRUPT:
        return f"{path}: the cache file is damaged ({exc}); delete it, or {MOVE_IT}"
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return (
            f"{path}: another process holds the cache's write lock (waited {wait_s:g} s); "
            f"rerun when it is done, or {MOVE_IT}"
        )
    if code == sqlite3.SQLITE_FULL:
        return f"{path}: the disk is full ({exc}); free some space, or {MOVE_IT}"
    return _cannot_open(location, exc)
