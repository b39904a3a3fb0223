"""Locating a dataset's files: a file, a directory of Parquet files, or a glob of them."""

from __future__ import annotations

import glob
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from judgekit.datasets.info import Format
from judgekit.errors import DatasetError

JSONL_SUFFIXES = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")
FORMAT_HINT = "use .jsonl, .ndjson, .jsonl.gz, .csv, .parquet, a directory or a glob of .parquet"
"""An object column with more distinct keys than this is a map, not a record: JSON-encode it."""


def _resolve(path: str) -> tuple[tuple[Path, ...], Format]:
    """Turn the user's path into files and a format, or raise a one-line DatasetError."""
    given = Path(path)
    if given.is_dir():
        found = _parquet_under(given)
        if not found:
            _refuse_other_files(path, sorted(p for p in given.rglob("*") if p.is_file()), "holds")
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


def _refuse_other_files(pattern: str, files: Sequence[Path], verb: str = "matches") -> None:
    """A glob that matches, or a directory that holds, only JSONL or CSV files: say what
    to do instead."""
    kinds = Counter(_format_of(file.name) for file in files)
    named: tuple[tuple[Format, str], ...] = (("jsonl", "JSONL"), ("csv", "CSV"))
    for kind, name in named:
        if kinds[kind]:
            joined = "one .jsonl file" if kind == "jsonl" else "one .csv file with one header"
            raise DatasetError(
                f"{pattern}: {verb} {kinds[kind]} {name} file{'s' if kinds[kind] > 1 else ''};"
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
