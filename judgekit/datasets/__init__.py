"""Streaming dataset readers: JSONL (optionally gzipped), CSV, Parquet (file, directory, glob).

A dataset is read twice.  ``inspect_dataset`` is a validating pre-pass that runs
before any model call and fails fast with one ``file:line: reason`` line; it
settles the schema every window will have.  ``iter_windows`` then streams the
rows in windows of that schema.  Memory stays bounded whatever the file size;
the duplicate-id check spills to a temporary file (``judgekit.id_check``).

JSONL column types are settled by ``jsonl_types`` (rules there).
CSV columns are all text (``csv_reader``).

JSONL objects must not repeat a key (JSON readers disagree on which value
wins); ``NaN``, ``Infinity`` and ``-Infinity`` are read as the float values.

Parquet files of a directory or glob are read in sorted path order; their
schemas are unified (missing columns read as null, int32 and int64 give int64)
and the schema metadata of the input is dropped.  Encodings are not types:
where files disagree on a column's type, dictionary-encoded columns read as
their values, and large_string, large_binary and large_list as string, binary
and list, so files written by different tools read as one dataset (a column
every file agrees on keeps its type).

An id that is null or NaN is an error naming its line (JSONL) or row (Parquet).

``iter_windows(..., with_json=True)`` (for JSONL and CSV outputs) attaches to
each JSONL window, under the schema metadata key ``RAW_JSON_KEY``, the JSON text
of every value Arrow cannot give back as it came in: objects (a struct holds
every key any row had; the text holds the keys this row had) and non-string
values of JSON-encoded columns.  ``raw_json`` reads it back.

Modules: ``files`` (locating files), ``info`` (``DatasetInfo``, shared wording),
``jsonl`` (+ ``jsonl_types``), ``csv_reader``, ``parquet``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from judgekit.datasets.csv_reader import count_and_check_ids, csv_schema, csv_tables
from judgekit.datasets.files import FORMAT_HINT, JSONL_SUFFIXES, _resolve
from judgekit.datasets.info import (
    GROUP_KEY,
    RAW_JSON_KEY,
    DatasetInfo,
    Format,
    _raise_duplicates,
)
from judgekit.datasets.jsonl import _inspect_jsonl, _jsonl_windows, jsonl_lines_table
from judgekit.datasets.parquet import _inspect_parquet, _parquet_windows
from judgekit.errors import DatasetError, UsageError
from judgekit.id_check import DuplicateIds
from judgekit.memory import release_free_pages

__all__ = [
    "FORMAT_HINT",
    "GROUP_KEY",
    "JSONL_SUFFIXES",
    "RAW_JSON_KEY",
    "DatasetInfo",
    "Format",
    "inspect_dataset",
    "iter_windows",
    "jsonl_lines_table",
    "raw_json",
    "row_ids",
    "row_values",
]


def inspect_dataset(path: str, id_column: str = "id", limit: int | None = None) -> DatasetInfo:
    """Validate the dataset in one streaming pass and settle its schema; raise DatasetError."""
    if limit is not None and limit < 1:
        raise UsageError(f"--limit must be at least 1, got {limit}")
    files, fmt = _resolve(path)
    if fmt == "jsonl":
        info = _inspect_jsonl(path, files[0], id_column, limit)
    elif fmt == "csv":
        info = _inspect_csv(path, files[0], id_column, limit)
    else:
        info = _inspect_parquet(path, files, id_column, limit)
    if info.rows == 0:
        raise DatasetError(f"{path}: dataset is empty (no rows)")
    # The duplicate-id check freed its buckets between long-lived blocks: give those pages
    # back before the run, or they stay resident under it (~5 MB at 10,000,000 rows).
    release_free_pages()
    return info


def iter_windows(
    info: DatasetInfo,
    rows_per_window: int = 10_000,
    limit: int | None = None,
    *,
    with_json: bool = False,
) -> Iterator[pa.Table]:
    """Yield consecutive windows with exactly ``info.schema``, in input order, of
    ``rows_per_window`` rows; a Parquet row group's last window may have fewer (windows
    never span a row group: ``datasets.parquet``).

    ``with_json``: attach the input's JSON text where Arrow cannot give a JSONL value
    back as it came in (module docstring); costs one ``json.dumps`` per such value."""
    if rows_per_window < 1:
        raise ValueError(f"rows_per_window must be at least 1, got {rows_per_window}")
    total = info.rows if limit is None else min(info.rows, limit)
    if total <= 0:
        return
    if info.format == "jsonl":
        yield from _jsonl_windows(info, rows_per_window, total, with_json)
    elif info.format == "csv":
        tables = csv_tables(info.path, info.files[0], info.schema, total)
        yield from _rechunk(tables, rows_per_window)
    else:
        yield from _parquet_windows(info, total, rows_per_window)


def row_values(window: pa.Table, columns: Sequence[str]) -> list[dict[str, Any]]:
    """Return the Python values of ``columns`` for each row of the window."""
    if not columns:
        return [{} for _ in range(window.num_rows)]
    rows: list[dict[str, Any]] = window.select(list(columns)).to_pylist()
    return rows


def raw_json(window: pa.Table) -> dict[str, list[str | None]]:
    """The JSON texts ``iter_windows(with_json=True)`` attached to a window, by column."""
    metadata = window.schema.metadata or {}
    text = metadata.get(RAW_JSON_KEY)
    if text is None:
        return {}
    found: dict[str, list[str | None]] = json.loads(text)
    return found


def row_ids(info: DatasetInfo, window: pa.Table, start: int) -> list[Any]:
    """Return each row's id: the id column's value, or the 0-based row index from ``start``."""
    if info.id_column is None:
        return list(range(start, start + window.num_rows))
    ids: list[Any] = window.column(info.id_column).to_pylist()
    return ids


# --- CSV --------------------------------------------------------------------------------------


def _inspect_csv(path: str, file: Path, id_column: str, limit: int | None) -> DatasetInfo:
    schema = csv_schema(path, file)
    has_ids = id_column in schema.names
    with DuplicateIds() as ids:
        rows = count_and_check_ids(path, file, schema, id_column if has_ids else None, limit, ids)
        _raise_duplicates(path, id_column, ids.duplicates())
    return DatasetInfo(
        path=path,
        files=(file,),
        format="csv",
        columns=tuple(schema.names),
        schema=schema,
        rows=rows,
        id_column=id_column if has_ids else None,
    )


def _rechunk(tables: Iterable[pa.Table], rows_per_window: int) -> Iterator[pa.Table]:
    """Regroup a stream of tables into tables of exactly ``rows_per_window`` rows (last: fewer)."""
    pending: list[pa.Table] = []
    pending_rows = 0
    for table in tables:
        pending.append(table)
        pending_rows += table.num_rows
        while pending_rows >= rows_per_window:
            merged = pa.concat_tables(pending)
            yield merged.slice(0, rows_per_window).combine_chunks()
            rest = merged.slice(rows_per_window)
            pending, pending_rows = [rest], rest.num_rows
    if pending_rows:
        yield pa.concat_tables(pending).combine_chunks()
