"""Reading a scored file for comparison: the columns the pairings need, checked.

A .parquet, .jsonl/.ndjson (also gzipped) or .csv file; a missing judge or
human column, a column of the wrong type, or a read error is one
``DatasetError`` line naming the file.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import polars as pl

from judgekit.config_errors import did_you_mean
from judgekit.datasets.files import special_kind
from judgekit.errors import DatasetError
from judgekit.output_parts import is_parts_directory, part_files
from judgekit.trust.pairing import Pairing
from judgekit.trust.vote_split import VOTE_SHARE

_SHOWN = 8  # column names listed in one error message


def check_scored_path(path: Path) -> None:
    """Raise DatasetError unless ``path`` is a file or a directory (of Parquet parts)."""
    kind = special_kind(path)
    if kind is not None:
        raise DatasetError(
            f"{path}: is {kind}, not a file; save the scored rows to a file first and give that"
        )
    if not path.is_file() and not path.is_dir():
        raise DatasetError(f"{path}: no such file")


def read_scored(path: Path, pairings: Sequence[Pairing]) -> pl.DataFrame:
    """The columns the pairings need, from a .parquet, .jsonl/.ndjson or .csv file, or a
    directory of Parquet parts (``--engine ray -o DIR/``)."""
    check_scored_path(path)
    with reading(path):
        schema = scan_scored(path).collect_schema()
    wanted = _needed_columns(path, schema.names(), pairings)
    types: dict[str, pl.DataType] = {}
    if path.suffix.lower() == ".csv":
        # CSV has no types: labels and errors as text, scores as floats, verdicts as booleans.
        types = {name: pl.String() for name in wanted}
        for pairing in pairings:
            types |= {
                f"{pairing.judge}_score": pl.Float64(),
                f"{pairing.judge}_passed": pl.Boolean(),
                f"{pairing.judge}_{VOTE_SHARE}": pl.Float64(),
            }
        types = {name: dtype for name, dtype in types.items() if name in wanted}
    with reading(path):
        return scan_scored(path, types).select(wanted).collect()


def scan_scored(path: Path, csv_types: Mapping[str, pl.DataType] | None = None) -> pl.LazyFrame:
    """A lazy scan of a scored .parquet, .jsonl/.ndjson or .csv file, or of a directory of
    Parquet parts (in row order); other types raise."""
    if path.is_dir():
        parts = part_files(path)
        if not is_parts_directory(path):
            raise DatasetError(
                f"{path}: is a directory but not judgekit's Parquet parts (part-00000.parquet,"
                " ...); give a scored file or such a directory"
            )
        return pl.scan_parquet(parts)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return pl.scan_parquet(path)
    if path.name.lower().endswith((".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")):
        return pl.scan_ndjson(path, infer_schema_length=None)
    if suffix == ".csv":
        return pl.scan_csv(path, schema_overrides=csv_types)
    raise DatasetError(f"{path}: unknown file type '{suffix}'; use .parquet, .jsonl or .csv")


@contextmanager
def reading(path: Path) -> Iterator[None]:
    """Turn polars' and the OS's read errors into one-line DatasetErrors."""
    try:
        yield
    except (pl.exceptions.PolarsError, OSError) as exc:
        lines = str(exc).strip().splitlines()
        raise DatasetError(f"{path}: cannot read ({lines[0] if lines else exc!r})") from None


def _needed_columns(path: Path, columns: Sequence[str], pairings: Sequence[Pairing]) -> list[str]:
    """Columns to read; a missing judge or human column is a DatasetError."""
    present = set(columns)
    wanted: list[str] = []
    for pairing in pairings:
        if f"{pairing.judge}_passed" not in present:
            found = sorted(c.removesuffix("_passed") for c in columns if c.endswith("_passed"))
            guess = did_you_mean(pairing.judge, found)
            raise DatasetError(
                f"{path}: no column '{pairing.judge}_passed' for judge '{pairing.judge}'{guess} "
                f"(judges found: {', '.join(found) or 'none'})"
            )
        if pairing.human_column not in present:
            # Judge columns aside (J_passed names a judge J): the labels are the dataset's own.
            judges = tuple(
                f"{c.removesuffix('_passed')}_" for c in columns if c.endswith("_passed")
            )
            own = [c for c in columns if not c.startswith(judges)] if judges else list(columns)
            near = difflib.get_close_matches(pairing.human_column, own, n=1)
            guess = f"; did you mean '{near[0]}'?" if near else ""
            raise DatasetError(
                f"{path}: no column '{pairing.human_column}' for the human labels of judge "
                f"'{pairing.judge}'{guess} (columns: {_some(own)})"
            )
        names = [pairing.human_column] + [
            f"{pairing.judge}_{s}" for s in ("passed", "score", "error", VOTE_SHARE)
        ]
        wanted += [name for name in names if name in present and name not in wanted]
    return wanted


def _some(names: Sequence[str]) -> str:
    more = f", … ({len(names) - _SHOWN} more)" if len(names) > _SHOWN else ""
    return ", ".join(names[:_SHOWN]) + more


def column_or_none(
    frame: pl.DataFrame, name: str, dtype: type[pl.DataType] | pl.DataType
) -> pl.Series | None:
    """Column ``name`` cast to ``dtype``; None when the frame has no such column."""
    return frame[name].cast(dtype) if name in frame.columns else None


def judge_outcomes(path: Path, frame: pl.DataFrame, judge: str, codes: pl.Series) -> pl.DataFrame:
    """code (human), passed (null on judge error) and score (null if none) per row."""
    passed = frame[f"{judge}_passed"]
    if not (passed.dtype in (pl.Boolean, pl.Null) or passed.dtype.is_integer()):
        raise DatasetError(
            f"{path}: column '{judge}_passed' holds {passed.dtype} values, expected booleans"
        )
    outcomes = pl.DataFrame({"code": codes, "passed": passed.cast(pl.Boolean)})
    if f"{judge}_error" in frame.columns:
        error = frame[f"{judge}_error"].cast(pl.String)
        failed = error.is_not_null() & (error.str.strip_chars() != "")
        outcomes = outcomes.with_columns(
            passed=pl.when(failed).then(None).otherwise(pl.col("passed"))
        )
    score = pl.Series("score", [None] * frame.height, dtype=pl.Float64)
    if f"{judge}_score" in frame.columns:
        raw = frame[f"{judge}_score"]
        if not (raw.dtype.is_numeric() or raw.dtype == pl.Null):
            raise DatasetError(
                f"{path}: column '{judge}_score' holds {raw.dtype} values, expected numbers"
            )
        score = raw.cast(pl.Float64).fill_nan(None).rename("score")
    return outcomes.with_columns(score)
