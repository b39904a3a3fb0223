"""Locating a dataset's files: a file, a directory of Parquet files, or a glob of them."""

from __future__ import annotations

import glob
import stat
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from judgekit.datasets.info import Format
from judgekit.errors import DatasetError
from judgekit.given_paths import check_given_path

JSONL_SUFFIXES = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")
FORMAT_HINT = "use .jsonl, .ndjson, .jsonl.gz, .csv, .parquet, a directory or a glob of .parquet"
"""An object column with more distinct keys than this is a map, not a record: JSON-encode it."""


def _resolve(path: str) -> tuple[tuple[Path, ...], Format]:
    """Turn the user's path into files and a format, or raise a one-line DatasetError
    (UsageError for a path the system refuses to look at: ``given_paths``)."""
    check_given_path(path)
    given = Path(path)
    if given.is_dir():
        found = _parquet_under(given)
        files = sorted(p for p in given.rglob("*") if p.is_file())
        if not found:
            _refuse_other_files(path, files, "holds")
            raise DatasetError(f"{path}: no .parquet files in this directory")
        _refuse_mixed(path, found, [f for f in files if not _hidden(given, f)], "holds")
        return found, "parquet"
    if given.exists():
        _refuse_special(path, given)
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
        _refuse_mixed(path, found, [m for m in matches if m.is_file()], "matches")
        return found, "parquet"
    raise DatasetError(f"{path}: no such file")


def dataset_files(path: str) -> tuple[Path, ...]:
    """The local files DATASET names (itself, a directory's or a glob's Parquet files),
    found without reading them; raises what ``inspect_dataset`` raises for them."""
    return _resolve(path)[0]


def dataset_format(path: str) -> Format:
    """What DATASET holds (``jsonl``, ``csv`` or ``parquet``), from its name alone; raises
    what ``inspect_dataset`` raises for it."""
    return _resolve(path)[1]


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


def _refuse_mixed(pattern: str, parquet: Sequence[Path], files: Sequence[Path], verb: str) -> None:
    """A glob that matches, or a directory that holds, Parquet files and JSONL or CSV
    files: only the Parquet rows would be scored, so say so instead (DatasetError)."""
    for kind, name in (("jsonl", "JSONL"), ("csv", "CSV")):
        other = sorted(file for file in files if _format_of(file.name) == kind)
        if other:
            one = len(other) == 1
            its, them = ("its", "it") if one else ("their", "them")
            raise DatasetError(
                f"{pattern}: {verb} {_count(len(parquet), '.parquet')} and"
                f" {_count(len(other), name)} ({other[0]}{'' if one else ', ...'}); a glob or"
                f" directory reads .parquet files only, so {its} rows would not be scored:"
                f" convert {them} to Parquet, or score {them} on {its} own"
            )


def _count(number: int, kind: str) -> str:
    return f"{number} {kind} file{'' if number == 1 else 's'}"


_SPECIAL_FILES = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def special_kind(path: Path) -> str | None:
    """What ``path`` is when it exists but is neither a regular file nor a directory
    (``a named pipe (FIFO)``, ``a socket``, ...); None otherwise."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return next((name for test, name in _SPECIAL_FILES if test(mode)), "an unusual file")


def _refuse_special(path: str, given: Path) -> None:
    """Refuse a dataset that is not a regular file (a FIFO, /dev/stdin, a socket) before
    opening it: judgekit reads a dataset twice (``inspect_dataset``, then the windows),
    and a pipe would hang the first open or be empty for the second."""
    kind = special_kind(given)
    if kind is None:
        return
    raise DatasetError(
        f"{path}: is {kind}, not a file; judgekit reads a dataset twice (to check it, then"
        " to score it): save it to a file first and score that"
    )


def _hidden(directory: Path, file: Path) -> bool:
    """Whether pyarrow.dataset skips ``file`` under ``directory`` (a ``.``- or ``_``-part)."""
    return any(part.startswith((".", "_")) for part in file.relative_to(directory).parts)


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
