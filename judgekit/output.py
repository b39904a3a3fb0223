"""Output columns and the atomic, streaming writer of scored rows (Parquet, JSONL or CSV).

Every input column comes first, unchanged and in input order, then each judge's
``J_*`` columns (SPEC section 6).  Rows are appended window by window to a temp
file next to OUT; ``commit`` fsyncs it and renames it over OUT, so a crash never
leaves a truncated OUT and never clobbers an existing one.  ``abort`` (or leaving
the ``with`` block without committing) deletes the temp file.

Parquet is zstd-compressed, one row group per window, and carries the run's
key-value metadata.  JSONL writes one object per line (structs as nested
objects).  CSV has a header; nested values are JSON-encoded strings.  Binary
values, which JSON and CSV cannot hold, are written as base64 text.  JSONL and
CSV have no place for metadata: ``commit`` ignores it for them.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import glob
import json
import os
import secrets
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal, Protocol

import polars as pl
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from judgekit.errors import UsageError
from judgekit.records import JudgeResult

OUTPUT_SUFFIXES = (".parquet", ".jsonl", ".csv")

_RESULT_COLUMNS: tuple[tuple[str, pa.DataType | None], ...] = (
    ("score", pa.float64()),
    ("passed", pa.bool_()),
    ("reasoning", pa.string()),
    ("confidence", pa.float64()),
    ("criteria", None),  # struct of the judge's criteria; only when it has criteria
    ("error", pa.string()),
    ("input_tokens", pa.int64()),
    ("output_tokens", pa.int64()),
    ("cost_usd", pa.float64()),
    ("latency_ms", pa.float64()),
    ("model", pa.string()),
    ("response_id", pa.string()),
)
"""(JudgeResult attribute = column suffix, Arrow type), in output order."""

CONTINUATION_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("should_continue", pa.bool_()),
    ("next_prompt", pa.string()),
)
"""After the others, for a judge with ``continue_conversation`` only."""


def judge_fields(
    judge: str, criteria: Sequence[str], *, continuation: bool = False
) -> list[pa.Field]:
    """Return the ``{judge}_*`` output fields, in order; ``J_criteria`` only with criteria,
    ``J_should_continue`` and ``J_next_prompt`` only with ``continuation``."""
    fields = []
    for attribute, type_ in _RESULT_COLUMNS:
        if type_ is None:
            if not criteria:
                continue
            type_ = pa.struct([pa.field(name, pa.float64()) for name in criteria])
        fields.append(pa.field(f"{judge}_{attribute}", type_))
    if continuation:
        fields += [pa.field(f"{judge}_{name}", type_) for name, type_ in CONTINUATION_COLUMNS]
    return fields


def output_schema(
    input_schema: pa.Schema,
    judges: Sequence[tuple[str, Sequence[str]]],
    *,
    continuing: Collection[str] = (),
) -> pa.Schema:
    """Return the input fields then each judge's fields; UsageError when a name is taken twice.

    ``continuing`` names the judges with ``continue_conversation``."""
    fields = list(input_schema.remove_metadata())
    taken = set(input_schema.names)
    for judge, criteria in judges:
        for field in judge_fields(judge, criteria, continuation=judge in continuing):
            if field.name in taken:
                raise UsageError(
                    f"output column '{field.name}' already exists (from the dataset or another"
                    f" judge); rename judge '{judge}' or drop the column"
                )
            taken.add(field.name)
            fields.append(field)
    return pa.schema(fields)


def check_output_path(path: Path) -> None:
    """Raise UsageError unless OUT has a known extension and its directory can be written."""
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise UsageError(f"{path}: unsupported output format (use .parquet, .jsonl or .csv)")
    if path.is_dir():
        raise UsageError(
            f"{path}: is a directory (give a file name ending in .parquet, .jsonl or .csv)"
        )
    existing = path.parent
    while not existing.exists() and existing != existing.parent:  # the writer creates them
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"{path}: cannot create directory {path.parent} ({existing} is a file)")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{path}: cannot write in directory {existing} (permission denied)")


class _Sink(Protocol):
    def write(self, table: pa.Table) -> None: ...

    def close(self, metadata: Mapping[str, str]) -> None: ...


class _ParquetSink:
    def __init__(self, stream: IO[bytes], schema: pa.Schema) -> None:
        self._writer = pq.ParquetWriter(stream, schema, compression="zstd")

    def write(self, table: pa.Table) -> None:
        self._writer.write_table(table, row_group_size=table.num_rows)

    def close(self, metadata: Mapping[str, str]) -> None:
        if metadata:
            self._writer.add_key_value_metadata(dict(metadata))
        self._writer.close()


class _JsonlSink:
    def __init__(self, stream: IO[bytes], schema: pa.Schema) -> None:
        self._stream = stream
        # polars cannot write bytes to JSON: such columns go as text (see _as_text).
        self._texts = _TextColumns(schema, lambda type_: _holds(type_, _is_binary))

    def write(self, table: pa.Table) -> None:
        # polars writes JSON straight from Arrow memory, ~10x faster than json.dumps per row.
        pl.DataFrame(self._texts.apply(table)).write_ndjson(self._stream)

    def close(self, metadata: Mapping[str, str]) -> None:
        """JSONL has no place for metadata."""


class _CsvSink:
    def __init__(self, stream: IO[bytes], schema: pa.Schema) -> None:
        # CSV cells are flat text: nested and binary columns go as text (see _as_text).
        self._texts = _TextColumns(schema, lambda t: pa.types.is_nested(t) or _holds(t, _is_binary))
        self._writer = pa_csv.CSVWriter(stream, self._texts.schema)  # writes the header now

    def write(self, table: pa.Table) -> None:
        self._writer.write_table(self._texts.apply(table))

    def close(self, metadata: Mapping[str, str]) -> None:
        self._writer.close()


class _TextColumns:
    """Turns the columns whose type matches into string columns (values as ``_as_text``)."""

    def __init__(self, schema: pa.Schema, matches: Callable[[pa.DataType], bool]) -> None:
        self.names = {f.name for f in schema if matches(f.type)}
        self.schema = pa.schema(
            [pa.field(f.name, pa.string()) if f.name in self.names else f for f in schema]
        )

    def apply(self, table: pa.Table) -> pa.Table:
        """Return the table with the matching columns as text."""
        if not self.names:
            return table
        arrays = [
            pa.array([_as_text(v) for v in column.to_pylist()], pa.string())
            if name in self.names
            else column
            for name, column in zip(table.column_names, table.columns, strict=True)
        ]
        return pa.Table.from_arrays(arrays, schema=self.schema)


def _as_text(value: Any) -> str | None:
    """Bytes as base64, anything else as compact JSON (bytes inside as base64 too)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dt.date | dt.time):  # datetime is a date
        return value.isoformat()
    return str(value)  # Decimal, timedelta, ...


def _is_binary(type_: pa.DataType) -> bool:
    return bool(
        pa.types.is_binary(type_)
        or pa.types.is_large_binary(type_)
        or pa.types.is_fixed_size_binary(type_)
        or pa.types.is_binary_view(type_)
    )


def _holds(type_: pa.DataType, matches: Callable[[pa.DataType], bool]) -> bool:
    """Whether ``type_`` or any type nested in it matches."""
    if matches(type_):
        return True
    if pa.types.is_dictionary(type_):
        return _holds(type_.value_type, matches)
    return any(_holds(type_.field(i).type, matches) for i in range(type_.num_fields))


_SINKS: dict[str, type[_ParquetSink | _JsonlSink | _CsvSink]] = {
    ".parquet": _ParquetSink,
    ".jsonl": _JsonlSink,
    ".csv": _CsvSink,
}


class OutputWriter:
    """Streams scored windows to a temp file; ``commit`` renames it over OUT atomically."""

    def __init__(
        self,
        path: Path,
        input_schema: pa.Schema,
        judges: Sequence[tuple[str, Sequence[str]]],
        *,
        continuing: Collection[str] = (),
    ) -> None:
        check_output_path(path)
        self.path = path
        self.schema = output_schema(input_schema, judges, continuing=continuing)
        self._input_schema = input_schema.remove_metadata()
        self._judges = [(judge, tuple(criteria)) for judge, criteria in judges]
        self._continuing = frozenset(continuing)
        self._state: Literal["open", "committed", "aborted"] = "open"
        path.parent.mkdir(parents=True, exist_ok=True)
        self._temp, self._stream = _create_temp(path)
        try:
            self._sink: _Sink = _SINKS[path.suffix.lower()](self._stream, self.schema)
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
        if window.num_rows:
            self._sink.write(pa.Table.from_arrays(arrays, schema=self.schema))

    def commit(self, metadata: Mapping[str, str]) -> None:
        """Finish the file (Parquet: store ``metadata``), fsync it and rename it over OUT."""
        self._require_open()
        try:
            self._sink.close(metadata)
            self._stream.flush()
            os.fsync(self._stream.fileno())
            self._stream.close()
            os.replace(self._temp, self.path)
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
        self._stream.close()
        self._temp.unlink(missing_ok=True)


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


def _result_arrays(rows: Sequence[JudgeResult], criteria: tuple[str, ...]) -> list[pa.Array]:
    """One array per ``judge_fields`` column, in the same order (attribute access, not getattr:
    this runs for every row of every judge)."""
    string, float64, int64 = pa.string(), pa.float64(), pa.int64()
    head = [
        pa.array([r.score for r in rows], float64),
        pa.array([r.passed for r in rows], pa.bool_()),
        pa.array([r.reasoning for r in rows], string),
        pa.array([r.confidence for r in rows], float64),
    ]
    tail = [
        pa.array([r.error for r in rows], string),
        pa.array([r.input_tokens for r in rows], int64),
        pa.array([r.output_tokens for r in rows], int64),
        pa.array([r.cost_usd for r in rows], float64),
        pa.array([r.latency_ms for r in rows], float64),
        pa.array([r.model for r in rows], string),
        pa.array([r.response_id for r in rows], string),
    ]
    return [*head, _criteria_array(rows, criteria), *tail] if criteria else [*head, *tail]


def _continuation_arrays(rows: Sequence[JudgeResult]) -> list[pa.Array]:
    """``J_should_continue`` and ``J_next_prompt`` (``CONTINUATION_COLUMNS``)."""
    return [
        pa.array([r.should_continue for r in rows], pa.bool_()),
        pa.array([r.next_prompt for r in rows], pa.string()),
    ]


def _criteria_array(rows: Sequence[JudgeResult], criteria: tuple[str, ...]) -> pa.Array:
    # Only the configured criteria: a template's extra dimensions have no column.
    type_ = pa.struct([pa.field(name, pa.float64()) for name in criteria])
    values: list[dict[str, Any] | None] = [
        None if row.criteria is None else {name: row.criteria.get(name) for name in criteria}
        for row in rows
    ]
    return pa.array(values, type=type_)
