"""A scored output as a directory of Parquet parts (``--engine ray -o DIR/``).

Layout::

    DIR/part-00000.parquet   rows 0 .. PART_ROWS-1
    DIR/part-00001.parquet   the next PART_ROWS rows
    ...                      the last part: the rest (every part has the output's schema)

Read in name order, the parts are the one-file output row for row, column for column.
Every part's footer holds the run's metadata known when it was written (version, config
hash, start time, each judge's threshold); the last part's footer holds all of it, the
one-file output's footer exactly (totals, finish time too).  No other file is written,
so ``pyarrow.dataset``, ``polars.scan_parquet`` and Spark read DIR as it is.

Nothing is half-written: parts go to a temp sibling directory ``.DIR.<hex>.tmp``, which
``commit`` renames to DIR.  A DIR that exists must be empty or hold a previous run's
parts only (anything else is refused before any call); it is replaced whole at commit.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from judgekit.errors import OutputError, UsageError
from judgekit.output import output_suffix
from judgekit.output_paths import check_cache_apart, check_directory, describe_os_error
from judgekit.output_sinks import _ParquetSink

PART_ROWS = 1_000_000
"""Rows per part (the last part holds the rest)."""
PART_PATTERN = re.compile(r"part-\d{5,}\.parquet")
"""A part's file name."""


def part_name(index: int) -> str:
    """``part-00000.parquet`` for index 0 (five digits at least; names sort in row order)."""
    return f"part-{index:05d}.parquet"


def part_files(path: Path) -> list[Path]:
    """The parts of a directory of parts, in row order (empty when there are none)."""
    try:
        names = [name for name in os.listdir(path) if PART_PATTERN.fullmatch(name)]
    except OSError:
        return []
    return [path / name for name in sorted(names, key=lambda n: (len(n), n))]


def is_parts_directory(path: Path) -> bool:
    """Whether ``path`` is a directory holding judgekit parts and nothing else."""
    if not path.is_dir():
        return False
    names = os.listdir(path)
    return bool(names) and all(PART_PATTERN.fullmatch(name) for name in names)


def metadata_source(path: Path) -> Path:
    """The file whose Parquet footer holds a scored output's whole run metadata: the last
    part of a directory of parts, else ``path`` itself."""
    if path.is_dir():
        parts = part_files(path)
        if parts:
            return parts[-1]
    return path


def check_ray_output(
    path: Path, shown: str, *, use_cache: bool = False, cache_path: Path | None = None
) -> bool:
    """Whether ``--engine ray`` writes OUT (``path``; ``shown``: as the user gave it) as a
    directory of parts: it ends in ``/`` or names an existing directory.  Raises UsageError
    for a file that is not ``.parquet``, for a directory that cannot take parts, and (with
    ``use_cache``) for a cache named inside it; the run and its ``--dry-run`` both ask here,
    so they accept and refuse the same OUTs."""
    parts = shown.endswith("/") or path.is_dir()
    if not parts and output_suffix(path) != ".parquet":
        raise UsageError(
            f"{shown}: --engine ray writes Parquet; use an output path ending in .parquet "
            "(or in / for a directory of Parquet parts)"
        )
    if parts:  # before the checks of its first part's path, whose words would be less clear
        check_parts_path(path, shown)
        if use_cache:
            inside = (path, f"the output directory (-o {shown})")
            check_cache_apart(cache_path, (), inside)
    return parts


def check_parts_path(path: Path, shown: str, inputs: Sequence[Path] = ()) -> None:
    """Raise UsageError unless a directory of parts can be written at ``path`` (``shown``:
    OUT as the user gave it): new, empty, or a previous run's parts; not holding the
    input; its parent writable."""
    if path.exists() and not path.is_dir():
        raise UsageError(
            f"{shown}: {path} is a file, not a directory (drop the trailing / to write one file)"
        )
    if path.is_dir():
        others = sorted(name for name in os.listdir(path) if not PART_PATTERN.fullmatch(name))
        if others:
            raise UsageError(
                f"{shown}: the directory holds files that are not judgekit parts ({others[0]}"
                f"{', ...' if len(others) > 1 else ''}); give an empty directory or a new path"
            )
    target = path.resolve()
    for file in inputs:
        if target in file.resolve().parents:
            raise UsageError(
                f"{shown}: -o names the input dataset's directory; writing there would replace"
                " the data being scored (choose another path)"
            )
    check_directory(path)


class PartsWriter:
    """Scored tables appended as parts of ``PART_ROWS`` rows to a temp directory;
    ``commit`` renames it to OUT.  Leaving the ``with`` block without committing removes
    the temp directory and leaves OUT as it was."""

    def __init__(
        self,
        path: Path,
        schema: pa.Schema,
        part_metadata: Mapping[str, str],
        *,
        part_rows: int = PART_ROWS,
    ) -> None:
        if part_rows < 1:
            raise ValueError(f"part_rows must be at least 1, not {part_rows}")
        self.path = path
        self.schema = schema.remove_metadata()
        self._part_metadata = dict(part_metadata)
        self._part_rows = part_rows
        self._parts = 0
        self._rows_in_part = 0
        self._stream: IO[bytes] | None = None
        self._sink: _ParquetSink | None = None
        self._state: Literal["open", "committed", "aborted"] = "open"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._temp = _create_temp_directory(path)
        except OSError as exc:
            raise self._failed(exc) from None

    def write_scored(self, table: pa.Table) -> None:
        """Append scored rows (input columns then judge columns: exactly this schema)."""
        self._require_open()
        if not table.schema.remove_metadata().equals(self.schema):
            raise ValueError(f"scored table schema differs from the output schema:\n{table.schema}")
        table = table.replace_schema_metadata(None)
        at = 0
        try:
            while at < table.num_rows:
                if self._sink is None or self._rows_in_part == self._part_rows:
                    self._next_part()
                take = min(table.num_rows - at, self._part_rows - self._rows_in_part)
                assert self._sink is not None
                self._sink.write(table.slice(at, take))
                self._rows_in_part += take
                at += take
        except OSError as exc:
            self.abort()
            raise self._failed(exc) from None

    def commit(self, metadata: Mapping[str, str]) -> None:
        """Close the last part with the run's whole ``metadata`` (a run of no rows: one
        empty part), then rename the temp directory to OUT (replacing earlier parts)."""
        self._require_open()
        try:
            if self._sink is None:
                self._open_part()
            self._close_part(self._part_metadata | dict(metadata))
            _fsync_directory(self._temp)
            _replace_directory(self._temp, self.path)
        except OSError as exc:
            self.abort()
            raise self._failed(exc) from None
        except BaseException:
            self.abort()
            raise
        self._state = "committed"
        _fsync_directory(self.path.parent)
        _remove_leftovers(self.path)

    def abort(self) -> None:
        """Drop the temp directory; OUT is left as it was.  Safe to call more than once."""
        if self._state != "open":
            return
        self._state = "aborted"
        if self._sink is not None:
            with contextlib.suppress(Exception):  # the part is going away; its footer can fail
                self._sink.close({})
        if self._stream is not None:
            with contextlib.suppress(OSError):
                self._stream.close()
        shutil.rmtree(self._temp, ignore_errors=True)

    def __enter__(self) -> PartsWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.abort()

    def _next_part(self) -> None:
        if self._sink is not None:
            self._close_part(self._part_metadata)
        self._open_part()

    def _open_part(self) -> None:
        self._stream = open(self._temp / part_name(self._parts), "xb")  # noqa: SIM115
        self._sink = _ParquetSink(self._stream, self.schema)
        self._parts += 1
        self._rows_in_part = 0

    def _close_part(self, metadata: Mapping[str, str]) -> None:
        assert self._sink is not None and self._stream is not None
        self._sink.close(metadata)
        self._stream.flush()
        os.fsync(self._stream.fileno())
        self._stream.close()
        self._sink, self._stream = None, None

    def _require_open(self) -> None:
        if self._state != "open":
            raise RuntimeError(f"parts writer for {self.path} is already {self._state}")

    def _failed(self, exc: OSError) -> OutputError:
        return OutputError(
            f"{self.path}/: cannot write the output ({describe_os_error(exc)}); nothing was written"
        )


def read_parts(path: Path) -> pa.Table:
    """Every part of a directory of parts, concatenated in row order, with the last part's
    metadata (the one-file output's)."""
    parts = part_files(path)
    tables = [pq.read_table(part) for part in parts]
    metadata = pq.read_metadata(parts[-1]).metadata
    return pa.concat_tables(
        t.replace_schema_metadata(None) for t in tables
    ).replace_schema_metadata(metadata)


def _create_temp_directory(path: Path) -> Path:
    """A fresh directory next to ``path`` (same filesystem, so the rename is atomic)."""
    while True:
        temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            temp.mkdir()
        except FileExistsError:
            continue
        return temp


def _replace_directory(temp: Path, path: Path) -> None:
    """Rename ``temp`` to ``path``; an existing ``path`` (empty, or earlier parts) is moved
    aside first and removed after, so ``path`` is always whole: the old parts or the new."""
    try:
        os.replace(temp, path)  # a new path, or an empty directory
        return
    except OSError:
        if not path.is_dir():
            raise
    old = path.with_name(f".{path.name}.{secrets.token_hex(4)}.old")
    os.replace(path, old)
    try:
        os.replace(temp, path)
    except OSError:
        os.replace(old, path)  # put the earlier parts back
        raise
    shutil.rmtree(old, ignore_errors=True)


def _remove_leftovers(path: Path) -> None:
    """Temp and moved-aside directories of earlier runs of the same OUT killed with -9."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.[0-9a-f]{{8}}\.(tmp|old)")
    for entry in path.parent.iterdir():
        if pattern.fullmatch(entry.name) and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)


def _fsync_directory(directory: Path) -> None:
    """Make renames and new files durable; some platforms cannot open a directory."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
