"""Arrow types for JSONL columns, merged across rows.

Rules (applied to the rows the dataset pre-pass reads):

- Columns appear in the order of their first appearance; a key missing from a
  row reads as null.
- A column's type is what Arrow infers from its values (bool, int64, float64,
  string, struct, list), merged across rows: null takes the other type; int64
  and float64 give float64; structs merge their fields by name (recursively, a
  missing field reads as null); lists merge their item types.
- Integers beyond int64, or above 2**53 next to floats, make a float64 column.
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


class TypeInference:
    """Merges the Arrow types of each column's values, chunk by chunk (rules: module docstring)."""

    def __init__(self) -> None:
        self.types: dict[str, pa.DataType | None] = {}  # in order of first appearance; None: mixed

    def add_chunk(self, objs: list[dict[str, Any]]) -> None:
        """Infer the types of a chunk of rows and merge them into the column types."""
        try:  # fast path: one C++ inference for every column (fields in order of appearance)
            found: list[tuple[str, pa.DataType | None]] = [
                (f.name, f.type) for f in pa.array(objs).type
            ]
        except CONVERSION_ERRORS:  # some column mixes types: infer column by column
            names = dict.fromkeys(key for obj in objs for key in obj)
            found = [(name, _infer([obj.get(name) for obj in objs])) for name in names]
        for name, type_ in found:
            current = self.types.setdefault(name, pa.null())
            if current is not None:
                self.types[name] = None if type_ is None else _merge(current, type_)

    def schema(self) -> tuple[pa.Schema, tuple[str, ...]]:
        """Return the final schema and the columns to JSON-encode."""
        fields, encoded = [], []
        for name, merged in self.types.items():
            if merged is None or not _storable(merged):
                encoded.append(name)
            stored = pa.string() if name in encoded or pa.types.is_null(merged) else merged
            fields.append(pa.field(name, stored))
        return pa.schema(fields), tuple(encoded)


def _infer(values: list[Any]) -> pa.DataType | None:
    try:
        return pa.array(values).type
    except CONVERSION_ERRORS:
        # Arrow refuses ints beyond int64, or above 2**53 next to floats: numbers stay numbers.
        if all(v is None or type(v) in (int, float) for v in values):
            return pa.float64()
        return None


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
