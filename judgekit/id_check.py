"""The exact duplicate-id check, in memory that does not grow with the dataset.

Ids are partitioned by their hash into ``buckets`` (grace hash partitioning):
equal ids always share a bucket, so each bucket is checked on its own, by
comparing the real ids (never their hashes: a hash collision puts two ids in one
bucket, where they are compared exactly and never reported as duplicates).
While at most ``spill_rows`` ids are buffered, nothing touches the disk (small
datasets); past that, the buffered buckets are appended to one anonymous
temporary file (``marshal``: str, int of any size, float, bool stay exact) and
each bucket is read back alone at the end.  Peak memory: about ``spill_rows``
ids while reading, one bucket (rows / ``buckets``) while checking.

Equality is Python's (``7 == 7.0``), or that of ``key(id)`` when a ``key`` is
given (``as_string``: ids compared as the text they become).  Duplicates are
reported in the order of their second occurrence, as that occurrence was given.
"""

from __future__ import annotations

import contextlib
import marshal
import tempfile
from array import array
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from judgekit.errors import UsageError

SPILL_ROWS = 1 << 14
"""Ids buffered in memory before the buckets go to the temporary file (~1.5 MB of ids)."""
BUCKETS = 256
"""Partitions: the check holds one at a time (10,000,000 rows: ~40,000 ids, ~3 MB)."""


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
    ``spill_rows`` and ``buckets`` trade memory for disk (module docstring)."""

    def __init__(
        self,
        *,
        buckets: int = BUCKETS,
        spill_rows: int = SPILL_ROWS,
        hash_bits: int = 64,
        named: int = 5,
        key: Callable[[Any], Hashable] | None = None,
        spill_dir: Path | None = None,
    ) -> None:
        if buckets < 1 or spill_rows < 1 or not 1 <= hash_bits <= 64:
            raise ValueError("buckets and spill_rows must be >= 1, hash_bits in 1..64")
        self._buckets = buckets
        self._spill_rows = spill_rows
        self._mask = (1 << hash_bits) - 1
        self._named = named
        self._key = key
        self._spill_dir = spill_dir
        """Where the temporary file goes (None: ``tempfile``'s choice, ``TMPDIR``)."""
        self._values: list[list[Hashable]] = [[] for _ in range(buckets)]
        self._rows: list[array[int]] = [array("q") for _ in range(buckets)]
        self._buffered = 0
        self._next_row = 0
        self._file: IO[bytes] | None = None
        self._segments: list[array[int]] = [array("q") for _ in range(buckets)]
        """Per bucket: offset, size, offset, size, ... of its spilled blobs (16 bytes each)."""

    @property
    def spilled(self) -> bool:
        """Whether any bucket went to the temporary file."""
        return self._file is not None

    def add(self, ids: Sequence[Hashable]) -> None:
        """Record the next ``len(ids)`` rows' ids (hashable: str, int, float, bool)."""
        values, rows, mask, buckets = self._values, self._rows, self._mask, self._buckets
        row = self._next_row
        key = self._key
        for ident in ids:
            bucket = (hash(ident if key is None else key(ident)) & mask) % buckets
            values[bucket].append(ident)
            rows[bucket].append(row)
            row += 1
        self._buffered += row - self._next_row
        self._next_row = row
        if self._buffered >= self._spill_rows:
            self._spill()

    def duplicates(self) -> Duplicates:
        """Check every bucket exactly; the repeated ids, first ones first."""
        found: list[tuple[int, Any]] = []  # (row of the second occurrence, id), the first few
        count = 0
        for bucket in range(self._buckets):
            values, rows = self._load(bucket)
            keys = values if self._key is None else [self._key(v) for v in values]
            if len(set(keys)) == len(keys):  # the usual case, all in C
                continue
            seen: set[Any] = set()
            repeated: set[Any] = set()
            for value, key, row in zip(values, keys, rows, strict=True):
                if key not in seen:
                    seen.add(key)
                elif key not in repeated:
                    repeated.add(key)
                    count += 1
                    found.append((row, value))
            found = sorted(found, key=lambda pair: pair[0])[: self._named]
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

    def _spill(self) -> None:
        try:
            if self._file is None:
                # closed by close(): the file lives across many add() calls
                # Unbuffered: a full disk fails here, in a write, not in a later seek.
                self._file = tempfile.TemporaryFile(  # noqa: SIM115
                    buffering=0, prefix="judgekit-ids-", dir=self._spill_dir
                )
            file = self._file
            offset = file.seek(0, 2)
            for bucket in range(self._buckets):
                if not self._values[bucket]:
                    continue
                blob = marshal.dumps((self._values[bucket], self._rows[bucket].tobytes()))
                view = memoryview(blob)
                while view:  # an unbuffered write may take part of the blob
                    view = view[file.write(view) or 0 :]
                self._segments[bucket].extend((offset, len(blob)))
                offset += len(blob)
                self._values[bucket] = []
                self._rows[bucket] = array("q")
        except OSError as exc:
            self.close()
            where = self._spill_dir or tempfile.gettempdir()
            raise UsageError(
                f"cannot write the duplicate-id check's temporary file in {where}"
                f" ({exc.strerror or exc}); free some space there or point TMPDIR at a disk"
                " with room"
            ) from None
        self._buffered = 0

    def _load(self, bucket: int) -> tuple[list[Any], array[int]]:
        """A bucket's ids and rows, in row order: its spilled blobs, then its buffer."""
        if not self._segments[bucket]:
            return self._values[bucket], self._rows[bucket]
        values: list[Any] = []
        rows: array[int] = array("q")
        for blob_values, blob_rows in self._read_segments(bucket):
            values += blob_values
            rows.frombytes(blob_rows)
        values += self._values[bucket]
        rows += self._rows[bucket]
        return values, rows

    def _read_segments(self, bucket: int) -> Iterator[tuple[list[Any], bytes]]:
        assert self._file is not None
        segments = self._segments[bucket]
        for offset, size in zip(segments[::2], segments[1::2], strict=True):
            self._file.seek(offset)
            blob_values, blob_rows = marshal.loads(self._file.read(size))
            yield blob_values, blob_rows
