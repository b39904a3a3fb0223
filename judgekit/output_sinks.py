"""The sinks: how windows of output rows are encoded into the temp file, one per format.

Parquet: zstd, row groups of ``ROW_GROUP_ROWS``, the run's metadata in the footer.
JSONL (gzipped too) and CSV: each value as it came in where the window carries the
input's JSON text, binary values as base64 (formats: ``judgekit.output`` docstring).
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any, Protocol, TypeVar, cast

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from judgekit.datasets import GROUP_KEY, raw_json
from judgekit.json_text import json_default, json_lines, non_finite
from judgekit.memory import release_free_pages


class _Sink(Protocol):
    def write(self, table: pa.Table) -> None: ...

    def close(self, metadata: Mapping[str, str]) -> None: ...


_T = TypeVar("_T")

ROW_GROUP_ROWS = 65_536
ROW_GROUP_BYTES = 4 << 20
"""A Parquet row group closes at this many rows or bytes, whichever comes first."""
GROUP_END_BYTES = 1 << 20
"""Where an input row group read whole ends, the row group closes once it holds this much
(input and judge columns): tiny input groups are still gathered into one."""
DICTIONARY_PAGE_BYTES = 32 << 10
"""A column's dictionary grows to this size at most, then the column is written plain:
a column of few distinct values (labels, models, errors) keeps its dictionary, one of
mostly distinct texts gives it up early.  Until it does, the writer holds the column's
encoded pages back: pyarrow's 1 MiB default held ~2 MB more while a row group was
written, 128 KiB still ~2 MB on the benchmark's texts, 32 KiB ~0.5 MB."""
DATA_PAGE_BYTES = 128 << 10
"""A data page closes at this size (pyarrow's default: 1 MiB); the writer holds a page and
its compressed copy at once.  With both settings the benchmark's 1,000,000-row output is
5.9 MB, where 128 KiB dictionaries in 1 MiB pages made 6.1 MB."""


class _ParquetSink:
    """Windows gathered into row groups of ``ROW_GROUP_ROWS``: the writer keeps ~10-30 KB of
    metadata per row group until it closes, so a row group per 2,000-row window grew memory
    with the dataset (+140 MB at 10,000,000 rows).

    A window cut from an input row group read whole (``datasets.GROUP_KEY``) holds that
    group's memory, not its own: only its judge columns (after the first ``input_columns``)
    count towards ``ROW_GROUP_BYTES``, and the row group is written where the input's ends
    (once ``GROUP_END_BYTES`` are gathered), so the input's group is freed before the next
    one is read.

    The writer encodes in a thread of its own, so in a C heap (a glibc malloc arena) of its
    own: the ~14 KB of metadata it keeps per row group until it closes is then not strewn
    between the reader's and the engine's short-lived blocks, where each piece kept a page
    resident (resident growth per 65,536-row group: ~42 KB in the main heap, ~23 KB in its
    own, over 3,000,000 rows).  One call at a time, each waited for: the same order and
    errors as in the calling thread."""

    def __init__(self, stream: IO[bytes], schema: pa.Schema, input_columns: int = 0) -> None:
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="judgekit-parquet")
        self._writer = pq.ParquetWriter(
            stream,
            schema,
            compression="zstd",
            dictionary_pagesize_limit=DICTIONARY_PAGE_BYTES,
            data_page_size=DATA_PAGE_BYTES,
        )
        self._input_columns = input_columns
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._pending_bytes = 0
        """What the gathered windows hold on their own (not an input group's memory)."""
        self._group_bytes = 0
        """The input groups' memory they hold."""
        self._seen: set[int] = set()
        """Addresses of the buffers the gathered windows hold (``_new_bytes``)."""

    def write(self, table: pa.Table) -> None:
        mark = (table.schema.metadata or {}).get(GROUP_KEY)
        if mark is None:
            own = self._new_bytes(table)
        else:
            judged = table.columns[self._input_columns :]
            # Each buffer once: an all-null column (one buffer) counts as its bitmap; an
            # all-zero one, shared by every window (output_columns), in full (over the mark).
            own = sum(column.get_total_buffer_size() for column in judged)
            self._group_bytes += table.nbytes - sum(column.nbytes for column in judged)
        self._pending.append(table)
        self._pending_rows += table.num_rows
        self._pending_bytes += own
        if (
            self._pending_rows >= ROW_GROUP_ROWS
            or self._pending_bytes >= ROW_GROUP_BYTES
            or (mark == b"last" and self._pending_bytes + self._group_bytes >= GROUP_END_BYTES)
        ):
            self._flush()

    def _new_bytes(self, table: pa.Table) -> int:
        """The bytes of the table's buffers that no gathered window holds already: the
        all-null and all-zero judge columns every window shares (``output_columns``) count
        once, so a row group of a JSONL or CSV input gathers ~1.5x the rows in the same memory
        (fewer row groups: less writer metadata kept)."""
        seen, new = self._seen, 0
        for column in table.columns:
            for chunk in column.chunks:
                for buffer in chunk.buffers():
                    if buffer is not None and buffer.address not in seen:
                        seen.add(buffer.address)
                        new += buffer.size
        return new

    def _flush(self) -> None:
        self._seen.clear()  # the gathered windows' buffers, alive until they are written
        if not self._pending_rows:
            return
        # The windows' chunks are written as they are: no copy into one table.
        group = pa.concat_tables(self._pending).replace_schema_metadata(None)
        self._pending, self._pending_rows = [], 0
        self._pending_bytes = self._group_bytes = 0
        self._in_thread(self._writer.write_table, group, group.num_rows)
        del group
        release_free_pages()

    def close(self, metadata: Mapping[str, str]) -> None:
        try:
            self._flush()
            if metadata:
                self._writer.add_key_value_metadata(dict(metadata))
            self._in_thread(self._writer.close)
        finally:
            # After a call the caller stopped waiting for (Ctrl-C): that call ends first.
            self._thread.shutdown(wait=True)

    def _in_thread(self, call: Callable[..., _T], *args: Any) -> _T:
        """``call(*args)`` in the writer's thread; its exception raised here."""
        return self._thread.submit(call, *args).result()


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


def open_sink(suffix: str, stream: IO[bytes], schema: pa.Schema, input_columns: int) -> _Sink:
    """The sink of OUT's ``suffix`` (an entry of ``_SINKS``); ``schema`` starts with the
    ``input_columns`` input columns."""
    if suffix == ".parquet":
        return _ParquetSink(stream, schema, input_columns)
    return _SINKS[suffix](stream, schema)


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
