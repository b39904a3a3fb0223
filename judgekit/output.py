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
"""

from __future__ import annotations

import base64
import contextlib
import glob
import gzip
import json
import os
import secrets
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal, Protocol, cast

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from judgekit.datasets import raw_json
from judgekit.errors import OutputError, UsageError
from judgekit.json_text import json_default, json_lines, non_finite
from judgekit.memory import release_free_pages
from judgekit.output_paths import check_directory, describe_os_error
from judgekit.records import JudgeResult

OUTPUT_SUFFIXES = (".parquet", ".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz", ".csv")
"""What OUT may end in: every format ``score`` reads back as an input too."""
_FORMATS_HINT = "use .parquet, .jsonl, .ndjson, .jsonl.gz or .csv"
THRESHOLDS_KEY = "judgekit.thresholds"
"""Parquet metadata key: JSON object judge name -> the threshold its ``J_passed`` used."""


def output_suffix(path: Path) -> str | None:
    """The entry of ``OUTPUT_SUFFIXES`` that ``path`` ends in (case-insensitive), or None."""
    name = path.name.lower()
    return next((suffix for suffix in OUTPUT_SUFFIXES if name.endswith(suffix)), None)


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

SAMPLING_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("score_stddev", pa.float64()),
    ("vote_share", pa.float64()),
)
"""After those, for a judge with ``samples`` > 1 only (``engine.sampling``)."""

PAIRWISE_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("winner", pa.string()),
    ("position_consistent", pa.bool_()),
)
"""Last, for a judge with the ``pairwise`` template only (``engine.pairwise``)."""


def judge_fields(
    judge: str,
    criteria: Sequence[str],
    *,
    continuation: bool = False,
    sampling: bool = False,
    pairwise: bool = False,
) -> list[pa.Field]:
    """Return the ``{judge}_*`` output fields, in order; ``J_criteria`` only with criteria,
    ``J_should_continue`` and ``J_next_prompt`` only with ``continuation``,
    ``SAMPLING_COLUMNS`` only with ``sampling``, ``PAIRWISE_COLUMNS`` only with ``pairwise``."""
    fields = []
    for attribute, type_ in _RESULT_COLUMNS:
        if type_ is None:
            if not criteria:
                continue
            type_ = pa.struct([pa.field(name, pa.float64()) for name in criteria])
        fields.append(pa.field(f"{judge}_{attribute}", type_))
    if continuation:
        fields += [pa.field(f"{judge}_{name}", type_) for name, type_ in CONTINUATION_COLUMNS]
    if sampling:
        fields += [pa.field(f"{judge}_{name}", type_) for name, type_ in SAMPLING_COLUMNS]
    if pairwise:
        fields += [pa.field(f"{judge}_{name}", type_) for name, type_ in PAIRWISE_COLUMNS]
    return fields


def output_schema(
    input_schema: pa.Schema,
    judges: Sequence[tuple[str, Sequence[str]]],
    *,
    continuing: Collection[str] = (),
    sampling: Collection[str] = (),
    pairwise: Collection[str] = (),
) -> pa.Schema:
    """Return the input fields then each judge's fields; UsageError when a name is taken twice.

    ``continuing`` names the judges with ``continue_conversation``, ``sampling`` those with
    ``samples`` > 1, ``pairwise`` those with the ``pairwise`` template."""
    fields = list(input_schema.remove_metadata())
    taken = set(input_schema.names)
    for judge, criteria in judges:
        extra = {"sampling": judge in sampling, "pairwise": judge in pairwise}
        for field in judge_fields(judge, criteria, continuation=judge in continuing, **extra):
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
    if path.is_dir():  # before the suffix: `-o out/` is a directory, not a format
        example = path / "scored.parquet"
        raise UsageError(f"{path}: is a directory; give a file name, e.g. -o {example}")
    if output_suffix(path) is None:
        raise UsageError(f"{path}: unsupported output format ({_FORMATS_HINT})")
    check_directory(path)


class _Sink(Protocol):
    def write(self, table: pa.Table) -> None: ...

    def close(self, metadata: Mapping[str, str]) -> None: ...


ROW_GROUP_ROWS = 65_536
ROW_GROUP_BYTES = 4 << 20
"""A Parquet row group closes at this many rows or bytes, whichever comes first."""
DICTIONARY_PAGE_BYTES = 128 << 10
"""A column's dictionary grows to this size at most, then the column is written plain:
a column of few distinct values (labels, models, errors) keeps its dictionary, one of
mostly distinct texts gives it up early.  pyarrow's 1 MiB default held ~2 MB more while
a row group was written, and made the benchmark's output larger, not smaller."""


class _ParquetSink:
    """Windows gathered into row groups of ``ROW_GROUP_ROWS``: the writer keeps ~10-30 KB of
    metadata per row group until it closes, so a row group per 2,000-row window grew memory
    with the dataset (+140 MB at 10,000,000 rows)."""

    def __init__(self, stream: IO[bytes], schema: pa.Schema) -> None:
        self._writer = pq.ParquetWriter(
            stream, schema, compression="zstd", dictionary_pagesize_limit=DICTIONARY_PAGE_BYTES
        )
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._pending_bytes = 0

    def write(self, table: pa.Table) -> None:
        self._pending.append(table)
        self._pending_rows += table.num_rows
        self._pending_bytes += table.nbytes
        if self._pending_rows >= ROW_GROUP_ROWS or self._pending_bytes >= ROW_GROUP_BYTES:
            self._flush()

    def _flush(self) -> None:
        if not self._pending_rows:
            return
        # The windows' chunks are written as they are: no copy into one table.
        group = pa.concat_tables(self._pending)
        self._pending, self._pending_rows, self._pending_bytes = [], 0, 0
        self._writer.write_table(group, row_group_size=group.num_rows)
        del group
        release_free_pages()

    def close(self, metadata: Mapping[str, str]) -> None:
        self._flush()
        if metadata:
            self._writer.add_key_value_metadata(dict(metadata))
        self._writer.close()


class _JsonlSink:
    def __init__(self, stream: IO[bytes], schema: pa.Schema) -> None:
        self._stream = stream
        # polars cannot write bytes to JSON: such columns go as text (see _as_text).
        self._texts = _TextColumns(schema, lambda type_: _holds(type_, _is_binary))
        self._floats = [f.name for f in schema if _holds(f.type, pa.types.is_floating)]

    def write(self, table: pa.Table) -> None:
        texts = raw_json(table)
        table = self._texts.apply(table)
        if texts or any(non_finite(table.column(name)) for name in self._floats):
            # polars would add every key of a struct and write NaN as null: go row by row.
            self._stream.write(json_lines(table, texts).encode("utf-8"))
            return
        # polars writes JSON straight from Arrow memory, ~10x faster than json.dumps per row.
        # Imported here: ~30 MB of memory that a Parquet or CSV output never needs.
        import polars as pl

        pl.DataFrame(table).write_ndjson(self._stream)

    def close(self, metadata: Mapping[str, str]) -> None:
        """JSONL has no place for metadata."""


class _CsvSink:
    def __init__(self, stream: IO[bytes], schema: pa.Schema) -> None:
        # CSV cells are flat text: nested and binary columns go as text (see _as_text).
        self._texts = _TextColumns(schema, lambda t: pa.types.is_nested(t) or _holds(t, _is_binary))
        self._writer = pa_csv.CSVWriter(stream, self._texts.schema)  # writes the header now

    def write(self, table: pa.Table) -> None:
        self._writer.write_table(self._texts.apply(table, raw_json(table)))

    def close(self, metadata: Mapping[str, str]) -> None:
        self._writer.close()


class _TextColumns:
    """Turns the columns whose type matches into string columns (values as ``_as_text``)."""

    def __init__(self, schema: pa.Schema, matches: Callable[[pa.DataType], bool]) -> None:
        self.names = {f.name for f in schema if matches(f.type)}
        self.schema = pa.schema(
            [pa.field(f.name, pa.string()) if f.name in self.names else f for f in schema]
        )

    def apply(
        self, table: pa.Table, texts: Mapping[str, list[str | None]] | None = None
    ) -> pa.Table:
        """Return the table with the matching columns as text (``texts``: the input's JSON,
        used where given)."""
        if not self.names:
            return table
        texts = texts or {}
        arrays = [
            pa.array(_column_text(column.to_pylist(), texts.get(name)), pa.string())
            if name in self.names
            else column
            for name, column in zip(table.column_names, table.columns, strict=True)
        ]
        return pa.Table.from_arrays(arrays, schema=self.schema)


def _column_text(values: list[Any], given: list[str | None] | None) -> list[str | None]:
    if given is None:
        return [_as_text(v) for v in values]
    return [_as_text(v) if text is None else text for v, text in zip(values, given, strict=True)]


def _as_text(value: Any) -> str | None:
    """Bytes as base64, anything else as compact JSON (bytes inside as base64 too)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=json_default)


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


class _GzipJsonlSink:
    def __init__(self, stream: IO[bytes], schema: pa.Schema) -> None:
        # filename="" and mtime=0: the header names no temp file and carries no clock.
        self._gzip = gzip.GzipFile(filename="", mode="wb", fileobj=stream, mtime=0)
        self._jsonl = _JsonlSink(cast(IO[bytes], self._gzip), schema)

    def write(self, table: pa.Table) -> None:
        self._jsonl.write(table)

    def close(self, metadata: Mapping[str, str]) -> None:
        """Write the gzip trailer; JSONL has no place for metadata."""
        self._gzip.close()


_SINKS: dict[str, type[_ParquetSink | _JsonlSink | _GzipJsonlSink | _CsvSink]] = {
    ".parquet": _ParquetSink,
    ".jsonl": _JsonlSink,
    ".ndjson": _JsonlSink,
    ".jsonl.gz": _GzipJsonlSink,
    ".ndjson.gz": _GzipJsonlSink,
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
            self._sink: _Sink = _SINKS[output_suffix(path) or ""](self._stream, self.schema)
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


def judge_arrays(
    judges: Sequence[tuple[str, Sequence[str]]], results: Mapping[str, Sequence[JudgeResult]]
) -> list[pa.Array]:
    """Every judge's columns for one window, in ``output_schema`` order."""
    arrays: list[pa.Array] = []
    for judge, criteria in judges:
        arrays.extend(_result_arrays(results[judge], tuple(criteria)))
    return arrays


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


def _sampling_arrays(rows: Sequence[JudgeResult]) -> list[pa.Array]:
    """``J_score_stddev`` and ``J_vote_share`` (``SAMPLING_COLUMNS``)."""
    return [
        pa.array([r.score_stddev for r in rows], pa.float64()),
        pa.array([r.vote_share for r in rows], pa.float64()),
    ]


def _pairwise_arrays(rows: Sequence[JudgeResult]) -> list[pa.Array]:
    """``J_winner`` and ``J_position_consistent`` (``PAIRWISE_COLUMNS``)."""
    return [
        pa.array([r.winner for r in rows], pa.string()),
        pa.array([r.position_consistent for r in rows], pa.bool_()),
    ]


def _criteria_array(rows: Sequence[JudgeResult], criteria: tuple[str, ...]) -> pa.Array:
    # Only the configured criteria: a template's extra dimensions have no column.
    type_ = pa.struct([pa.field(name, pa.float64()) for name in criteria])
    values: list[dict[str, Any] | None] = [
        None if row.criteria is None else {name: row.criteria.get(name) for name in criteria}
        for row in rows
    ]
    return pa.array(values, type=type_)


def thresholds_metadata(thresholds: Mapping[str, float]) -> dict[str, str]:
    """The ``judgekit.thresholds`` metadata entry: ``{"correctness": 0.7, ...}`` as JSON."""
    return {THRESHOLDS_KEY: json.dumps(dict(thresholds), sort_keys=True)}


def read_thresholds(path: Path) -> dict[str, float]:
    """Judge -> threshold recorded in a Parquet output's metadata; empty when the file is
    not Parquet, predates the record, or holds something else under the key."""
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
