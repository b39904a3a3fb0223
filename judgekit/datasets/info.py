"""What the pre-pass learns about a dataset (``DatasetInfo``), and what every reader shares.

The window metadata keys (the input's JSON text, a Parquet row group's windows), the
one-line wording of a foreign error, and the duplicate-id error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pyarrow as pa

from judgekit.errors import DatasetError
from judgekit.id_check import Duplicates

RAW_JSON_KEY = b"judgekit.raw_json"
"""Window schema metadata: JSON ``{column: [JSON text of the input value, or null]}``."""

GROUP_KEY = b"judgekit.group"
"""Window schema metadata of a Parquet window cut from a row group read whole (``parquet``):
``more`` on every window of the group but the last, ``last`` on the last.  The windows share
the group's memory, which only goes once the output has written them all."""

Format = Literal["jsonl", "parquet", "csv"]


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


def _one_line(text: object) -> str:
    """Squeeze a foreign error message onto one printable line (it may echo binary garbage)."""
    printable = "".join(c if c.isprintable() else " " for c in str(text))
    return " ".join(printable.split())


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
