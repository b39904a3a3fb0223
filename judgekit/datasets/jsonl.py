"""The JSONL reader (optionally gzipped): one object per line, its id check, its windows.

Objects must not repeat a key (JSON readers disagree on which value wins);
``NaN``, ``Infinity`` and ``-Infinity`` are read as the float values.  Column
types are settled by ``judgekit.datasets.jsonl_types`` (rules there).
"""

from __future__ import annotations

import gzip
import io
import json
import math
import re
import zlib
from collections.abc import Iterator, Sequence
from json.scanner import make_scanner
from pathlib import Path
from types import NoneType
from typing import Any

import pyarrow as pa

from judgekit.datasets.info import RAW_JSON_KEY, DatasetInfo, _one_line, _raise_duplicates
from judgekit.datasets.jsonl_types import (
    CONVERSION_ERRORS,
    TypeInference,
    as_string,
    encode_json,
)
from judgekit.errors import DatasetError
from judgekit.id_check import DuplicateIds
from judgekit.unicode_text import lone_surrogate

# The pre-pass parses a chunk of rows into Python objects at once: ~0.5 KB a row, so 16,384
# rows held ~23 MB more at 1,000,000 rows than at 1,000; 2,048 is about a run's window.
_INFER_ROWS = 2_048  # the pre-pass infers types per chunk of rows ...
_INFER_BYTES = 16 << 20  # ... or of bytes, whichever comes first, to bound memory


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


class _TooLarge(Exception):
    """A number too large for a 64-bit float (``1e400``): it would read as infinity."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def _finite_float(text: str) -> float:
    """``parse_float``: the number, unless it overflows to infinity (_TooLarge)."""
    value = float(text)
    if math.isinf(value):
        raise _TooLarge(text)
    return value


_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys, parse_float=_finite_float)
_scan_json = make_scanner(_DECODER)  # type: ignore[arg-type]  # typeshed: duck type
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
                text.removeprefix("\ufeff").rstrip("\r\n"),
                object_pairs_hook=_unique_keys,
                parse_float=_finite_float,
            )
    except _RepeatedKey as exc:
        raise DatasetError(
            f"{label}:{lineno}: key {json.dumps(exc.key, ensure_ascii=False)} appears twice in"
            " one object (JSON readers disagree on which value wins); keep one"
        ) from None
    except _TooLarge as exc:
        raise DatasetError(
            f"{label}:{lineno}: the number {exc.text} is too large for a 64-bit float (it "
            "would read as infinity); write it as a string to keep it"
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
    if b"\\u" in raw and _SURROGATE_ESCAPE.search(raw) is not None:
        _refuse_lone_surrogates(label, lineno, obj)
    return obj


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")
"""A JSON escape of half a UTF-16 pair: only lines holding one are checked for a lone one."""


def _refuse_lone_surrogates(label: str, lineno: int, obj: dict[str, Any]) -> None:
    """DatasetError naming the field of ``obj`` that holds a lone surrogate, if any: no
    UTF-8 file (Parquet, the cache) can hold one, so no value of it could be written."""
    for key, value in obj.items():
        found = lone_surrogate(key) or lone_surrogate(value)
        if found is not None:
            raise DatasetError(
                f"{label}:{lineno}: field {json.dumps(key)} holds {found}, half of a UTF-16 "
                "pair on its own (not text: no UTF-8 file can hold it); write the whole pair, "
                "or remove it"
            )


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
    """The JSON text of each value Arrow cannot hold as it came in (package docstring)."""
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
