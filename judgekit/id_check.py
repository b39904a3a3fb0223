"""The exact duplicate-id check, in memory that does not grow with the dataset.

Ids are partitioned by their hash into ``buckets`` (grace hash partitioning):
equal ids always share a bucket, so each bucket is checked on its own, by
comparing the real ids (never their hashes: a hash collision puts two ids in one
bucket, where they are compared exactly and never reported as duplicates).
While at most ``spill_rows`` ids are buffered, nothing touches the disk (small
datasets); past that, the buffered buckets are appended to one anonymous
temporary file (``marshal``: str, int of any size, float, bool stay exact), each
blob naming where its bucket's previous blob is, so memory holds only the last
blob's place and the id count of each bucket, never an index that grows with the
file.  At the end each bucket is read back alone; a bucket of more than
``check_ids`` ids (a large dataset, or ids whose hashes crowd together) is split
again by the next digits of the hash, into a temporary file of its own, until
every part is small enough (or the hash has no digits left).  Peak memory: about
``spill_rows`` ids while reading, ``check_ids`` while checking, at any dataset size.

Equality is Python's (``7 == 7.0``), or that of ``key(id)`` when a ``key`` is
given (``as_string``: ids compared as the text they become).  Duplicates are
reported in the order of their second occurrence, as that occurrence was given.
"""

from __future__ import annotations

import contextlib
import marshal
import math
import tempfile
from array import array
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from judgekit.errors import UsageError

SPILL_ROWS = 1 << 14
"""Ids buffered in memory before the buckets go to the temporary file (~1 MB of ids)."""
BUCKETS = 256
"""Partitions of the first split (10,000,000 rows: ~40,000 ids each, split again)."""
CHECK_IDS = 1 << 14
"""A bucket of at most this many ids is checked in memory (~1.5 MB); a larger one is
split again into parts of about half that."""
_NO_BLOB = -1
"""The place of a bucket's last blob before it has one."""


@dataclass(frozen=True, slots=True)
class Duplicates:
    """What the check found: how many distinct ids repeat, and the first few of them."""

    count: int
    """Distinct ids that occur more than once."""
    first: tuple[Any, ...]
    """Up to ``named`` of them, in the order of their second occurrence."""


class DuplicateIds:
    """Feed ids in row order with ``add``; ``duplicates()`` at the end; ``close()`` frees disk.

    ``hash_bits`` narrows the hash (tests use 1 or 2 to force collisions);
    ``spill_rows``, ``buckets`` and ``check_ids`` trade memory for disk (module docstring);
    ``divisor`` is how much of the hash earlier splits used (1: this is the first)."""

    def __init__(
        self,
        *,
        buckets: int = BUCKETS,
        spill_rows: int = SPILL_ROWS,
        check_ids: int = CHECK_IDS,
        hash_bits: int = 64,
        named: int = 5,
        key: Callable[[Any], Hashable] | None = None,
        spill_dir: Path | None = None,
        divisor: int = 1,
    ) -> None:
        if buckets < 1 or spill_rows < 1 or check_ids < 2 or not 1 <= hash_bits <= 64:
            raise ValueError(
                "buckets and spill_rows must be >= 1, check_ids >= 2, hash_bits in 1..64"
            )
        self._buckets = buckets
        self._spill_rows = spill_rows
        self._check_ids = check_ids
        self._hash_bits = hash_bits
        self._mask = (1 << hash_bits) - 1
        self._divisor = divisor
        self._named = named
        self._key = key
        self._spill_dir = spill_dir
        """Where the temporary file goes (None: ``tempfile``'s choice, ``TMPDIR``)."""
        self._values: list[list[Hashable]] = [[] for _ in range(buckets)]
        self._rows: list[array[int]] = [array("q") for _ in range(buckets)]
        self._buffered = 0
        self._next_row = 0
        self._file: IO[bytes] | None = None
        self._end = 0
        """Where the next blob goes in the temporary file."""
        self._counts = array("q", bytes(8 * buckets))
        """Per bucket: its ids in the temporary file."""
        self._last = array("q", [_NO_BLOB]) * buckets
        self._last_size = array("q", bytes(8 * buckets))
        """Per bucket: the place and size of its last blob (each blob names the one before)."""
        self.splits = 0
        """Buckets split again because they held more than ``check_ids`` ids (tests read it)."""

    @property
    def spilled(self) -> bool:
        """Whether any bucket went to the temporary file."""
        return self._file is not None

    def add(self, ids: Sequence[Hashable]) -> None:
        """Record the next ``len(ids)`` rows' ids (hashable: str, int, float, bool)."""
        start = self._next_row
        self._next_row += len(ids)
        self._add(ids, range(start, self._next_row))

    def duplicates(self) -> Duplicates:
        """Check every bucket exactly; the repeated ids, first ones first."""
        count, found = self._scan()
        return Duplicates(count, tuple(value for _, value in found))

    def close(self) -> None:
        """Delete the temporary file (also done when the object is collected)."""
        if self._file is not None:
            with contextlib.suppress(OSError):  # a file being thrown away
                self._file.close()
            self._file = None

    def __enter__(self) -> DuplicateIds:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _add(self, ids: Sequence[Hashable], rows: Sequence[int]) -> None:
        values, held, mask, buckets = self._values, self._rows, self._mask, self._buckets
        divisor, key = self._divisor, self._key
        for ident, row in zip(ids, rows, strict=True):
            bucket = ((hash(ident if key is None else key(ident)) & mask) // divisor) % buckets
            values[bucket].append(ident)
            held[bucket].append(row)
        self._buffered += len(ids)
        if self._buffered >= self._spill_rows:
            self._spill()

    def _scan(self) -> tuple[int, list[tuple[int, Any]]]:
        """(distinct repeated ids, the first ``named`` as (row of the second occurrence, id))."""
        found: list[tuple[int, Any]] = []
        count = 0
        # Another split makes progress only while the hash has digits this one did not use.
        can_split = self._divisor * self._buckets <= self._mask
        for bucket in range(self._buckets):
            size = self._counts[bucket] + len(self._values[bucket])
            if size > self._check_ids and can_split:
                repeated, first = self._split(bucket, size)
            else:
                repeated, first = self._check(*self._load(bucket))
            count += repeated
            found = sorted(found + first, key=lambda pair: pair[0])[: self._named]
        return count, found

    def _check(self, values: list[Any], rows: array[int]) -> tuple[int, list[tuple[int, Any]]]:
        """One bucket's repeated ids, compared exactly (the bucket may come in any order)."""
        keys = values if self._key is None else [self._key(v) for v in values]
        if len(set(keys)) == len(keys):  # the usual case, all in C
            return 0, []
        seen: set[Any] = set()
        repeated: set[Any] = set()
        found: list[tuple[int, Any]] = []
        for index in sorted(range(len(rows)), key=rows.__getitem__):  # row order
            key = keys[index]
            if key not in seen:
                seen.add(key)
            elif key not in repeated:
                repeated.add(key)
                found.append((rows[index], values[index]))
        return len(repeated), sorted(found, key=lambda pair: pair[0])[: self._named]

    def _split(self, bucket: int, size: int) -> tuple[int, list[tuple[int, Any]]]:
        """Check a bucket too large for memory by splitting it on the next hash digits."""
        self.splits += 1
        parts = max(2, math.ceil(2 * size / self._check_ids))
        with DuplicateIds(
            buckets=parts,
            spill_rows=self._spill_rows,
            check_ids=self._check_ids,
            hash_bits=self._hash_bits,
            named=self._named,
            key=self._key,
            spill_dir=self._spill_dir,
            divisor=self._divisor * self._buckets,
        ) as part:
            for values, rows in self._blobs(bucket):
                part._add(values, rows)
            part._add(self._values[bucket], self._rows[bucket])
            found = part._scan()
            self.splits += part.splits
        return found

    def _spill(self) -> None:
        try:
            if self._file is None:
                # closed by close(): the file lives across many add() calls
                # Unbuffered: a full disk fails here, in a write, not in a later seek.
                self._file = tempfile.TemporaryFile(  # noqa: SIM115
                    buffering=0, prefix="judgekit-ids-", dir=self._spill_dir
                )
            pending = bytearray()
            for bucket in range(self._buckets):
                if not self._values[bucket]:
                    continue
                blob = marshal.dumps(
                    (
                        self._values[bucket],
                        self._rows[bucket].tobytes(),
                        self._last[bucket],
                        self._last_size[bucket],
                    )
                )
                self._last[bucket] = self._end + len(pending)
                self._last_size[bucket] = len(blob)
                self._counts[bucket] += len(self._values[bucket])
                pending += blob
                self._values[bucket] = []
                self._rows[bucket] = array("q")
                if len(pending) >= 1 << 16:
                    self._write(pending)
                    pending = bytearray()
            self._write(pending)
        except OSError as exc:
            self.close()
            where = self._spill_dir or tempfile.gettempdir()
            raise UsageError(
                f"cannot write the duplicate-id check's temporary file in {where}"
                f" ({exc.strerror or exc}); free some space there or point TMPDIR at a disk"
                " with room"
            ) from None
        self._buffered = 0

    def _write(self, data: bytearray) -> None:
        """Append ``data`` at ``_end`` (an unbuffered write may take part of it)."""
        assert self._file is not None
        self._file.seek(self._end)  # a check may have read elsewhere since
        view = memoryview(data)
        while view:
            view = view[self._file.write(view) or 0 :]
        self._end += len(data)

    def _load(self, bucket: int) -> tuple[list[Any], array[int]]:
        """A bucket's ids and rows: its spilled blobs, then its buffer (not in row order)."""
        values: list[Any] = []
        rows: array[int] = array("q")
        for blob_values, blob_rows in self._blobs(bucket):
            values += blob_values
            rows += blob_rows
        values += self._values[bucket]
        rows += self._rows[bucket]
        return values, rows

    def _blobs(self, bucket: int) -> Iterator[tuple[list[Any], array[int]]]:
        """A bucket's spilled blobs, last first: (ids, rows) each."""
        place, size = self._last[bucket], self._last_size[bucket]
        while place != _NO_BLOB:
            assert self._file is not None
            self._file.seek(place)
            blob_values, blob_rows, place, size = marshal.loads(self._file.read(size))
            rows: array[int] = array("q")
            rows.frombytes(blob_rows)
            yield blob_values, rows
