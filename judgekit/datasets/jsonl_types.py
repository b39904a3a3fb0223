"""Arrow types for JSONL columns, merged across rows.

Rules (applied to the rows the dataset pre-pass reads):

- Columns appear in the order of their first appearance; a key missing from a
  row reads as null.
- A column's type is what Arrow infers from its values (bool, int64, float64,
  string, struct, list), merged across rows: null takes the other type; int64
  and float64 give float64; structs merge their fields by name (recursively, a
  missing field reads as null); lists merge their item types.
- Numbers stay exact: a column is int64 or float64 only when that type holds
  every one of its numbers exactly.  An integer beyond int64 (such as the id
  18446744073709551617), or beyond +-2**53 in a column that also holds
  fractions (float64 would round it), makes the column a string column holding
  each number's digits (``"18446744073709551617"``).
- Any other mix (int and string, bool and int, object and string, a struct
  field with two types, more than 256 struct fields, or an object with no keys
  at all) makes the column a string column: strings stay as they are, every
  other value is JSON-encoded (``7`` -> ``"7"``, ``{"a": 1}`` -> ``'{"a":1}'``).
- A column that is null in every row is a string column.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

MAX_STRUCT_FIELDS = 256
CONVERSION_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError)
EXACT_FLOAT_INT = 2**53
"""float64 holds every integer up to this magnitude exactly, and no wider range."""

_Path = tuple[str, ...]
"""Where a value sits in a column: the column, then field names, ``"[]"`` for list items."""


class TypeInference:
    """Merges the Arrow types of each column's values, chunk by chunk (rules: module docstring)."""

    def __init__(self) -> None:
        self.types: dict[str, pa.DataType | None] = {}  # in order of first appearance; None: mixed
        self.wide_ints: set[_Path] = set()
        """Where an int64 value beyond +-2**53 was seen: float64 there would round it."""

    def add_chunk(self, objs: list[dict[str, Any]]) -> None:
        """Infer the types of a chunk of rows and merge them into the column types."""
        try:  # fast path: one C++ inference for every column (fields in order of appearance)
            rows = pa.array(objs)
            found: list[tuple[str, pa.DataType | None]] = [(f.name, f.type) for f in rows.type]
            for index, field in enumerate(rows.type):
                self.wide_ints |= _wide_ints(rows.field(index), (field.name,))
        except CONVERSION_ERRORS:  # some column mixes types: infer column by column
            names = dict.fromkeys(key for obj in objs for key in obj)
            found = []
            for name in names:
                array = _infer([obj.get(name) for obj in objs])
                found.append((name, None if array is None else array.type))
                if array is not None:
                    self.wide_ints |= _wide_ints(array, (name,))
        for name, type_ in found:
            current = self.types.setdefault(name, pa.null())
            if current is not None:
                self.types[name] = None if type_ is None else _merge(current, type_)

    def schema(self) -> tuple[pa.Schema, tuple[str, ...]]:
        """Return the final schema and the columns to JSON-encode."""
        fields, encoded = [], []
        for name, merged in self.types.items():
            rounds = merged is not None and any(
                path in self.wide_ints for path in _float_paths(merged, (name,))
            )
            if merged is None or rounds or not _storable(merged):
                encoded.append(name)
            stored = pa.string() if name in encoded or pa.types.is_null(merged) else merged
            fields.append(pa.field(name, stored))
        return pa.schema(fields), tuple(encoded)


def _infer(values: list[Any]) -> pa.Array | None:
    """The values as an Arrow array, or None when only JSON strings can hold them all.

    Arrow refuses an int beyond int64, or beyond 2**53 next to floats: no numeric type
    holds such numbers exactly, so they are strings too."""
    try:
        return pa.array(values)
    except CONVERSION_ERRORS:
        return None


def _wide_ints(array: pa.Array, path: _Path) -> set[_Path]:
    """The paths in ``array`` where an int64 value lies beyond +-2**53."""
    type_ = array.type
    if pa.types.is_int64(type_):
        import pyarrow.compute as pc  # here: ~12 MB that a Parquet input never needs

        bounds = pc.min_max(array)
        low, high = bounds["min"].as_py(), bounds["max"].as_py()
        wide = low is not None and (low < -EXACT_FLOAT_INT or high > EXACT_FLOAT_INT)
        return {path} if wide else set()
    if pa.types.is_struct(type_):
        found: set[_Path] = set()
        for index, field in enumerate(type_):
            found |= _wide_ints(array.field(index), (*path, field.name))
        return found
    if pa.types.is_list(type_):
        return _wide_ints(array.flatten(), (*path, "[]"))
    return set()


def _float_paths(type_: pa.DataType, path: _Path) -> list[_Path]:
    """The paths of the float64 values in ``type_``."""
    if pa.types.is_float64(type_):
        return [path]
    if pa.types.is_struct(type_):
        return [p for field in type_ for p in _float_paths(field.type, (*path, field.name))]
    if pa.types.is_list(type_):
        return _float_paths(type_.value_type, (*path, "[]"))
    return []


def _merge(a: pa.DataType, b: pa.DataType) -> pa.DataType | None:
    """The type holding both, or None when only a JSON string can (rules: module docstring)."""
    if a.equals(b) or pa.types.is_null(b):
        return a
    if pa.types.is_null(a):
        return b
    numbers = (pa.int64(), pa.float64())
    if a in numbers and b in numbers:
        return pa.float64()
    if pa.types.is_list(a) and pa.types.is_list(b):
        item = _merge(a.value_type, b.value_type)
        return None if item is None else pa.list_(item)
    if pa.types.is_struct(a) and pa.types.is_struct(b):
        fields: dict[str, pa.DataType | None] = {f.name: f.type for f in a}
        for field in b:
            known = fields.get(field.name)
            fields[field.name] = field.type if known is None else _merge(known, field.type)
        if any(t is None for t in fields.values()) or len(fields) > MAX_STRUCT_FIELDS:
            return None
        return pa.struct([pa.field(name, t) for name, t in fields.items()])
    return None


def _storable(type_: pa.DataType) -> bool:
    """Parquet cannot store a struct without fields; huge structs are maps in disguise."""
    if pa.types.is_struct(type_):
        fields = list(type_)
        return 0 < len(fields) <= MAX_STRUCT_FIELDS and all(_storable(f.type) for f in fields)
    if pa.types.is_list(type_):
        return _storable(type_.value_type)
    return True


def encode_json(value: Any) -> str:
    """JSON-encode a value compactly, keeping non-ASCII text readable."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def as_string(value: Any) -> str:
    """A value as text: strings as they are, anything else JSON-encoded."""
    return value if isinstance(value, str) else encode_json(value)
