"""JSON text for the JSONL and CSV writers: one object per row, each value as it came in.

``json_lines`` writes a window row by row, taking the input's JSON text where the
window carries it (``datasets.raw_json``) and encoding the Arrow value otherwise:
NaN and Infinity as their literals (Python's ``json`` and judgekit read them),
bytes as base64, dates as ISO text, decimals as strings.  The JSONL writer uses it
only for windows polars cannot write faithfully (``non_finite``, JSON text).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable, Mapping
from typing import Any

import pyarrow as pa


def json_lines(table: pa.Table, texts: Mapping[str, list[str | None]]) -> str:
    """JSONL, one object per row: the input's JSON text where given, else the value."""
    keys = [dumps(name) + ":" for name in table.column_names]
    columns = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        values, given = column.to_pylist(), texts.get(name)
        if given is None:
            columns.append([dumps(v) for v in values])
        else:
            columns.append(
                [dumps(v) if t is None else t for v, t in zip(values, given, strict=True)]
            )
    return "".join(
        "{" + ",".join([k + v for k, v in zip(keys, row, strict=True)]) + "}\n"
        for row in zip(*columns, strict=True)
    )


def dumps(value: Any) -> str:
    """Compact JSON; NaN and Infinity as their literals, bytes as base64.  Strings, nulls,
    bools and ints skip the encoder object: this runs once per cell."""
    kind = type(value)
    if kind is str:
        return _encode_string(value)
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return int.__repr__(value)
    return _ENCODER.encode(value)


def non_finite(column: pa.ChunkedArray | pa.Array) -> bool:
    """Whether a float anywhere in the column (nested too) is NaN or infinite."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    return any(_chunk_non_finite(chunk) for chunk in chunks)


def _chunk_non_finite(array: pa.Array) -> bool:
    type_ = array.type
    if pa.types.is_floating(type_):
        import pyarrow.compute as pc  # here: ~12 MB that a Parquet output never needs

        return bool(pc.any(pc.invert(pc.is_finite(array))).as_py())
    if pa.types.is_struct(type_):
        return any(_chunk_non_finite(array.field(i)) for i in range(type_.num_fields))
    if pa.types.is_list(type_) or pa.types.is_large_list(type_):
        return _chunk_non_finite(array.flatten())
    if pa.types.is_fixed_size_list(type_):
        return _chunk_non_finite(array.flatten())
    if pa.types.is_map(type_):
        return _chunk_non_finite(array.items)
    if pa.types.is_dictionary(type_):
        return _chunk_non_finite(array.dictionary)
    return False


def json_default(value: Any) -> Any:
    """``json`` ``default``: bytes as base64, dates and times as ISO text, the rest as str."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dt.date | dt.time):  # datetime is a date
        return value.isoformat()
    return str(value)  # Decimal, timedelta, ...


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=json_default)
_encode_string: Callable[[str], str] = json.encoder.encode_basestring
