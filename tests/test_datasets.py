"""Tests for judgekit.datasets: formats, one-line errors, type unification, windows."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from judgekit.datasets import (
    DatasetInfo,
    inspect_dataset,
    iter_windows,
    raw_json,
    row_ids,
    row_values,
)
from judgekit.datasets.info import GROUP_KEY
from judgekit.datasets.parquet import GROUP_BYTES, GROUP_ROWS
from judgekit.errors import DatasetError, UsageError

if TYPE_CHECKING:
    from conftest import Workspace


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in tmp_path so that messages show the short relative paths a user types."""
    monkeypatch.chdir(tmp_path)


def write_jsonl(name: str, rows: list[Any]) -> str:
    """Write one JSON value per line (a str is written as a raw line)."""
    lines = [r if isinstance(r, str) else json.dumps(r) for r in rows]
    Path(name).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return name


def write_parquet(name: str, table: pa.Table, row_group_size: int | None = None) -> str:
    Path(name).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, name, row_group_size=row_group_size)
    return name


def all_rows(info: DatasetInfo, rows_per_window: int = 10_000) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for window in iter_windows(info, rows_per_window):
        assert window.schema.equals(info.schema)
        rows.extend(window.to_pylist())
    return rows


def _valid_then(bad: str, at: int) -> Callable[[], str]:
    """A JSONL file whose line ``at`` is ``bad`` and every other line a valid row."""
    rows: list[Any] = [{"id": i} for i in range(1, at)] + [bad, {"id": at + 1}]
    return lambda: write_jsonl("data.jsonl", rows)


def _gzip_of(content: bytes) -> Callable[[], str]:
    def make() -> str:
        Path("data.jsonl.gz").write_bytes(content)
        return "data.jsonl.gz"

    return make


def _file(name: str, content: bytes) -> Callable[[], str]:
    def make() -> str:
        Path(name).write_bytes(content)
        return name

    return make


def _ids(*ids: Any) -> Callable[[], str]:
    return lambda: write_jsonl("data.jsonl", [{"id": i, "q": "x"} for i in ids])


def _parquet_dir_with_null_id() -> str:
    write_parquet("parts/a.parquet", pa.table({"id": [1, 2]}))
    write_parquet("parts/b.parquet", pa.table({"id": [3, None]}))
    return "parts"


def _parquet_dir_with_duplicates() -> str:
    write_parquet("parts/a.parquet", pa.table({"id": ["x", "y"]}))
    write_parquet("parts/b.parquet", pa.table({"id": ["y", "z", "x"]}))
    return "parts"


def _parquet_dir_with_clashing_types() -> str:
    write_parquet("parts/a.parquet", pa.table({"n": [1]}))
    write_parquet("parts/b.parquet", pa.table({"n": ["one"]}))
    return "parts"


def _parquet_dir_with_missing_id() -> str:
    write_parquet("parts/a.parquet", pa.table({"id": [1], "q": ["a"]}))
    write_parquet("parts/b.parquet", pa.table({"q": ["b"]}))
    return "parts"


def _glob_of(*names: str) -> Callable[[], str]:
    def make() -> str:
        Path("parts").mkdir()
        for name in names:
            Path("parts", name).write_bytes(b'{"id": 1}\n')
        return "parts/*"

    return make


ERRORS: list[tuple[str, Callable[[], str], str]] = [
    ("missing", lambda: "data.jsonl", "data.jsonl: no such file"),
    (
        "unsupported",
        _file("data.txt", b'{"id": 1}\n'),
        "data.txt: unsupported dataset format (use .jsonl, .ndjson, .jsonl.gz, .csv, .parquet,"
        " a directory or a glob of .parquet)",
    ),
    (
        "invalid-json",
        _valid_then('{"id": 170 "x": 1}', at=17),
        "data.jsonl:17: invalid JSON (Expecting ',' delimiter: column 12)",
    ),
    (
        "extra-data",
        _valid_then('{"id": 2} {"id": 3}', at=2),
        "data.jsonl:2: invalid JSON (Extra data: column 11)",
    ),
    (
        "truncated",
        _valid_then('{"id": 4', at=4),
        "data.jsonl:4: invalid JSON (Expecting ',' delimiter: column 9)",
    ),
    ("list", _valid_then("[1, 2]", at=3), "data.jsonl:3: expected a JSON object, got list"),
    ("string", _valid_then('"hi"', at=2), "data.jsonl:2: expected a JSON object, got string"),
    ("null", _valid_then("null", at=1), "data.jsonl:1: expected a JSON object, got null"),
    (
        "utf8",
        _file("data.jsonl", b'{"id": 1}\n{"id": "\xff"}\n'),
        "data.jsonl:2: invalid UTF-8 (invalid start byte at byte 8)",
    ),
    (
        "lone-surrogate",
        _file(
            "data.jsonl", b'{"id": 1, "a": "ok \\ud83d\\ude00"}\n{"id": 2, "a": "x \\ud800 y"}\n'
        ),
        'data.jsonl:2: field "a" holds \\ud800, half of a UTF-16 pair on its own (not text: no '
        "UTF-8 file can hold it); write the whole pair, or remove it",
    ),
    (
        "lone-surrogate-in-a-list",
        _file("data.jsonl", b'{"id": 1, "tools": [{"name": "\\uDC80"}]}\n'),
        'data.jsonl:1: field "tools" holds \\udc80, half of a UTF-16 pair on its own (not text: '
        "no UTF-8 file can hold it); write the whole pair, or remove it",
    ),
    ("empty", _file("data.jsonl", b"\n  \n\n"), "data.jsonl: dataset is empty (no rows)"),
    ("empty-file", _file("data.jsonl", b""), "data.jsonl: dataset is empty (no rows)"),
    (
        "duplicates",
        _ids(7, 12, 7, "a", 3, 12, "a", 12),
        "data.jsonl: duplicate ids in column 'id': 7, 12, 'a' (3 duplicated ids)",
    ),
    (
        "duplicates-capped",
        _ids(*range(8), *range(8)),
        "data.jsonl: duplicate ids in column 'id': 0, 1, 2, 3, 4, ... (8 duplicated ids)",
    ),
    (
        "duplicates-after-json-encoding",
        _ids(7, "7", "b"),
        "data.jsonl: duplicate ids in column 'id': '7' (1 duplicated id)",
    ),
    (
        "null-id",
        _file("data.jsonl", b'{"id": 1}\n\n{"id": 2}\n{"id": 3}\n{"id": null}\n'),
        "data.jsonl:5: id column 'id' is null",
    ),
    (
        "id-missing-after",
        _file("data.jsonl", b'{"id": 1}\n{"q": 2}\n'),
        "data.jsonl:2: id column 'id' is missing (give every row an id, or none)",
    ),
    (
        "id-missing-before",
        _file("data.jsonl", b'{"q": 1}\n{"q": 2}\n{"id": 3}\n'),
        "data.jsonl:1: id column 'id' is missing (give every row an id, or none)",
    ),
    (
        "id-object",
        _file("data.jsonl", b'{"id": 1}\n{"id": {"a": 1}}\n'),
        "data.jsonl:2: id column 'id' must be a string or a number, got object",
    ),
    (
        "gzip-not-gzip",
        _gzip_of(b'{"id": 1}\n'),
        "data.jsonl.gz: invalid gzip file (Not a gzipped file (b'{\"'))",
    ),
    (
        "gzip-truncated",
        _gzip_of(gzip.compress(b'{"id": 1}\n' * 100)[:20]),
        "data.jsonl.gz: invalid gzip file (Compressed file ended before the end-of-stream marker"
        " was reached)",
    ),
    (
        "gzip-bad-line",
        _gzip_of(gzip.compress(b'{"id": 1}\n{"id": \n')),
        "data.jsonl.gz:2: invalid JSON (Expecting value: column 8)",
    ),
    (
        "parquet-unreadable",
        _file("data.parquet", b"not parquet at all"),
        "data.parquet: unreadable Parquet file (Parquet magic bytes not found in footer. Either"
        " the file is corrupted or this is not a parquet file.)",
    ),
    (
        "parquet-empty-dir",
        lambda: str(Path("parts").mkdir() or "parts"),
        "parts: no .parquet files in this directory",
    ),
    (
        "glob-no-match",
        lambda: "parts/*.parquet",
        "parts/*.parquet: no .parquet file matches this pattern",
    ),
    (
        "glob-of-jsonl",
        _glob_of("a.jsonl", "b.jsonl.gz", "notes.txt"),
        "parts/*: matches 2 JSONL files; a glob or directory reads .parquet files only: join"
        " them into one .jsonl file and score that",
    ),
    (
        "directory-of-jsonl",
        lambda: _glob_of("a.jsonl", "b.ndjson")().removesuffix("/*"),
        "parts: holds 2 JSONL files; a glob or directory reads .parquet files only: join"
        " them into one .jsonl file and score that",
    ),
    (
        "glob-of-csv",
        _glob_of("a.csv"),
        "parts/*: matches 1 CSV file; a glob or directory reads .parquet files only: join"
        " them into one .csv file with one header and score that",
    ),
    (
        "parquet-null-id",
        _parquet_dir_with_null_id,
        "parts/b.parquet: row 2: id column 'id' is null",
    ),
    (
        "parquet-duplicates",
        _parquet_dir_with_duplicates,
        "parts: duplicate ids in column 'id': 'y', 'x' (2 duplicated ids)",
    ),
    (
        "parquet-missing-id",
        _parquet_dir_with_missing_id,
        "parts/b.parquet: id column 'id' is missing (other files have it; give every file an id"
        " column, or none)",
    ),
    (
        "parquet-schema-clash",
        _parquet_dir_with_clashing_types,
        "parts/b.parquet: columns do not match parts/a.parquet (Unable to merge: Field n has"
        " incompatible types: int64 vs string); give every file the same column types",
    ),
    (
        "repeated-key",
        _valid_then('{"id": 3, "answer": "a", "answer": "b"}', at=3),
        'data.jsonl:3: key "answer" appears twice in one object (JSON readers disagree on which'
        " value wins); keep one",
    ),
    (
        "repeated-nested-key",
        _valid_then('{"id": 2, "meta": {"k": 1, "k": 1}}', at=2),
        'data.jsonl:2: key "k" appears twice in one object (JSON readers disagree on which'
        " value wins); keep one",
    ),
    (
        "float-overflow",
        _valid_then('{"id": 2, "meta": {"n": -1e400}}', at=2),
        "data.jsonl:2: the number -1e400 is too large for a 64-bit float (it would read as "
        "infinity); write it as a string to keep it",
    ),
    (
        "nan-id",
        _file("data.jsonl", b'{"id": 1.5}\n{"id": NaN}\n'),
        "data.jsonl:2: id column 'id' is NaN",
    ),
    (
        "parquet-nan-id",
        lambda: write_parquet("data.parquet", pa.table({"id": [1.5, float("nan")]})),
        "data.parquet: row 2: id column 'id' is NaN",
    ),
    (
        "parquet-empty",
        lambda: write_parquet("data.parquet", pa.table({"id": pa.array([], pa.int64())})),
        "data.parquet: dataset is empty (no rows)",
    ),
]


@pytest.mark.parametrize(("make", "message"), [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_bad_input_is_one_line_error(make: Callable[[], str], message: str) -> None:
    path = make()
    with pytest.raises(DatasetError) as caught:
        inspect_dataset(path)
    assert str(caught.value) == message


def test_limit_must_be_positive() -> None:
    write_jsonl("data.jsonl", [{"id": 1}])
    with pytest.raises(UsageError, match=r"^--limit must be at least 1, got 0$"):
        inspect_dataset("data.jsonl", limit=0)


def test_limit_stops_reading_before_a_bad_line() -> None:
    write_jsonl("data.jsonl", [{"id": 1}, {"id": 2}, "not json", {"id": 1}])
    info = inspect_dataset("data.jsonl", limit=2)
    assert info.rows == 2
    assert all_rows(info) == [{"id": 1}, {"id": 2}]


# --- JSONL type unification -------------------------------------------------------------------

TYPES: list[tuple[str, list[Any], pa.DataType, list[Any]]] = [
    ("int", [1, None, 3], pa.int64(), [1, None, 3]),
    ("int-float", [1, 2.5], pa.float64(), [1.0, 2.5]),
    ("bool", [True, False], pa.bool_(), [True, False]),
    ("int-string", [1, "a", None], pa.string(), ["1", "a", None]),
    ("bool-int", [True, 1], pa.string(), ["true", "1"]),
    ("string-object", ["x", {"a": 1}], pa.string(), ["x", '{"a":1}']),
    (
        "structs-merge",
        [{"a": 1}, {"b": "x"}, None],
        pa.struct([("a", pa.int64()), ("b", pa.string())]),
        [{"a": 1, "b": None}, {"a": None, "b": "x"}, None],
    ),
    ("struct-field-clash", [{"a": 1}, {"a": "x"}], pa.string(), ['{"a":1}', '{"a":"x"}']),
    ("lists-merge", [[1], [2.5], []], pa.list_(pa.float64()), [[1.0], [2.5], []]),
    ("list-mixed-items", [[1, "a"]], pa.string(), ['[1,"a"]']),
    ("list-and-string", [[1], "a"], pa.string(), ["[1]", "a"]),
    ("all-null", [None, None], pa.string(), [None, None]),
    ("empty-object", [{}, {}], pa.string(), ["{}", "{}"]),
    ("unicode", [["é"], {"k": "ü"}], pa.string(), ['["é"]', '{"k":"ü"}']),
    (
        "nested",
        [{"calls": [{"name": "f", "args": {"x": 1}}]}, {"calls": []}],
        pa.struct(
            [
                (
                    "calls",
                    pa.list_(
                        pa.struct([("name", pa.string()), ("args", pa.struct([("x", pa.int64())]))])
                    ),
                )
            ]
        ),
        [{"calls": [{"name": "f", "args": {"x": 1}}]}, {"calls": []}],
    ),
]


@pytest.mark.parametrize(
    ("values", "type_", "expected"), [c[1:] for c in TYPES], ids=[c[0] for c in TYPES]
)
def test_jsonl_types_are_unified(
    values: list[Any], type_: pa.DataType, expected: list[Any]
) -> None:
    write_jsonl("data.jsonl", [{"id": i, "x": v} for i, v in enumerate(values)])
    info = inspect_dataset("data.jsonl")
    assert info.schema.field("x").type == type_
    assert [row["x"] for row in all_rows(info, rows_per_window=2)] == expected


# The pre-pass infers types chunk by chunk (16,384 rows): these mixes straddle a chunk boundary.
ACROSS_CHUNKS: list[tuple[str, Any, Any, pa.DataType, Any, Any]] = [
    ("int-then-float", 1, 0.5, pa.float64(), 1.0, 0.5),
    ("int-then-string", 1, "a", pa.string(), "1", "a"),
    ("struct-then-clash", {"a": 1}, {"a": "x"}, pa.string(), '{"a":1}', '{"a":"x"}'),
    # float64 would round these: the column keeps every number's digits as text instead.
    ("huge-int-then-float", 2**60, 0.5, pa.string(), "1152921504606846976", "0.5"),
    ("float-then-huge-int", 0.5, 2**60, pa.string(), "0.5", "1152921504606846976"),
    ("int-then-huge-int", 1, 2**70, pa.string(), "1", "1180591620717411303424"),
    (
        "nested-huge-int-then-float",
        {"n": 2**60},
        {"n": 0.5},
        pa.string(),
        '{"n":1152921504606846976}',
        '{"n":0.5}',
    ),
    ("exact-int-then-float", 2**53, 0.5, pa.float64(), float(2**53), 0.5),
    ("null-then-int", None, 3, pa.int64(), None, 3),
]


@pytest.mark.parametrize(
    ("early", "late", "type_", "early_out", "late_out"),
    [c[1:] for c in ACROSS_CHUNKS],
    ids=[c[0] for c in ACROSS_CHUNKS],
)
def test_types_merge_across_chunks(
    early: Any, late: Any, type_: pa.DataType, early_out: Any, late_out: Any
) -> None:
    rows = [{"x": early}] * 20_000 + [{"x": late}]
    write_jsonl("data.jsonl", rows)
    info = inspect_dataset("data.jsonl")
    assert info.schema == pa.schema([("x", type_)])
    values = [row["x"] for row in all_rows(info, rows_per_window=7_000)]
    assert values[0] == early_out
    assert values[-1] == late_out
    assert len(values) == 20_001


@pytest.mark.parametrize(
    ("early", "late", "early_out", "late_out"),
    [
        (2**60, 0.5, "1152921504606846976", "0.5"),
        ({"n": 2**60}, {"n": 0.5}, '{"n":1152921504606846976}', '{"n":0.5}'),
        ([2**60], [0.5], "[1152921504606846976]", "[0.5]"),
    ],
    ids=["top-level", "in-a-struct", "in-a-list"],
)
def test_a_wide_int_and_a_float_in_different_chunks_make_a_string_column(
    early: Any, late: Any, early_out: str, late_out: str
) -> None:
    # The first chunk (2,048 rows) holds only the int, the second only the float: each
    # chunk infers cleanly, and the merge alone must see that float64 would round the int.
    write_jsonl("data.jsonl", [{"x": early}] * 2_048 + [{"x": late}])
    info = inspect_dataset("data.jsonl")
    assert info.schema == pa.schema([("x", pa.string())])
    values = [row["x"] for row in all_rows(info, rows_per_window=10_000)]
    assert (values[0], values[-1], len(values)) == (early_out, late_out, 2_049)


def test_jsonl_columns_in_order_of_first_appearance_and_no_id_column() -> None:
    write_jsonl("data.jsonl", [{"b": 1}, {"a": "x", "b": 2}, {"c": True}])
    info = inspect_dataset("data.jsonl")
    assert info.columns == ("b", "a", "c")
    assert info.id_column is None
    assert info.json_encoded == ()
    assert all_rows(info) == [
        {"b": 1, "a": None, "c": None},
        {"b": 2, "a": "x", "c": None},
        {"b": None, "a": None, "c": True},
    ]


def test_jsonl_info_fields() -> None:
    write_jsonl("data.jsonl", [{"id": "r1", "q": "a"}, {"id": "r2", "q": "b"}])
    info = inspect_dataset("data.jsonl")
    assert info == DatasetInfo(
        path="data.jsonl",
        files=(Path("data.jsonl"),),
        format="jsonl",
        columns=("id", "q"),
        schema=pa.schema([("id", pa.string()), ("q", pa.string())]),
        rows=2,
        id_column="id",
    )


def test_custom_id_column() -> None:
    write_jsonl("data.jsonl", [{"id": 1, "key": "a"}, {"id": 1, "key": "b"}])
    info = inspect_dataset("data.jsonl", id_column="key")
    assert info.id_column == "key"


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("data.ndjson", b'{"id": 1}\n{"id": 2}\n'),
        ("data.jsonl.gz", gzip.compress(b'{"id": 1}\n\n{"id": 2}\n')),
        ("data.ndjson.gz", gzip.compress(b'{"id": 1}\n{"id": 2}')),
        ("data.JSONL", b'{"id": 1}\r\n{"id": 2}\r\n'),
        ("data.jsonl", b'\xef\xbb\xbf{"id": 1}\n  {"id": 2}  \n'),
    ],
    ids=["ndjson", "gzip", "ndjson-gzip-no-final-newline", "crlf-upper-suffix", "bom-and-spaces"],
)
def test_jsonl_variants(name: str, content: bytes) -> None:
    Path(name).write_bytes(content)
    info = inspect_dataset(name)
    assert info.format == "jsonl"
    assert all_rows(info) == [{"id": 1}, {"id": 2}]


def test_blank_lines_are_skipped_but_counted_in_line_numbers() -> None:
    Path("data.jsonl").write_bytes(b'{"id": 1}\n\n\n{"id": 2}\n[]\n')
    with pytest.raises(DatasetError, match=r"^data\.jsonl:5: expected a JSON object, got list$"):
        inspect_dataset("data.jsonl")


# --- windows ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows_per_window", "inspect_limit", "window_limit", "sizes", "parquet_sizes"),
    [
        (10, None, None, [10, 10, 5], [7, 7, 7, 4]),
        (10, None, 12, [10, 2], [7, 5]),
        (10, 12, None, [10, 2], [7, 5]),
        (10, 12, 30, [10, 2], [7, 5]),
        (25, None, None, [25], [7, 7, 7, 4]),
        (100, None, None, [25], [7, 7, 7, 4]),
        (1, 3, None, [1, 1, 1], [1, 1, 1]),
        (5, None, None, [5, 5, 5, 5, 5], [5, 2, 5, 2, 5, 2, 4]),
    ],
    ids=[
        "all",
        "window-limit",
        "inspect-limit",
        "limit-above-rows",
        "exact",
        "one-window",
        "tiny",
        "groups-cut",
    ],
)
@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_windows_and_limits(
    fmt: str,
    rows_per_window: int,
    inspect_limit: int | None,
    window_limit: int | None,
    sizes: list[int],
    parquet_sizes: list[int],
) -> None:
    rows = [{"id": f"r{i}", "n": i} for i in range(25)]
    if fmt == "jsonl":
        path = write_jsonl("data.jsonl", rows)
    else:
        # Parquet windows never span a row group (of 7 rows here).
        path = write_parquet("data.parquet", pa.Table.from_pylist(rows), row_group_size=7)
        sizes = parquet_sizes
    info = inspect_dataset(path, limit=inspect_limit)
    windows = list(iter_windows(info, rows_per_window, limit=window_limit))
    assert [w.num_rows for w in windows] == sizes
    assert all(w.schema.equals(info.schema) for w in windows)
    numbers = [n for w in windows for n in w.column("n").to_pylist()]
    assert numbers == list(range(sum(sizes)))


def test_parquet_small_row_groups_are_marked_and_large_ones_streamed() -> None:
    # A small row group is read whole: its windows share its memory, and the last one says
    # so (the output flushes there).  A group above GROUP_ROWS is streamed, unmarked.
    small = pa.table({"n": list(range(9_000))})
    large = pa.table({"n": list(range(GROUP_ROWS + 5))})
    with pq.ParquetWriter("data.parquet", small.schema) as writer:
        writer.write_table(small)
        writer.write_table(large, row_group_size=large.num_rows)
    info = inspect_dataset("data.parquet")
    windows = list(iter_windows(info, 4_000))
    marks = [(w.schema.metadata or {}).get(GROUP_KEY) for w in windows]
    assert marks[:3] == [b"more", b"more", b"last"]  # 4,000 + 4,000 + 1,000 rows
    assert set(marks[3:]) == {None}
    assert [w.num_rows for w in windows[3:]] == [4_000] * 16 + [1_541]
    assert [n for w in windows for n in w.column("n").to_pylist()] == [
        *range(9_000),
        *range(GROUP_ROWS + 5),
    ]


def test_a_row_group_read_whole_reads_its_largest_columns_first() -> None:
    # A column's reader holds its pages while the columns read before it are held too: the
    # large ones go first.  The window keeps the file's column order.
    from judgekit.datasets.parquet import _largest_first

    rows = 3_000
    table = pa.table(
        {
            "id": list(range(rows)),
            "meta": [{"k": f"{i:050d}"} for i in range(rows)],
            "text": [f"{i:0300d}" for i in range(rows)],
            "flag": [i % 2 == 0 for i in range(rows)],
        }
    )
    pq.write_table(table, "data.parquet", compression="none")
    parquet = pq.ParquetFile("data.parquet")
    assert [field.name for field in _largest_first(parquet, 0)] == ["text", "meta", "id", "flag"]
    windows = list(iter_windows(inspect_dataset("data.parquet"), 2_000))
    assert [(w.schema.metadata or {}).get(GROUP_KEY) for w in windows] == [b"more", b"last"]
    assert pa.concat_tables(windows).replace_schema_metadata(None).equals(table)


def test_a_parquet_row_group_large_only_in_memory_is_streamed() -> None:
    # 9,000 copies of one 1,000-character text: a few KB on disk (dictionary-encoded),
    # 9 MB in memory, over GROUP_BYTES: the group is streamed, not read whole.
    rows = 9_000
    table = pa.table({"n": list(range(rows)), "prompt": ["x" * 1_000] * rows})
    pq.write_table(table, "data.parquet")
    assert pq.ParquetFile("data.parquet").metadata.row_group(0).total_byte_size < GROUP_BYTES
    windows = list(iter_windows(inspect_dataset("data.parquet"), 4_000))
    assert [w.num_rows for w in windows] == [4_000, 4_000, 1_000]
    assert all(GROUP_KEY not in (w.schema.metadata or {}) for w in windows)
    assert pa.concat_tables(windows).equals(table)


def test_rows_per_window_must_be_positive() -> None:
    info = inspect_dataset(write_jsonl("data.jsonl", [{"id": 1}]))
    with pytest.raises(ValueError, match="rows_per_window"):
        next(iter_windows(info, 0))


def test_row_values_and_ids() -> None:
    write_jsonl("data.jsonl", [{"q": "a", "n": 1}, {"q": "b", "n": 2}, {"q": "c", "n": 3}])
    info = inspect_dataset("data.jsonl")
    window = next(iter_windows(info, 2))
    assert row_values(window, ["n", "q"]) == [{"n": 1, "q": "a"}, {"n": 2, "q": "b"}]
    assert row_values(window, []) == [{}, {}]
    assert row_ids(info, window, start=10) == [10, 11]


def test_row_ids_from_the_id_column() -> None:
    info = inspect_dataset(write_jsonl("data.jsonl", [{"id": "x"}, {"id": "y"}]))
    window = next(iter_windows(info))
    assert row_ids(info, window, start=0) == ["x", "y"]


# --- Parquet ------------------------------------------------------------------------------------


def _three_parts(root: str) -> None:
    write_parquet(
        f"{root}/part-0.parquet", pa.table({"id": pa.array([0, 1], pa.int32()), "q": ["a", "b"]})
    )
    write_parquet(f"{root}/part-1.parquet", pa.table({"q": ["c"], "id": pa.array([2], pa.int64())}))
    write_parquet(
        f"{root}/part-2.parquet",
        pa.table({"id": pa.array([3, 4], pa.int64()), "q": ["d", "e"], "extra": [True, False]}),
        row_group_size=1,
    )
    write_parquet(f"{root}/_temporary/part-9.parquet", pa.table({"id": [99]}))
    write_parquet(f"{root}/.hidden.parquet", pa.table({"id": [98]}))
    Path(f"{root}/_SUCCESS").write_text("")


@pytest.mark.parametrize(
    "path",
    ["parts", "parts/", "parts/part-*.parquet", "parts/*"],
    ids=["dir", "dir-slash", "glob", "glob-star"],
)
def test_parquet_directory_and_glob(path: str) -> None:
    _three_parts("parts")
    info = inspect_dataset(path)
    assert info.format == "parquet"
    assert info.files == tuple(Path(f"parts/part-{i}.parquet") for i in range(3))
    assert info.columns == ("id", "q", "extra")
    assert info.schema == pa.schema([("id", pa.int64()), ("q", pa.string()), ("extra", pa.bool_())])
    assert info.rows == 5
    assert info.id_column == "id"
    assert all_rows(info, rows_per_window=2) == [
        {"id": 0, "q": "a", "extra": None},
        {"id": 1, "q": "b", "extra": None},
        {"id": 2, "q": "c", "extra": None},
        {"id": 3, "q": "d", "extra": True},
        {"id": 4, "q": "e", "extra": False},
    ]


def test_parquet_single_file_keeps_types_and_drops_metadata() -> None:
    table = pa.table(
        {
            "q": ["a", "b"],
            "ctx": pa.array([["x"], None], pa.list_(pa.string())),
            "meta": [{"k": 1}, {"k": 2}],
        }
    ).replace_schema_metadata({"foo": "bar"})
    write_parquet("data.parquet", table)
    info = inspect_dataset("data.parquet")
    assert info.id_column is None
    assert info.schema.metadata is None
    assert info.schema.field("ctx").type == pa.list_(pa.string())
    assert all_rows(info) == table.to_pylist()


def test_parquet_limit_stops_the_id_check() -> None:
    write_parquet("data.parquet", pa.table({"id": [1, 2, 1]}))
    assert inspect_dataset("data.parquet", limit=2).rows == 2
    with pytest.raises(DatasetError, match="duplicate ids"):
        inspect_dataset("data.parquet", limit=3)


def test_parquet_nested_id_is_refused() -> None:
    write_parquet("data.parquet", pa.table({"id": [[1], [2]]}))
    with pytest.raises(DatasetError) as caught:
        inspect_dataset("data.parquet")
    assert str(caught.value) == (
        "data.parquet: id column 'id' has type list<element: int64>; ids must be strings or numbers"
    )


def test_corrupt_parquet_page_is_a_dataset_error_in_the_windows_pass() -> None:
    write_parquet("data.parquet", pa.table({"id": [1, 2, 3], "q": ["a", "b", "c"]}))
    chunk = pq.ParquetFile("data.parquet").metadata.row_group(0).column(1)
    start = chunk.dictionary_page_offset or chunk.data_page_offset
    data = bytearray(Path("data.parquet").read_bytes())
    data[start : start + 8] = b"\xff" * 8  # the page header of column "q"
    Path("data.parquet").write_bytes(bytes(data))
    info = inspect_dataset("data.parquet")  # reads the id column only
    with pytest.raises(DatasetError) as caught:
        list(iter_windows(info))
    assert str(caught.value) == (
        "data.parquet: unreadable Parquet file (Couldn't deserialize thrift: don't know what"
        " type: Deserializing page header failed.)"
    )


def test_window_limit_zero_yields_nothing() -> None:
    info = inspect_dataset(write_jsonl("data.jsonl", [{"id": 1}]))
    assert list(iter_windows(info, limit=0)) == []


# --- values that must stay exact ------------------------------------------------------------------


def test_integers_beyond_64_bits_stay_exact_and_distinct() -> None:
    Path("data.jsonl").write_text(
        '{"id": 18446744073709551617, "n": 18446744073709551617}\n'
        '{"id": 18446744073709551618, "n": 1}\n'
    )
    info = inspect_dataset("data.jsonl")
    assert info.schema == pa.schema([("id", pa.string()), ("n", pa.string())])
    assert all_rows(info) == [
        {"id": "18446744073709551617", "n": "18446744073709551617"},
        {"id": "18446744073709551618", "n": "1"},
    ]
    window = next(iter_windows(info))
    assert row_ids(info, window, start=0) == ["18446744073709551617", "18446744073709551618"]


def test_the_duplicate_check_sees_exact_big_integers() -> None:
    Path("data.jsonl").write_text(
        '{"id": 18446744073709551617}\n{"id": 18446744073709551618}\n{"id": 18446744073709551617}\n'
    )
    with pytest.raises(DatasetError) as caught:
        inspect_dataset("data.jsonl")
    assert str(caught.value) == (
        "data.jsonl: duplicate ids in column 'id': 18446744073709551617 (1 duplicated id)"
    )


NON_FINITE = [float("nan"), float("inf"), float("-inf"), 0.5]


def _is_same(a: list[Any], b: list[Any]) -> bool:
    return all((x != x and y != y) or x == y for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_nan_and_infinity_are_read_as_floats_from_jsonl_and_parquet(fmt: str) -> None:
    if fmt == "jsonl":
        Path("data.jsonl").write_text(
            '{"id": 1, "x": NaN}\n{"id": 2, "x": Infinity}\n{"id": 3, "x": -Infinity}\n'
            '{"id": 4, "x": 0.5}\n'
        )
    else:
        write_parquet("data.parquet", pa.table({"id": [1, 2, 3, 4], "x": NON_FINITE}))
    info = inspect_dataset(f"data.{fmt}")
    assert info.schema.field("x").type == pa.float64()
    assert _is_same([row["x"] for row in all_rows(info)], NON_FINITE)


def test_parquet_files_differing_only_in_encoding_read_as_one_dataset() -> None:
    write_parquet("parts/a.parquet", pa.table({"id": [1], "t": pa.array(["a"], pa.string())}))
    write_parquet("parts/b.parquet", pa.table({"id": [2], "t": pa.array(["b"], pa.large_string())}))
    write_parquet(
        "parts/c.parquet", pa.table({"id": [3], "t": pa.array(["c"]).dictionary_encode()})
    )
    write_parquet(
        "parts/d.parquet",
        pa.table({"id": [4], "t": pa.array(["d"], pa.large_string()).dictionary_encode()}),
    )
    info = inspect_dataset("parts")
    assert info.schema == pa.schema([("id", pa.int64()), ("t", pa.string())])
    assert all_rows(info, rows_per_window=3) == [
        {"id": 1, "t": "a"},
        {"id": 2, "t": "b"},
        {"id": 3, "t": "c"},
        {"id": 4, "t": "d"},
    ]


def test_windows_carry_the_json_of_values_arrow_cannot_give_back() -> None:
    Path("data.jsonl").write_text(
        '{"id": 1, "meta": {"a": 1}, "mixed": 7, "big": 18446744073709551617}\n'
        '{"id": 2, "meta": {"b": null, "n": NaN}, "mixed": "7", "big": 2}\n'
        '{"id": 3, "meta": null, "mixed": {"k": [1]}, "big": 3}\n'
    )
    info = inspect_dataset("data.jsonl")
    plain = next(iter_windows(info))
    assert raw_json(plain) == {}
    window = next(iter_windows(info, with_json=True))
    assert window.schema.remove_metadata() == info.schema
    assert raw_json(window) == {
        "meta": ['{"a":1}', '{"b":null,"n":NaN}', None],
        "mixed": ["7", None, '{"k":[1]}'],
        "big": ["18446744073709551617", "2", "3"],
    }


# -- what a path names: a directory of mixed kinds, a pipe ---------------------------------


@pytest.mark.parametrize(
    ("dataset", "verb"), [("mixed", "holds"), ("mixed/*", "matches")], ids=["directory", "glob"]
)
def test_a_directory_or_glob_mixing_parquet_and_jsonl_is_refused(
    workspace: Workspace, dataset: str, verb: str
) -> None:
    """It scored the Parquet rows only, exit 0, silently."""
    write_parquet("mixed/nested.parquet", pa.table({"id": ["a"], "answer": ["x"]}))
    write_jsonl("mixed/more.jsonl", [{"id": "b", "answer": "y"}])
    write_jsonl("mixed/.hidden.jsonl", [{"id": "c", "answer": "z"}])  # skipped, as pyarrow does
    result = workspace.score(Path(dataset), workspace.write_config(), Path("out.parquet"))
    assert (result.exit_code, result.stderr) == (
        2,
        f"error: {dataset}: {verb} 1 .parquet file and 1 JSONL file (mixed/more.jsonl); a glob"
        " or directory reads .parquet files only, so its rows would not be scored: convert it"
        " to Parquet, or score it on its own\n",
    )
    assert not Path("out.parquet").exists()


def test_a_directory_with_parquet_and_csv_files_names_the_csv_ones() -> None:
    write_parquet("mixed/a.parquet", pa.table({"id": ["a"]}))
    Path("mixed/b.csv").write_text("id\nb\n", encoding="utf-8")
    Path("mixed/c.csv").write_text("id\nc\n", encoding="utf-8")
    with pytest.raises(DatasetError) as caught:
        inspect_dataset("mixed")
    assert str(caught.value) == (
        "mixed: holds 1 .parquet file and 2 CSV files (mixed/b.csv, ...); a glob or directory"
        " reads .parquet files only, so their rows would not be scored: convert them to"
        " Parquet, or score them on their own"
    )


PIPE_LINE = (
    "error: {path}: is {kind}, not a file; judgekit reads a dataset twice (to check it, then"
    " to score it): save it to a file first and score that\n"
)


@pytest.mark.parametrize("command", ["score", "validate", "init"])
def test_a_named_pipe_as_dataset_is_refused_before_it_is_opened(
    workspace: Workspace, command: str
) -> None:
    """It hung forever (opened twice: inspect, then read), and kill -9 left a temp file."""
    os.mkfifo("f.jsonl")  # never opened here: opening it would block this test
    config = str(workspace.write_config())
    args = {
        "score": workspace.score_args(Path("f.jsonl"), Path(config), Path("out.parquet")),
        "validate": ["validate", "-c", config, "f.jsonl"],
        "init": ["init", "f.jsonl", "-o", "new.toml"],
    }[command]
    result = workspace.invoke(*args)
    assert (result.exit_code, result.stderr) == (
        2,
        PIPE_LINE.format(path="f.jsonl", kind="a named pipe (FIFO)"),
    )
    assert sorted(p.name for p in Path().iterdir()) == ["f.jsonl", "judges.toml"]


def test_a_character_device_as_dataset_is_refused(workspace: Workspace) -> None:
    """``/dev/null`` stands for ``/dev/stdin`` on a terminal (a character device too)."""
    config = workspace.write_config()
    result = workspace.score(Path("/dev/null"), config, Path("out.parquet"))
    assert (result.exit_code, result.stderr) == (
        2,
        PIPE_LINE.format(path="/dev/null", kind="a character device"),
    )


@pytest.mark.parametrize("command", ["agreement", "report"])
def test_a_named_pipe_as_the_scored_file_is_refused_before_it_is_opened(
    workspace: Workspace, command: str
) -> None:
    """``agreement -c`` read the file's metadata first and hung on the pipe."""
    os.mkfifo("scored.parquet")  # never opened here
    config = str(workspace.write_config())
    extra = ["-o", "r.html"] if command == "report" else []
    result = workspace.invoke(command, "scored.parquet", "-c", config, *extra)
    assert (result.exit_code, result.stderr) == (
        2,
        "error: scored.parquet: is a named pipe (FIFO), not a file; save the scored rows to a "
        "file first and give that\n",
    )
    assert not Path("r.html").exists()
