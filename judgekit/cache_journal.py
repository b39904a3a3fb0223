"""The answer journal: where a run's answers are made durable between SQLite commits.

Committing each answer to SQLite costs ~30 us of client CPU per call in a run at 100 ms
latency (``make bench`` S1: a WAL transaction, ~13 system calls, with the CPU's caches
cold between calls), more than any other step judgekit adds to an HTTP call.  During a
local run the answers of one turn of the event loop are instead appended to a journal
file next to the cache (one ``write``: durable against ``kill -9`` from then on, exactly
when the commit made them durable before), and moved into SQLite in one transaction per
``FLUSH_ANSWERS`` answers or ``FLUSH_S`` seconds, and when the run ends.  Power loss is
out of scope for both (``synchronous=NORMAL``).

The file is ``CACHE.answers-PID-TOKEN.log``, held under an exclusive ``flock`` for as long as
its process lives: the kernel releases that lock when the process dies, however it
dies.  Every opening of the cache (``replay_orphans``) stores the answers of journals
whose lock is free -- a run that was killed -- and deletes them; a journal whose
process lives is left alone.  Answers in a live process's journal reach SQLite, and so
other processes sharing the cache, at most ``FLUSH_S`` seconds late.

The file starts with ``judgekit answer journal 1\n``, written once the lock is held (a
file that does not start so is never read nor deleted), then records: ``<u32 length>
<u32 crc32><marshal of the row tuple>``, little-endian; the row is the ``answers``
table's row (``cache_rows.answer_row``).  ``marshal`` keeps every value exact (floats,
None, any str).  Reading stops at the first record that is cut short or fails its CRC:
the tail a crash can leave is ignored, never misread.  When storing stops (a damaged
file, a full disk, a lock held too long) the journal is kept for the next opening, and
an opening that cannot store an orphan now (a read-only directory, a lock) answers
from its rows and leaves it.

Where ``fcntl`` is missing (Windows) there is no journal: each turn's answers are
committed to SQLite as before.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import re
import secrets
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, cast

try:
    import fcntl

    _HAVE_FLOCK = True
except ImportError:  # Windows: no flock, no journal
    _HAVE_FLOCK = False

FLUSH_ANSWERS = 512
"""Journaled answers that make a flush into SQLite due (~1 MB of answers held)."""
FLUSH_S = 1.0
"""Seconds after which journaled answers are flushed into SQLite, whatever their number."""

_MAGIC = b"judgekit answer journal 1\n"
"""The first bytes of every journal: a file without them is never read nor deleted."""
_NAME = re.compile(r"\.answers-[0-9]+-[0-9a-f]{8}\.log")
_HEADER = struct.Struct("<II")
_MARSHAL_VERSION = 4
_SUFFIX = ".answers-"

Row = tuple[object, ...]


def journals_of(cache_path: Path) -> list[Path]:
    """The journal files beside ``cache_path`` (live or orphaned), oldest name first."""
    try:
        found = cache_path.parent.glob(f"{_glob_escape(cache_path.name)}{_SUFFIX}*.log")
        return sorted(p for p in found if _NAME.fullmatch(p.name[len(cache_path.name) :]))
    except OSError:
        return []


def available() -> bool:
    """Whether this platform can keep a journal (``fcntl.flock``)."""
    return _HAVE_FLOCK


class AnswerJournal:
    """This process's journal of one cache: ``append`` rows, ``clear`` once they are in
    SQLite, ``close`` at the end (deletes it) or ``release`` (keeps it).  Raises OSError
    from the constructor when the file cannot be created; ``append`` and ``clear`` return
    False on failure."""

    def __init__(self, cache_path: Path) -> None:
        """Create and lock ``CACHE.answers-PID-TOKEN.log`` beside ``cache_path``."""
        # The pid says whose it is; the token keeps it apart from an orphan of an earlier
        # process with the same pid (containers) or of another host (a shared cache).
        name = f"{cache_path.name}{_SUFFIX}{os.getpid()}-{secrets.token_hex(4)}.log"
        self.path = cache_path.with_name(name)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
        self._fd = os.open(self.path, flags, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.write(self._fd, _MAGIC)
        except OSError:
            os.close(self._fd)
            with contextlib.suppress(OSError):
                self.path.unlink()
            raise
        self.size = 0

    def append(self, rows: Iterable[Row]) -> bool:
        """Write ``rows`` in one ``write``; True once the kernel has them."""
        blob = b"".join(_record(row) for row in rows)
        try:
            written = os.write(self._fd, blob)
        except OSError:
            return False
        self.size += written
        return written == len(blob)

    def clear(self) -> bool:
        """Empty the file: every row in it is in SQLite now."""
        try:
            os.ftruncate(self._fd, len(_MAGIC))
        except OSError:
            return False
        self.size = 0
        return True

    def release(self) -> None:
        """Close the file and release its lock, keeping it: it holds answers SQLite does
        not, for the next opening of the cache to store."""
        with contextlib.suppress(OSError):
            os.close(self._fd)

    def close(self) -> None:
        """Delete the file and release its lock (call once its rows are stored, or once
        storing has stopped)."""
        with contextlib.suppress(OSError):
            self.path.unlink()
        with contextlib.suppress(OSError):
            os.close(self._fd)


def replay_orphans(cache_path: Path, store: Callable[[list[Row]], bool]) -> tuple[int, list[Row]]:
    """Store the rows of every journal beside ``cache_path`` whose process is gone, and
    delete those files; ``store`` returns False when it could not (a read-only directory,
    a lock held): that file stays for a later opening.  Returns (rows stored, the rows
    not stored, for this process to answer from).  Never raises."""
    stored = 0
    unstored: list[Row] = []
    if not _HAVE_FLOCK:
        return stored, unstored
    for path in journals_of(cache_path):
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # its process still runs
            if not _same_file(fd, path):
                continue  # replayed and deleted by another process meanwhile
            data = _read_all(fd)
            if not data.startswith(_MAGIC):
                continue  # not a journal judgekit wrote: never touched
            rows = list(_records(data))
            if rows and not store(rows):
                unstored += rows
                continue
            stored += len(rows)
            with contextlib.suppress(OSError):
                path.unlink()
        except OSError:
            continue
        finally:
            os.close(fd)
    return stored, unstored


def journal_keys(cache_path: Path) -> set[str]:
    """The keys of the answers in every journal beside ``cache_path`` (``--dry-run``
    counts them as cached without changing anything).  Never raises."""
    keys: set[str] = set()
    for path in journals_of(cache_path):
        try:
            data = path.read_bytes()
        except OSError:
            continue
        keys.update(str(row[0]) for row in _records(data))
    return keys


def _record(row: Row) -> bytes:
    payload = marshal.dumps(cast(Any, row), _MARSHAL_VERSION)
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def _records(data: bytes) -> Iterator[Row]:
    """The whole records of a journal's ``data`` in order, up to the first that is cut
    short or damaged; none when it does not start as a journal does."""
    if not data.startswith(_MAGIC):
        return
    offset, end = len(_MAGIC), len(data)
    while offset + _HEADER.size <= end:
        length, crc = _HEADER.unpack_from(data, offset)
        start = offset + _HEADER.size
        payload = data[start : start + length]
        if len(payload) < length or zlib.crc32(payload) != crc:
            return
        try:
            row = marshal.loads(payload)
        except (ValueError, EOFError, TypeError):
            return
        if not isinstance(row, tuple) or not row or not isinstance(row[0], str):
            return
        yield row
        offset = start + length


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _same_file(fd: int, path: Path) -> bool:
    try:
        named = path.stat()
    except OSError:
        return False
    opened = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)
