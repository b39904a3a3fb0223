"""Streaming dataset readers: JSONL (optionally gzipped), CSV, Parquet (file, directory, glob).

A dataset is read twice.  ``inspect_dataset`` is a validating pre-pass that runs
before any model call and fails fast with one ``file:line: reason`` line; it
settles the schema every window will have.  ``iter_windows`` then streams the
rows in windows of that schema.  Memory stays bounded whatever the file size;
the duplicate-id check spills to a temporary file (``judgekit.id_check``).

JSONL column types are settled by ``judgekit.jsonl_types`` (rules there).
CSV columns are all text (``judgekit.csv_reader``).

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
"""

from __future__ import annotations

import glob
import gzip
import io
import json
import math
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from json.scanner import make_scanner
from pathlib import Path
from types import NoneType
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from judgekit.csv_reader import count_and_check_ids, csv_schema, csv_tables
from judgekit.errors import DatasetError, UsageError
from judgekit.id_check import DuplicateIds, Duplicates
from judgekit.jsonl_types import CONVERSION_ERRORS, TypeInference, as_string, encode_json

RAW_JSON_KEY = b"judgekit.raw_json"
"""Window schema metadata: JSON ``{column: [JSON text of the input value, or null]}``."""

Format = Literal["jsonl", "parquet", "csv"]

JSONL_SUFFIXES = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")
FORMAT_HINT = "use .jsonl, .ndjson, .jsonl.gz, .csv, .parquet, a directory or a glob of .parquet"
"""An object column with more distinct keys than this is a map, not a record: JSON-encode it."""

_INFER_ROWS = 16_384  # the pre-pass infers types per chunk of rows ...
_INFER_BYTES = 16 << 20  # ... or of bytes, whichever comes first, to bound memory
_ID_BATCH_ROWS = 16_384
_READ_BUFFER_BYTES = 64 << 10


@dataclass(frozen=True, slots=True)
class DatasetInfo:
    """What the pre-pass learned: where the rows are, their schema, count and id column."""

    path: str
    """The dataset path as the user gave it (used in messages)."""
    files: tuple[Path, ...]
    format: Format
    columns: tuple[str, ...]
    """Input column names, in input order (JSONL: order of first appearance)."""
    schema: pa.Schema
    """The schema every window has."""
    rows: int
    """Rows to score (already capped by the pre-pass ``limit``)."""
    id_column: str | None
    """``None`` when the column is absent: the 0-based row index is the id."""
    json_encoded: tuple[str, ...] = ()
    """JSONL string columns whose non-string values are JSON-encoded (mixed types)."""


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
    return info


def iter_windows(
    info: DatasetInfo,
    rows_per_window: int = 10_000,
    limit: int | None = None,
    *,
    with_json: bool = False,
) -> Iterator[pa.Table]:
    """Yield consecutive windows with exactly ``info.schema``, in input order.

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
        yield from _rechunk(_parquet_tables(info, total, rows_per_window), rows_per_window)


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


# --- locating files ---------------------------------------------------------------------------


def _resolve(path: str) -> tuple[tuple[Path, ...], Format]:
    """Turn the user's path into files and a format, or raise a one-line DatasetError."""
    given = Path(path)
    if given.is_dir():
        found = _parquet_under(given)
        if not found:
            raise DatasetError(f"{path}: no .parquet files in this directory")
        return found, "parquet"
    if given.exists():
        fmt = _format_of(given.name)
        if fmt is None:
            raise DatasetError(f"{path}: unsupported dataset format ({FORMAT_HINT})")
        return (given,), fmt
    if any(char in path for char in "*?["):
        matches = sorted(Path(m) for m in glob.glob(path, recursive=True))
        found = tuple(m for m in matches if m.is_file() and _format_of(m.name) == "parquet")
        if not found:
            _refuse_other_files(path, [m for m in matches if m.is_file()])
            raise DatasetError(f"{path}: no .parquet file matches this pattern")
        return found, "parquet"
    raise DatasetError(f"{path}: no such file")


def _refuse_other_files(pattern: str, files: Sequence[Path]) -> None:
    """A glob that matches only JSONL or CSV files: say what to do instead."""
    kinds = Counter(_format_of(file.name) for file in files)
    named: tuple[tuple[Format, str], ...] = (("jsonl", "JSONL"), ("csv", "CSV"))
    for kind, name in named:
        if kinds[kind]:
            joined = "one .jsonl file" if kind == "jsonl" else "one .csv file with one header"
            raise DatasetError(
                f"{pattern}: matches {kinds[kind]} {name} file{'s' if kinds[kind] > 1 else ''};"
                f" a glob or directory reads .parquet files only: join them into {joined}"
                " and score that"
            )


def _format_of(name: str) -> Format | None:
    lower = name.lower()
    if lower.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if lower.endswith(".csv"):
        return "csv"
    if lower.endswith(".parquet"):
        return "parquet"
    return None


def _parquet_under(directory: Path) -> tuple[Path, ...]:
    # Like pyarrow.dataset, skip hidden and "_"-prefixed entries (_SUCCESS, _temporary/).
    found = []
    for file in directory.rglob("*.parquet"):
        parts = file.relative_to(directory).parts
        if file.is_file() and not any(p.startswith((".", "_")) for p in parts):
            found.append(file)
    return tuple(sorted(found))


def _one_line(text: object) -> str:
    """Squeeze a foreign error message onto one printable line (it may echo binary garbage)."""
    printable = "".join(c if c.isprintable() else " " for c in str(text))
    return " ".join(printable.split())


# --- JSONL ------------------------------------------------------------------------------------


# json.loads spends most of its time in Python (encoding detection, two regex matches); the C
# scanner alone parses a line 2-3x faster.  Anything unusual is re-parsed by json.loads, which
# accepts what it accepts and words the error.
class _RepeatedKey(Exception):
    """An object names the same key twice."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook``: the object as a dict; _RepeatedKey when a key comes twice."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _RepeatedKey(key)
            seen.add(key)
    return obj


_scan_json = make_scanner(json.JSONDecoder(object_pairs_hook=_unique_keys))  # type: ignore[arg-type]  # typeshed: duck type
_JSON_KINDS = {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}
_MISSING = object()


def _parse_line(label: str, lineno: int, raw: bytes) -> dict[str, Any] | None:
    """Parse one line into an object; ``None`` for a blank line; DatasetError otherwise."""
    try:
        text = raw.decode("utf-8")
        try:
            obj, end = _scan_json(text, 0)
            if text[end:].strip():
                raise ValueError("extra data")
        except (StopIteration, ValueError):
            if not text.strip():
                return None
            # Without the line break, an error at the end of the line gets this line's column.
            obj = json.loads(
                text.removeprefix("\ufeff").rstrip("\r\n"), object_pairs_hook=_unique_keys
            )
    except _RepeatedKey as exc:
        raise DatasetError(
            f"{label}:{lineno}: key {json.dumps(exc.key, ensure_ascii=False)} appears twice in"
            " one object (JSON readers disagree on which value wins); keep one"
        ) from None
    except UnicodeDecodeError as exc:
        raise DatasetError(
            f"{label}:{lineno}: invalid UTF-8 ({exc.reason} at byte {exc.start})"
        ) from None
    except json.JSONDecodeError as exc:
        raise DatasetError(
            f"{label}:{lineno}: invalid JSON ({exc.msg}: column {exc.colno})"
        ) from None
    if type(obj) is not dict:
        kind = "null" if obj is None else _JSON_KINDS.get(type(obj), type(obj).__name__)
        raise DatasetError(f"{label}:{lineno}: expected a JSON object, got {kind}")
    return obj


def _json_chunks(
    label: str, file: Path, max_rows: int, max_bytes: float, limit: int | None
) -> Iterator[tuple[list[dict[str, Any]], list[int]]]:
    """Yield (objects, their line numbers) in chunks; read no line past ``limit`` objects."""
    objs: list[dict[str, Any]] = []
    lines: list[int] = []
    size = total = 0
    try:
        with _open_binary(file) as stream:
            for lineno, raw in enumerate(stream, 1):
                obj = _parse_line(label, lineno, raw)
                if obj is None:
                    continue
                objs.append(obj)
                lines.append(lineno)
                size += len(raw)
                total += 1
                if len(objs) >= max_rows or size >= max_bytes or total == limit:
                    yield objs, lines
                    objs, lines, size = [], [], 0
                    if total == limit:
                        return
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(f"{label}: {_read_reason(file, exc)}") from None
    if objs:
        yield objs, lines


def _open_binary(file: Path) -> gzip.GzipFile | io.BufferedReader:
    if file.name.lower().endswith(".gz"):
        return gzip.open(file, "rb")
    return file.open("rb")


def _read_reason(file: Path, exc: BaseException) -> str:
    detail = _one_line(exc.strerror if isinstance(exc, OSError) and exc.strerror else exc)
    if file.name.lower().endswith(".gz") and not isinstance(exc, PermissionError):
        return f"invalid gzip file ({detail})"
    return f"cannot read ({detail})"


class _IdCheck:
    """Finds missing, null and duplicate ids (``judgekit.id_check``: memory does not grow)."""

    def __init__(self, label: str, column: str) -> None:
        self.label = label
        self.column = column
        self.ids = DuplicateIds()
        self.present = False
        self.first_missing: int | None = None

    def add_chunk(self, objs: list[dict[str, Any]], lines: list[int]) -> None:
        """Record a chunk of rows; raise at the first missing, null or unhashable id."""
        idents = [obj.get(self.column, _MISSING) for obj in objs]
        if idents.count(_MISSING) == len(idents) and not self.present:
            self.first_missing = self.first_missing or lines[0]
            return
        try:  # fast path, all in C: every id present and non-null
            fresh = set(idents)
            clean = _MISSING not in fresh and None not in fresh
            clean = clean and not any(type(i) is float and i != i for i in fresh)  # NaN
        except TypeError:
            clean = False
        if not (clean and self.first_missing is None):
            for where, ident in zip(lines, idents, strict=True):
                self._check_one(where, ident)
        self.present = True
        self.ids.add(idents)

    def _check_one(self, where: int, ident: Any) -> None:
        if ident is _MISSING:
            if self.present:
                self._fail_missing(where)
            self.first_missing = self.first_missing or where
            return
        if not self.present:
            self.present = True
            if self.first_missing is not None:
                self._fail_missing(self.first_missing)
        if ident is None:
            raise DatasetError(f"{self.label}:{where}: id column '{self.column}' is null")
        if type(ident) is float and math.isnan(ident):
            raise DatasetError(f"{self.label}:{where}: id column '{self.column}' is NaN")
        try:
            hash(ident)
        except TypeError:  # a dict or a list: unhashable, and no sensible id anyway
            kind = "object" if isinstance(ident, dict) else "list"
            raise DatasetError(
                f"{self.label}:{where}: id column '{self.column}' must be a string or a number,"
                f" got {kind}"
            ) from None

    def _fail_missing(self, where: int) -> None:
        raise DatasetError(
            f"{self.label}:{where}: id column '{self.column}' is missing"
            " (give every row an id, or none)"
        )


def _raise_duplicates(path: str, column: str, duplicates: Duplicates) -> None:
    if not duplicates.count:
        return
    named = ", ".join(repr(d) for d in duplicates.first)
    if duplicates.count > len(duplicates.first):
        named += ", ..."
    noun = "id" if duplicates.count == 1 else "ids"
    raise DatasetError(
        f"{path}: duplicate ids in column '{column}': {named}"
        f" ({duplicates.count} duplicated {noun})"
    )


def _inspect_jsonl(path: str, file: Path, id_column: str, limit: int | None) -> DatasetInfo:
    inference = TypeInference()
    ids = _IdCheck(path, id_column)
    rows = 0
    with ids.ids:
        for objs, lines in _json_chunks(path, file, _INFER_ROWS, _INFER_BYTES, limit):
            inference.add_chunk(objs)
            ids.add_chunk(objs, lines)
            rows += len(objs)
        schema, encoded = inference.schema()
        if id_column not in encoded:
            _raise_duplicates(path, id_column, ids.ids.duplicates())
    if ids.present and id_column in encoded:
        _check_ids_as_text(path, file, id_column, limit)
    return DatasetInfo(
        path=path,
        files=(file,),
        format="jsonl",
        columns=tuple(schema.names),
        schema=schema,
        rows=rows,
        id_column=id_column if ids.present else None,
        json_encoded=encoded,
    )


def _check_ids_as_text(path: str, file: Path, id_column: str, limit: int | None) -> None:
    """Ids of mixed types become text (``7`` and ``"7"`` are both ``"7"`` in the output): a
    second pass compares them as that text.  Runs only for such columns."""
    with DuplicateIds(key=as_string) as ids:
        for objs, _ in _json_chunks(path, file, _INFER_ROWS, _INFER_BYTES, limit):
            ids.add([obj[id_column] for obj in objs])
        _raise_duplicates(path, id_column, ids.duplicates())


def _jsonl_windows(
    info: DatasetInfo, rows_per_window: int, total: int, with_json: bool
) -> Iterator[pa.Table]:
    row_type = pa.struct(list(info.schema))
    nested = [f.name for f in info.schema if _holds_struct(f.type)] if with_json else []
    for objs, _ in _json_chunks(info.path, info.files[0], rows_per_window, math.inf, total):
        texts = _json_texts(info, nested, objs) if with_json else {}
        table = _jsonl_table(info, row_type, objs)
        if texts:
            table = table.replace_schema_metadata({RAW_JSON_KEY: json.dumps(texts).encode()})
        yield table


def jsonl_lines_table(info: DatasetInfo, lines: Sequence[str]) -> pa.Table:
    """JSONL lines (read elsewhere, e.g. by Ray Data) as a table of ``info.schema``, parsed
    exactly as ``iter_windows`` parses them; blank lines are skipped; DatasetError."""
    row_type = pa.struct(list(info.schema))
    parsed = (_parse_line(info.path, 0, line.encode("utf-8")) for line in lines)
    return _jsonl_table(info, row_type, [obj for obj in parsed if obj is not None])


def _holds_struct(type_: pa.DataType) -> bool:
    if pa.types.is_struct(type_):
        return True
    return pa.types.is_list(type_) and _holds_struct(type_.value_type)


def _json_texts(
    info: DatasetInfo, nested: Sequence[str], objs: list[dict[str, Any]]
) -> dict[str, list[str | None]]:
    """The JSON text of each value Arrow cannot hold as it came in (module docstring)."""
    texts: dict[str, list[str | None]] = {}
    for name in nested:
        texts[name] = [None if (v := obj.get(name)) is None else _dump(v) for obj in objs]
    for name in info.json_encoded:
        column = [None if type(v := obj.get(name)) in (str, NoneType) else _dump(v) for obj in objs]
        if any(text is not None for text in column):
            texts[name] = column
    return texts


def _dump(value: Any) -> str:
    """A parsed JSON value back as JSON text: numbers keep their digits, NaN stays NaN."""
    return _JSON_TEXT.encode(value)


_JSON_TEXT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # one, not one per value


def _jsonl_table(
    info: DatasetInfo, row_type: pa.StructType, objs: list[dict[str, Any]]
) -> pa.Table:
    for name in info.json_encoded:
        for obj in objs:
            value = obj.get(name)
            if value is not None and type(value) is not str:
                obj[name] = encode_json(value)
    try:  # fast path: one C++ conversion for every column
        return pa.Table.from_struct_array(pa.array(objs, type=row_type))
    except CONVERSION_ERRORS:
        values = {f.name: [obj.get(f.name) for obj in objs] for f in info.schema}
        arrays = [_to_array(info.path, f, values[f.name]) for f in info.schema]
        return pa.Table.from_arrays(arrays, schema=info.schema)


def _to_array(label: str, field: pa.Field, values: list[Any]) -> pa.Array:
    # The pre-pass made every column whose numbers float64 cannot hold exactly a string
    # column, so a refusal here means the data changed.
    try:
        return pa.array(values, type=field.type)
    except CONVERSION_ERRORS as exc:
        raise DatasetError(
            f"{label}: column '{field.name}' no longer has the type {field.type} found by the"
            f" first pass ({_one_line(exc)}); was the file changed while judgekit read it?"
        ) from None


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


# --- Parquet ----------------------------------------------------------------------------------


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


def _parquet_tables(info: DatasetInfo, total: int, batch_rows: int) -> Iterator[pa.Table]:
    """Yield the files' record batches as tables of ``info.schema``, ``total`` rows in all."""
    remaining = total
    for file in info.files:
        for batch in _batches(_label(info.path, info.files, file), file, batch_rows):
            table = _conform(pa.Table.from_batches([batch]), info.schema)
            yield table.slice(0, remaining)
            remaining -= table.num_rows
            if remaining <= 0:
                return


def _batches(
    label: str, file: Path, batch_rows: int, columns: list[str] | None = None
) -> Iterator[pa.RecordBatch]:
    """Stream a Parquet file's record batches; a corrupt page is a DatasetError, not a crash."""
    with _open_parquet(label, file) as parquet:
        # One thread: decoding threads each keep their own allocator pages (memory), and
        # the windows are consumed by one thread anyway.
        batches = parquet.iter_batches(batch_size=batch_rows, columns=columns, use_threads=False)
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
