"""Output columns and the atomic, streaming writer of scored rows (Parquet, JSONL or CSV).

Every input column comes first, unchanged and in input order, then each judge's
``J_*`` columns (SPEC section 6).  Rows are appended window by window to a temp
file next to OUT; ``commit`` fsyncs it and renames it over OUT, so a crash never
leaves a truncated OUT and never clobbers an existing one.  ``abort`` (or leaving
the ``with`` block without committing) deletes the temp file.

Parquet is zstd-compressed, one row group per window, and carries the run's
key-value metadata.  JSONL (``.jsonl``, ``.ndjson``, gzipped as ``.jsonl.gz``) writes
one object per line, each input value as it came in: a window read with
``iter_windows(with_json=True)`` carries the JSON text of the values Arrow cannot give
back (a nested object's own keys, not every key of its column; the numbers of a
JSON-encoded column), and NaN and Infinity are written as the literals
``NaN``/``Infinity`` that judgekit and Python read (not null).  CSV has a header;
nested values are JSON text (the input's, when the window carries it); NaN and
Infinity are ``nan``/``inf``.  Binary values, which JSON and CSV cannot hold, are
written as base64 text.  JSONL and CSV have no place for metadata: ``commit`` ignores
it for them.

A write that fails (disk full, permission lost, file size limit) raises
``OutputError`` naming OUT and the cause; the temp file is removed, OUT is left
as it was.

The columns are ``judgekit.output_columns``; each format's encoding is a sink of
``judgekit.output_sinks``.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import secrets
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from judgekit.errors import OutputError, UsageError
from judgekit.output_columns import (
    CONTINUATION_COLUMNS,
    PAIRWISE_COLUMNS,
    SAMPLING_COLUMNS,
    _continuation_arrays,
    _pairwise_arrays,
    _result_arrays,
    _sampling_arrays,
    judge_arrays,
    judge_fields,
    output_schema,
)
from judgekit.output_paths import check_directory, describe_os_error
from judgekit.output_sinks import ROW_GROUP_BYTES, ROW_GROUP_ROWS, _Sink, open_sink
from judgekit.records import JudgeResult

__all__ = [
    "CONTINUATION_COLUMNS",
    "OUTPUT_SUFFIXES",
    "PAIRWISE_COLUMNS",
    "ROW_GROUP_BYTES",
    "ROW_GROUP_ROWS",
    "SAMPLING_COLUMNS",
    "THRESHOLDS_KEY",
    "OutputWriter",
    "check_output_path",
    "judge_arrays",
    "judge_fields",
    "output_schema",
    "output_suffix",
    "read_thresholds",
    "thresholds_metadata",
]

OUTPUT_SUFFIXES = (".parquet", ".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz", ".csv")
"""What OUT may end in: every format ``score`` reads back as an input too."""
_FORMATS_HINT = "use .parquet, .jsonl, .ndjson, .jsonl.gz or .csv"
THRESHOLDS_KEY = "judgekit.thresholds"
"""Parquet metadata key: JSON object judge name -> the threshold its ``J_passed`` used."""


def output_suffix(path: Path) -> str | None:
    """The entry of ``OUTPUT_SUFFIXES`` that ``path`` ends in (case-insensitive), or None."""
    name = path.name.lower()
    return next((suffix for suffix in OUTPUT_SUFFIXES if name.endswith(suffix)), None)


def check_output_path(path: Path) -> None:
    """Raise UsageError unless OUT has a known extension and its directory can be written."""
    if path.is_dir():  # before the suffix: `-o out/` is a directory, not a format
        example = path / "scored.parquet"
        raise UsageError(f"{path}: is a directory; give a file name, e.g. -o {example}")
    if output_suffix(path) is None:
        raise UsageError(f"{path}: unsupported output format ({_FORMATS_HINT})")
    check_directory(path)


class OutputWriter:
    """Streams scored windows to a temp file; ``commit`` renames it over OUT atomically."""

    def __init__(
        self,
        path: Path,
        input_schema: pa.Schema,
        judges: Sequence[tuple[str, Sequence[str]]],
        *,
        continuing: Collection[str] = (),
        sampling: Collection[str] = (),
        pairwise: Collection[str] = (),
    ) -> None:
        check_output_path(path)
        self.path = path
        self.schema = output_schema(
            input_schema, judges, continuing=continuing, sampling=sampling, pairwise=pairwise
        )
        self._input_schema = input_schema.remove_metadata()
        self._judges = [(judge, tuple(criteria)) for judge, criteria in judges]
        self._continuing = frozenset(continuing)
        self._sampling = frozenset(sampling)
        self._pairwise = frozenset(pairwise)
        self._state: Literal["open", "committed", "aborted"] = "open"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._temp, self._stream = _create_temp(path)
        except OSError as exc:
            raise self._failed(exc) from None
        try:
            suffix = output_suffix(path) or ""
            self._sink: _Sink = open_sink(suffix, self._stream, self.schema, len(input_schema))
        except OSError as exc:
            self._discard()
            raise self._failed(exc) from None
        except BaseException:
            self._discard()
            raise

    def write(self, window: pa.Table, results: Mapping[str, Sequence[JudgeResult]]) -> None:
        """Append a window's rows: input columns, then each judge's columns from ``results``."""
        self._require_open()
        if not window.schema.remove_metadata().equals(self._input_schema):
            raise ValueError(f"window schema differs from the input schema:\n{window.schema}")
        arrays: list[pa.Array | pa.ChunkedArray] = list(window.columns)
        for judge, criteria in self._judges:
            rows = results[judge]
            if len(rows) != window.num_rows:
                raise ValueError(f"judge {judge!r}: {len(rows)} results for {window.num_rows} rows")
            arrays.extend(_result_arrays(rows, criteria))
            if judge in self._continuing:
                arrays.extend(_continuation_arrays(rows))
            if judge in self._sampling:
                arrays.extend(_sampling_arrays(rows))
            if judge in self._pairwise:
                arrays.extend(_pairwise_arrays(rows))
        if not window.num_rows:
            return
        table = pa.Table.from_arrays(arrays, schema=self.schema)
        if window.schema.metadata:  # the input's JSON text (datasets.RAW_JSON_KEY)
            table = table.replace_schema_metadata(window.schema.metadata)
        try:
            self._sink.write(table)
        except OSError as exc:
            self._discard()
            raise self._failed(exc) from None

    def write_scored(self, table: pa.Table) -> None:
        """Append rows already scored elsewhere (``judge_arrays`` on a Ray worker): input
        columns then judge columns, exactly this writer's schema."""
        self._require_open()
        if not table.schema.remove_metadata().equals(self.schema):
            raise ValueError(f"scored table schema differs from the output schema:\n{table.schema}")
        if not table.num_rows:
            return
        try:
            self._sink.write(table.replace_schema_metadata(None))
        except OSError as exc:
            self._discard()
            raise self._failed(exc) from None

    def commit(self, metadata: Mapping[str, str]) -> None:
        """Finish the file (Parquet: store ``metadata``), fsync it and rename it over OUT."""
        self._require_open()
        try:
            self._sink.close(metadata)
            self._stream.flush()
            os.fsync(self._stream.fileno())
            self._stream.close()
            os.replace(self._temp, self.path)
        except OSError as exc:
            self._discard()
            raise self._failed(exc) from None
        except BaseException:
            self._discard()
            raise
        self._state = "committed"
        _fsync_directory(self.path.parent)
        _remove_stale_temps(self.path)

    def abort(self) -> None:
        """Drop the temp file; OUT is left as it was.  Safe to call more than once."""
        if self._state == "open":
            with contextlib.suppress(Exception):  # the file is going away; its footer can fail
                self._sink.close({})
            self._discard()

    def __enter__(self) -> OutputWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.abort()

    def _require_open(self) -> None:
        if self._state != "open":
            raise RuntimeError(f"output writer for {self.path} is already {self._state}")

    def _discard(self) -> None:
        self._state = "aborted"
        # On a full disk, closing flushes the buffer and fails again: the file goes anyway.
        with contextlib.suppress(OSError):
            self._stream.close()
        with contextlib.suppress(OSError):
            self._temp.unlink(missing_ok=True)

    def _failed(self, exc: OSError) -> OutputError:
        return OutputError(
            f"{self.path}: cannot write the output ({describe_os_error(exc)}); nothing was written"
        )


def _remove_stale_temps(path: Path) -> None:
    """Temp files of earlier runs of the same OUT killed with -9 (never renamed)."""
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        with contextlib.suppress(OSError):
            stale.unlink()


def _create_temp(path: Path) -> tuple[Path, IO[bytes]]:
    """Create a fresh temp file next to ``path`` (same filesystem, so the rename is atomic)."""
    while True:
        temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            # os.open with mode 0o666 lets the umask decide, as for any new file (mkstemp: 0o600).
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        return temp, os.fdopen(fd, "wb")


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable; some platforms cannot open a directory, which is fine."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def thresholds_metadata(thresholds: Mapping[str, float]) -> dict[str, str]:
    """The ``judgekit.thresholds`` metadata entry: ``{"correctness": 0.7, ...}`` as JSON."""
    return {THRESHOLDS_KEY: json.dumps(dict(thresholds), sort_keys=True)}


def read_thresholds(path: Path) -> dict[str, float]:
    """Judge -> threshold recorded in a Parquet output's metadata; empty when the file is
    not Parquet, predates the record, or holds something else under the key.  A directory
    of parts (``output_parts``): its last part's."""
    if path.is_dir():
        from judgekit.output_parts import metadata_source  # imports this module

        path = metadata_source(path)
    if path.suffix.lower() != ".parquet":
        return {}
    try:
        metadata = pq.read_metadata(path).metadata or {}
        recorded = json.loads(metadata.get(THRESHOLDS_KEY.encode(), b"{}"))
    except (OSError, ValueError, pa.ArrowException):
        return {}  # an unreadable file is reported by the reader that needs its rows
    if not isinstance(recorded, dict):
        return {}
    return {
        str(judge): float(value)
        for judge, value in recorded.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }
