"""The Parquet reader: a file, or the files of a directory or glob read as one dataset.

Files are read in sorted path order; their schemas are unified (rules in the
package docstring) and the id column is streamed alone for its check.  Windows never
span a row group: a small row group is read whole and cut into windows that share its
memory (``GROUP_ROWS``), a large one is streamed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from judgekit.datasets.info import GROUP_KEY, DatasetInfo, _one_line, _raise_duplicates
from judgekit.errors import DatasetError
from judgekit.id_check import DuplicateIds

_ID_BATCH_ROWS = 4_096
"""The id check reads this many ids at a time: 16,384 left ~1 MB more resident after it
(Python ints freed between longer-lived ones) for the whole run."""
_READ_BUFFER_BYTES = 64 << 10
_GROUP_BATCH_ROWS = 8_192
"""A column of a row group read whole comes in chunks of this many rows: no one buffer
regrown (and copied) to the column's size."""
GROUP_ROWS = 65_536
GROUP_BYTES = 8 << 20
"""A row group of at most this many rows and bytes (uncompressed, as its metadata says, and
as its values take in memory) is read whole, a column at a time, instead of streamed.  A
stream keeps every column's dictionary and page buffers at once: ~9.5 MB on the
benchmark's 4 columns in 1 MiB pages, where its whole 65,536-row group is 5 MB; and the
output's row group then holds the group's own memory, not a copy (``output_sinks``)."""


def _label(info_path: str, files: Sequence[Path], file: Path) -> str:
    """Name a single file as the user gave it, a file of a directory or glob by its own path."""
    return info_path if len(files) == 1 and Path(info_path) == file else str(file)


def _open_parquet(label: str, file: Path) -> pq.ParquetFile:
    # Read a column chunk through a 64 KiB buffer instead of all of a row group at once:
    # memory then follows the window size more than the writer's row group size (a 1 MiB
    # buffer per column held ~2 MB more on the benchmark's 4 columns, for no speed).
    try:
        return pq.ParquetFile(file, pre_buffer=False, buffer_size=_READ_BUFFER_BYTES)
    except (OSError, pa.ArrowException) as exc:
        raise DatasetError(f"{label}: unreadable Parquet file ({_one_line(exc)})") from None


def _inspect_parquet(
    path: str, files: tuple[Path, ...], id_column: str, limit: int | None
) -> DatasetInfo:
    schemas: list[pa.Schema] = []
    rows = 0
    for file in files:
        with _open_parquet(_label(path, files, file), file) as parquet:
            schemas.append(parquet.schema_arrow.remove_metadata())
            rows += parquet.metadata.num_rows
    schemas = _plain_where_different(schemas)
    schema = _unify_schemas(path, files, schemas)
    rows = rows if limit is None else min(rows, limit)
    has_ids = id_column in schema.names
    if has_ids:
        _check_parquet_ids(path, files, schemas, id_column, rows)
    return DatasetInfo(
        path=path,
        files=files,
        format="parquet",
        columns=tuple(schema.names),
        schema=schema,
        rows=rows,
        id_column=id_column if has_ids else None,
    )


def _plain_where_different(schemas: list[pa.Schema]) -> list[pa.Schema]:
    """Drop the encodings of the columns whose type differs between files (the same data
    then has the same type in every file); a column every file agrees on keeps its type."""
    types: dict[str, set[pa.DataType]] = {}
    for schema in schemas:
        for field in schema:
            types.setdefault(field.name, set()).add(field.type)
    differ = {name for name, found in types.items() if len(found) > 1}
    if not differ:
        return schemas
    return [
        pa.schema([f.with_type(_plain_type(f.type)) if f.name in differ else f for f in schema])
        for schema in schemas
    ]


def _plain_type(type_: pa.DataType) -> pa.DataType:
    """Dictionary -> its values; large_string/large_binary/large_list and views -> the plain
    ones (a window of a few thousand rows never needs 64-bit offsets)."""
    if pa.types.is_dictionary(type_):
        return _plain_type(type_.value_type)
    if pa.types.is_large_string(type_) or pa.types.is_string_view(type_):
        return pa.string()
    if pa.types.is_large_binary(type_) or pa.types.is_binary_view(type_):
        return pa.binary()
    if pa.types.is_list(type_) or pa.types.is_large_list(type_) or pa.types.is_list_view(type_):
        return pa.list_(type_.value_field.with_type(_plain_type(type_.value_type)))
    if pa.types.is_struct(type_):
        return pa.struct([f.with_type(_plain_type(f.type)) for f in type_])
    return type_


def _unify_schemas(path: str, files: Sequence[Path], schemas: list[pa.Schema]) -> pa.Schema:
    for file, schema in zip(files[1:], schemas[1:], strict=True):
        try:
            pa.unify_schemas([schemas[0], schema], promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise DatasetError(
                f"{file}: columns do not match {files[0]} ({_one_line(exc)});"
                " give every file the same column types"
            ) from None
    unified: pa.Schema = pa.unify_schemas(schemas, promote_options="permissive")
    return unified


def _check_parquet_ids(
    path: str, files: Sequence[Path], schemas: Sequence[pa.Schema], column: str, rows: int
) -> None:
    """Stream the id column only: no nulls, no nested ids, no duplicates."""
    remaining = rows
    with DuplicateIds() as ids:
        for file, schema in zip(files, schemas, strict=True):
            if remaining <= 0:
                break
            remaining -= _check_parquet_file_ids(path, files, file, schema, column, remaining, ids)
        _raise_duplicates(path, column, ids.duplicates())


def _check_parquet_file_ids(
    path: str,
    files: Sequence[Path],
    file: Path,
    schema: pa.Schema,
    column: str,
    remaining: int,
    ids: DuplicateIds,
) -> int:
    """Check one file's ids (up to ``remaining``) and feed them to ``ids``; the rows read."""
    label = _label(path, files, file)
    if column not in schema.names:
        raise DatasetError(
            f"{label}: id column '{column}' is missing (other files have it;"
            " give every file an id column, or none)"
        )
    id_type = schema.field(column).type
    if pa.types.is_nested(id_type):
        raise DatasetError(
            f"{label}: id column '{column}' has type {id_type}; ids must be strings or numbers"
        )
    offset = 0
    for batch in _batches(label, file, _ID_BATCH_ROWS, columns=[column]):
        values = batch.column(0).slice(0, remaining - offset).to_pylist()
        if None in values or any(type(v) is float and v != v for v in values):
            for index, value in enumerate(values):
                if value is None or (type(value) is float and math.isnan(value)):
                    what = "null" if value is None else "NaN"
                    raise DatasetError(
                        f"{label}: row {offset + index + 1}: id column '{column}' is {what}"
                    )
        ids.add(values)
        offset += len(values)
        if offset >= remaining:
            break
    return offset


def _parquet_windows(info: DatasetInfo, total: int, rows_per_window: int) -> Iterator[pa.Table]:
    """Yield windows of ``info.schema``, ``total`` rows in all, that never span a row group.

    A row group of at most ``GROUP_ROWS`` rows and ``GROUP_BYTES`` is read whole, one column
    at a time, and cut into windows that share its memory (marked with ``GROUP_KEY``); a
    larger one is streamed in windows of their own."""
    remaining = total
    for file in info.files:
        label = _label(info.path, info.files, file)
        with _open_parquet(label, file) as parquet:
            for index in range(parquet.metadata.num_row_groups):
                if remaining <= 0:
                    return
                group = parquet.metadata.row_group(index)
                whole = None
                if group.num_rows <= GROUP_ROWS and group.total_byte_size <= GROUP_BYTES:
                    whole = _read_group(label, parquet, index)
                if whole is not None:
                    table = _conform(whole, info.schema).slice(0, remaining)
                    del whole
                    remaining -= table.num_rows
                    yield from _group_windows(table, rows_per_window)
                    del table  # before the next group is read: the output may free it now
                    continue
                for batch in _group_batches(label, parquet, index, rows_per_window):
                    table = _conform(pa.Table.from_batches([batch]), info.schema)
                    yield table.slice(0, remaining)
                    remaining -= table.num_rows
                    if remaining <= 0:
                        return


def _read_group(label: str, parquet: pq.ParquetFile, index: int) -> pa.Table | None:
    """Row group ``index`` as one table, read a column at a time (a column's reader, its
    dictionary and page buffers, is gone before the next one starts); None once its values
    pass ``GROUP_BYTES``, which its metadata cannot tell (a dictionary-encoded text repeated
    on every row is small on disk, large in memory): the caller streams it instead."""
    schema = parquet.schema_arrow
    columns: dict[str, pa.ChunkedArray] = {}
    held_bytes = 0
    try:
        for field in _largest_first(parquet, index):
            chunks = []
            for batch in parquet.iter_batches(
                batch_size=_GROUP_BATCH_ROWS,
                row_groups=[index],
                columns=[field.name],
                use_threads=False,
            ):
                chunks.append(batch.column(0))
                held_bytes += batch.nbytes
                if held_bytes > GROUP_BYTES:
                    return None
            columns[field.name] = pa.chunked_array(chunks, type=field.type)
    except (OSError, pa.ArrowException) as exc:
        raise DatasetError(f"{label}: unreadable Parquet file ({_one_line(exc)})") from None
    return pa.Table.from_arrays([columns[name] for name in schema.names], schema=schema)


def _largest_first(parquet: pq.ParquetFile, index: int) -> list[pa.Field]:
    """Row group ``index``'s top-level fields, the largest (uncompressed, as its metadata says)
    first: a column's reader holds its dictionary and pages (~2.5 MB for a 2 MB text column)
    while the columns read before it are held too, so the large ones go while little is."""
    group = parquet.metadata.row_group(index)
    sizes: dict[str, int] = {}
    for position in range(group.num_columns):
        column = group.column(position)
        top = column.path_in_schema.split(".")[0]
        sizes[top] = sizes.get(top, 0) + column.total_uncompressed_size
    schema = parquet.schema_arrow
    return sorted(schema, key=lambda field: -sizes.get(field.name, 0))


def _group_windows(table: pa.Table, rows_per_window: int) -> Iterator[pa.Table]:
    """Cut a row group read whole into windows (slices: no copy), each marked ``more``
    and the last ``last`` under ``GROUP_KEY``."""
    for start in range(0, table.num_rows, rows_per_window):
        last = start + rows_per_window >= table.num_rows
        window = table.slice(start, rows_per_window)
        yield window.replace_schema_metadata({GROUP_KEY: b"last" if last else b"more"})


def _group_batches(
    label: str, parquet: pq.ParquetFile, index: int, batch_rows: int
) -> Iterator[pa.RecordBatch]:
    """Stream row group ``index``'s record batches; a corrupt page is a DatasetError."""
    batches = parquet.iter_batches(batch_size=batch_rows, row_groups=[index], use_threads=False)
    yield from _readable(label, batches)


def _batches(
    label: str, file: Path, batch_rows: int, columns: list[str] | None = None
) -> Iterator[pa.RecordBatch]:
    """Stream a Parquet file's record batches; a corrupt page is a DatasetError, not a crash."""
    with _open_parquet(label, file) as parquet:
        # One thread: decoding threads each keep their own allocator pages (memory), and
        # the windows are consumed by one thread anyway.
        batches = parquet.iter_batches(batch_size=batch_rows, columns=columns, use_threads=False)
        yield from _readable(label, batches)


def _readable(label: str, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """``batches`` as they come; a corrupt page is a DatasetError naming ``label``."""
    while True:
        try:
            batch = next(batches, None)
        except (OSError, pa.ArrowException) as exc:
            raise DatasetError(f"{label}: unreadable Parquet file ({_one_line(exc)})") from None
        if batch is None:
            return
        yield batch


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Reorder, add missing columns as nulls and cast to the unified schema."""
    arrays = []
    for field in schema:
        if field.name in table.column_names:
            column = table.column(field.name)
            arrays.append(column if column.type.equals(field.type) else column.cast(field.type))
        else:
            arrays.append(pa.nulls(table.num_rows, type=field.type))
    return pa.Table.from_arrays(arrays, schema=schema)
