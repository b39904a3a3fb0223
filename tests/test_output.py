"""Tests for judgekit.output: columns, atomic streaming writes, metadata, JSONL and CSV."""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from disk_full import fill, tiny_disk

from judgekit.datasets import inspect_dataset, iter_windows
from judgekit.errors import OutputError, UsageError
from judgekit.output import (
    ROW_GROUP_ROWS,
    OutputWriter,
    check_output_path,
    judge_arrays,
    judge_fields,
    output_schema,
)
from judgekit.records import JudgeResult

INPUT = pa.schema([("id", pa.string()), ("q", pa.string()), ("ctx", pa.list_(pa.string()))])
JUDGES: list[tuple[str, tuple[str, ...]]] = [("correct", ()), ("style", ("clarity", "tone"))]

OK = JudgeResult(
    score=0.9,
    passed=True,
    reasoning="fine",
    confidence=0.8,
    criteria={"clarity": 1.0, "tone": 0.5, "extra": 0.1},
    input_tokens=120,
    output_tokens=30,
    cost_usd=0.0001,
    latency_ms=812.5,
    model="gpt-4o-mini",
    response_id="resp_1",
)
OK_ROW = [
    ("score", 0.9),
    ("passed", True),
    ("reasoning", "fine"),
    ("confidence", 0.8),
    ("error", None),
    ("input_tokens", 120),
    ("output_tokens", 30),
    ("cost_usd", 0.0001),
    ("latency_ms", 812.5),
    ("model", "gpt-4o-mini"),
    ("response_id", "resp_1"),
]
FAILED = JudgeResult(error="timeout", cost_usd=0.0)
PARTIAL = JudgeResult(score=0.2, passed=False, reasoning="meh", criteria={"clarity": 0.2})


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def window(*ids: str) -> pa.Table:
    return pa.table(
        {"id": list(ids), "q": [f"q{i}" for i in ids], "ctx": [[i] for i in ids]}, schema=INPUT
    )


def results(*rows: JudgeResult) -> dict[str, list[JudgeResult]]:
    return {"correct": list(rows), "style": list(rows)}


def temp_files(directory: Path = Path()) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


# --- columns --------------------------------------------------------------------------------------


def test_judge_fields_without_criteria() -> None:
    assert judge_fields("correct", []) == [
        pa.field("correct_score", pa.float64()),
        pa.field("correct_passed", pa.bool_()),
        pa.field("correct_reasoning", pa.string()),
        pa.field("correct_confidence", pa.float64()),
        pa.field("correct_error", pa.string()),
        pa.field("correct_input_tokens", pa.int64()),
        pa.field("correct_output_tokens", pa.int64()),
        pa.field("correct_cost_usd", pa.float64()),
        pa.field("correct_latency_ms", pa.float64()),
        pa.field("correct_model", pa.string()),
        pa.field("correct_response_id", pa.string()),
    ]


def test_judge_fields_with_criteria_puts_the_struct_after_confidence() -> None:
    fields = judge_fields("style", ["tone", "clarity"])
    assert [f.name for f in fields][3:6] == ["style_confidence", "style_criteria", "style_error"]
    assert fields[4].type == pa.struct([("tone", pa.float64()), ("clarity", pa.float64())])
    assert len(fields) == 12


def test_output_schema_is_input_then_each_judge() -> None:
    schema = output_schema(INPUT.with_metadata({"a": "b"}), JUDGES)
    expected = [*INPUT, *judge_fields("correct", ()), *judge_fields("style", ("clarity", "tone"))]
    assert list(schema) == expected
    assert schema.metadata is None


@pytest.mark.parametrize(
    ("schema", "judges", "message"),
    [
        (
            pa.schema([("correct_score", pa.float64())]),
            [("correct", ())],
            "output column 'correct_score' already exists (from the dataset or another judge);"
            " rename judge 'correct' or drop the column",
        ),
        (
            INPUT,
            [("a", ()), ("a", ())],
            "output column 'a_score' already exists (from the dataset or another judge);"
            " rename judge 'a' or drop the column",
        ),
    ],
    ids=["dataset-column", "same-judge-twice"],
)
def test_output_schema_refuses_name_clashes(
    schema: pa.Schema, judges: list[tuple[str, tuple[str, ...]]], message: str
) -> None:
    with pytest.raises(UsageError) as caught:
        output_schema(schema, judges)
    assert str(caught.value) == message


# --- output path ------------------------------------------------------------------------------


def test_check_output_path_accepts_known_formats_in_new_directories() -> None:
    for name in [
        "out.parquet",
        "a/b/out.jsonl",
        "OUT.CSV",
        "o.ndjson",
        "o.jsonl.gz",
        "o.NDJSON.GZ",
    ]:
        check_output_path(Path(name))
    assert not Path("a").exists()  # checking creates nothing


@pytest.mark.parametrize(
    ("setup", "path", "message"),
    [
        (
            None,
            "out.xlsx",
            "out.xlsx: unsupported output format (use .parquet, .jsonl, .ndjson, .jsonl.gz or "
            ".csv)",
        ),
        (
            None,
            "out",
            "out: unsupported output format (use .parquet, .jsonl, .ndjson, .jsonl.gz or .csv)",
        ),
        (
            None,
            "out.json.gz",
            "out.json.gz: unsupported output format (use .parquet, .jsonl, .ndjson, .jsonl.gz or "
            ".csv)",
        ),
        (
            "file",
            "blocker/sub/out.parquet",
            "blocker/sub/out.parquet: cannot create directory blocker/sub (blocker is a file)",
        ),
        (
            "dir",
            "taken.parquet",
            "taken.parquet: is a directory; give a file name, e.g. -o taken.parquet/scored.parquet",
        ),
        (
            "dir",
            "taken.parquet/",
            "taken.parquet: is a directory; give a file name, e.g. -o taken.parquet/scored.parquet",
        ),
    ],
    ids=["xlsx", "no-extension", "json-gz", "file-in-the-way", "is-a-directory", "dir-slash"],
)
def test_check_output_path_errors(setup: str | None, path: str, message: str) -> None:
    if setup == "file":
        Path("blocker").write_text("")
    elif setup == "dir":
        Path("taken.parquet").mkdir()
    with pytest.raises(UsageError) as caught:
        check_output_path(Path(path))
    assert str(caught.value) == message


def test_writer_checks_the_path_before_creating_anything() -> None:
    with pytest.raises(UsageError, match="unsupported output format"):
        OutputWriter(Path("out.xlsx"), INPUT, JUDGES)
    assert list(Path().iterdir()) == []


# --- Parquet ------------------------------------------------------------------------------------


def test_parquet_round_trip_with_metadata() -> None:
    out = Path("out/scored.parquet")
    metadata = {"judgekit.version": "0.1.0", "judgekit.totals": json.dumps({"rows": 3})}
    with OutputWriter(out, INPUT, JUDGES) as writer:
        writer.write(window("a", "b"), results(OK, FAILED))
        writer.write(window(), results())
        writer.write(window("c"), results(PARTIAL))
        writer.commit(metadata)
    table = pq.read_table(out)
    assert table.schema.remove_metadata() == output_schema(INPUT, JUDGES)
    assert table.column("id").to_pylist() == ["a", "b", "c"]
    assert table.column("ctx").to_pylist() == [["a"], ["b"], ["c"]]
    assert table.slice(0, 1).select(
        [f"correct_{c}" for c in ("score", "passed", "error")]
    ).to_pylist() == [{"correct_score": 0.9, "correct_passed": True, "correct_error": None}]
    assert table.slice(0, 1).select(output_schema(INPUT, JUDGES).names[3:]).to_pylist() == [
        {
            **{
                f"{judge}_{name}": value for judge in ("correct", "style") for name, value in OK_ROW
            },
            "style_criteria": {"clarity": 1.0, "tone": 0.5},
        }
    ]
    assert table.column("style_criteria").to_pylist() == [
        {"clarity": 1.0, "tone": 0.5},  # "extra" is no configured criterion: dropped
        None,
        {"clarity": 0.2, "tone": None},
    ]
    assert table.column("correct_error").to_pylist() == [None, "timeout", None]
    assert table.column("correct_input_tokens").to_pylist() == [120, 0, 0]
    assert table.column("correct_latency_ms").to_pylist() == [812.5, None, None]
    assert table.column("style_response_id").to_pylist() == ["resp_1", None, None]
    parquet = pq.ParquetFile(out)
    stored = parquet.metadata.metadata
    assert stored[b"judgekit.version"] == b"0.1.0"
    assert json.loads(stored[b"judgekit.totals"]) == {"rows": 3}
    assert parquet.metadata.num_row_groups == 1  # small windows gathered into one row group
    assert parquet.metadata.row_group(0).column(0).compression == "ZSTD"
    assert temp_files(out.parent) == []


def test_parquet_row_groups_gather_windows_up_to_a_size() -> None:
    # A row group per window would keep ~10-30 KB of writer metadata per 2,000 rows in memory.
    rows = 2_000
    full = -(-ROW_GROUP_ROWS // rows)  # windows that reach ROW_GROUP_ROWS: 33
    window = pa.table(
        {"id": [f"r{i}" for i in range(rows)], "q": ["x"] * rows, "ctx": [None] * rows},
        schema=INPUT,
    )
    results = {"correct": [OK] * rows, "style": [OK] * rows}
    with OutputWriter(Path("out.parquet"), INPUT, JUDGES) as writer:
        for _ in range(full + 1):
            writer.write(window, results)
        writer.commit({})
    metadata = pq.ParquetFile("out.parquet").metadata
    sizes = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
    # The first row group closed at ROW_GROUP_ROWS or ROW_GROUP_BYTES, a whole number of windows.
    assert sum(sizes) == (full + 1) * rows
    assert 1 < len(sizes) < full + 1
    assert all(size == sizes[0] and size % rows == 0 for size in sizes[:-1])


def test_buffers_the_gathered_windows_share_count_once() -> None:
    # The same 2,000 rows (~420 KB) written 40 times with all-null judge columns (shared by
    # every window) hold ~420 KB, not 40 times that: the row group gathers ROW_GROUP_ROWS rows
    # instead of closing at ROW_GROUP_BYTES (~10 windows).
    rows = 2_000
    window = pa.table(
        {"id": [f"{i:0200d}" for i in range(rows)], "q": ["x"] * rows, "ctx": [None] * rows},
        schema=INPUT,
    )
    results = {"correct": [JudgeResult()] * rows, "style": [JudgeResult()] * rows}
    with OutputWriter(Path("out.parquet"), INPUT, JUDGES) as writer:
        for _ in range(40):
            writer.write(window, results)
        writer.commit({})
    metadata = pq.ParquetFile("out.parquet").metadata
    sizes = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
    full = -(-ROW_GROUP_ROWS // rows) * rows  # 66,000: the first window past ROW_GROUP_ROWS
    assert sizes == [full, 40 * rows - full]


def _score_parquet(source: pa.Table, group_rows: int) -> list[int]:
    """Write ``source`` in row groups of ``group_rows``, stream it through OutputWriter in
    2,000-row windows with one judge; the output's row group sizes."""
    pq.write_table(source, "in.parquet", row_group_size=group_rows)
    info = inspect_dataset("in.parquet")
    with OutputWriter(Path("out.parquet"), info.schema, [("j", ())]) as writer:
        for table in iter_windows(info, 2_000):
            writer.write(table, {"j": [OK] * table.num_rows})
        writer.commit({})
    assert pq.read_table("out.parquet").select(source.column_names).equals(source)
    metadata = pq.ParquetFile("out.parquet").metadata
    return [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]


def test_parquet_output_row_groups_end_where_the_input_groups_end() -> None:
    # An input row group is read whole and shared by its windows: the output writes its row
    # group there, so the input's is freed before the next one is read.  6,000 rows of 200
    # characters are over GROUP_END_BYTES (1 MiB) a group.
    rows = 18_000
    text = pa.table({"id": list(range(rows)), "text": [f"{i:0200d}" for i in range(rows)]})
    assert _score_parquet(text, 6_000) == [6_000, 6_000, 6_000]


def test_tiny_parquet_input_row_groups_are_gathered_into_one() -> None:
    # A row group per 7-row input group would keep ~10-30 KB of writer metadata for each.
    assert _score_parquet(pa.table({"id": list(range(700))}), 7) == [700]


def test_all_null_and_all_zero_judge_columns_are_shared_and_kept_exact() -> None:
    # A rule judge leaves half of its columns null and its tokens and cost 0: one array per
    # type and length serves every window.  -0.0 equals 0 but is not 0.0: it is kept.
    first = judge_arrays([("j", ())], {"j": [JudgeResult(score=0.5)] * 3})
    again = judge_arrays([("j", ())], {"j": [JudgeResult(score=0.25)] * 3})
    names = [field.name for field in judge_fields("j", ())]
    shared = [name for name, a, b in zip(names, first, again, strict=True) if a is b]
    assert shared == [
        "j_passed",
        "j_reasoning",
        "j_confidence",
        "j_error",
        "j_input_tokens",
        "j_output_tokens",
        "j_cost_usd",
        "j_latency_ms",
        "j_model",
        "j_response_id",
    ]
    assert first[names.index("j_input_tokens")].to_pylist() == [0, 0, 0]
    assert first[names.index("j_latency_ms")].to_pylist() == [None, None, None]
    negative = judge_arrays([("j", ())], {"j": [JudgeResult(cost_usd=-0.0)] * 3})
    cost = negative[names.index("j_cost_usd")]
    assert cost is not first[names.index("j_cost_usd")]
    assert [math.copysign(1.0, value) for value in cost.to_pylist()] == [-1.0, -1.0, -1.0]


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl", ".csv"])
def test_zero_windows_write_an_empty_file(suffix: str) -> None:
    out = Path(f"out{suffix}")
    with OutputWriter(out, INPUT, JUDGES) as writer:
        writer.commit({"judgekit.version": "0.1.0"})
    if suffix == ".parquet":
        table = pq.read_table(out)
        assert table.num_rows == 0
        assert table.schema.remove_metadata() == output_schema(INPUT, JUDGES)
    elif suffix == ".csv":
        header = out.read_text().splitlines()
        assert header == [",".join(f'"{name}"' for name in output_schema(INPUT, JUDGES).names)]
    else:
        assert out.read_bytes() == b""


# --- atomicity ----------------------------------------------------------------------------------


def test_out_appears_only_on_commit() -> None:
    out = Path("out.parquet")
    writer = OutputWriter(out, INPUT, JUDGES)
    writer.write(window("a"), results(OK))
    assert not out.exists()
    assert len(temp_files()) == 1
    writer.commit({})
    assert out.exists()
    assert temp_files() == []


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl", ".csv"])
@pytest.mark.parametrize("existing", [None, b"previous output"], ids=["no-out", "existing-out"])
def test_abort_leaves_out_as_it_was(suffix: str, existing: bytes | None) -> None:
    out = Path(f"out{suffix}")
    if existing is not None:
        out.write_bytes(existing)
    writer = OutputWriter(out, INPUT, JUDGES)
    writer.write(window("a"), results(OK))
    writer.abort()
    writer.abort()  # idempotent
    assert (out.read_bytes() if out.exists() else None) == existing
    assert temp_files() == []


@pytest.mark.parametrize("end", ["commit", "abort"])
def test_the_parquet_writer_thread_ends_with_the_writer(end: str) -> None:
    # The Parquet sink encodes in a thread of its own (its metadata in its own C heap).
    import threading

    def writer_threads() -> list[str]:
        return [t.name for t in threading.enumerate() if t.name.startswith("judgekit-parquet")]

    with OutputWriter(Path("out.parquet"), INPUT, JUDGES) as writer:
        writer.write(window("a", "b"), results(OK, FAILED))
        if end == "commit":
            writer.commit({})
        else:
            writer.abort()
    assert writer_threads() == []
    if end == "commit":
        assert pq.read_table("out.parquet").column("id").to_pylist() == ["a", "b"]


def test_exception_inside_with_block_aborts() -> None:
    out = Path("out.parquet")
    out.write_bytes(b"previous output")

    def scored() -> Iterator[pa.Table]:
        yield window("a")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt), OutputWriter(out, INPUT, JUDGES) as writer:
        for table in scored():
            writer.write(table, results(OK))
    assert out.read_bytes() == b"previous output"
    assert temp_files() == []


def test_commit_replaces_existing_out() -> None:
    out = Path("out.jsonl")
    out.write_text("old\n")
    with OutputWriter(out, INPUT, JUDGES) as writer:
        writer.write(window("a"), results(OK))
        writer.commit({})
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == ["a"]


def test_new_file_mode_follows_the_umask() -> None:
    previous = os.umask(0o027)
    try:
        with OutputWriter(Path("out.parquet"), INPUT, JUDGES) as writer:
            writer.commit({})
    finally:
        os.umask(previous)
    assert Path("out.parquet").stat().st_mode & 0o777 == 0o640


def test_writer_refuses_use_after_commit_and_bad_input() -> None:
    writer = OutputWriter(Path("out.parquet"), INPUT, JUDGES)
    with pytest.raises(ValueError, match=r"judge 'correct': 1 results for 2 rows"):
        writer.write(window("a", "b"), {"correct": [OK], "style": [OK, OK]})
    with pytest.raises(ValueError, match="window schema differs"):
        writer.write(window("a").drop_columns(["ctx"]), results(OK))
    writer.commit({})
    with pytest.raises(RuntimeError, match="already committed"):
        writer.write(window("a"), results(OK))


# --- JSONL and CSV ------------------------------------------------------------------------------


def test_jsonl_output_nests_structs() -> None:
    out = Path("out.jsonl")
    with OutputWriter(out, INPUT, JUDGES) as writer:
        writer.write(window("a", "b"), results(OK, FAILED))
        writer.write(window("c"), results(PARTIAL))
        writer.commit({"judgekit.version": "ignored"})
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [row["id"] for row in rows] == ["a", "b", "c"]
    assert list(rows[0]) == output_schema(INPUT, JUDGES).names
    assert rows[0]["ctx"] == ["a"]
    assert rows[0]["style_criteria"] == {"clarity": 1.0, "tone": 0.5}
    assert rows[1]["style_criteria"] is None
    assert rows[1]["correct_error"] == "timeout"
    assert rows[0]["correct_passed"] is True
    assert rows[0]["correct_input_tokens"] == 120


def test_csv_output_has_a_header_and_json_encoded_nested_values() -> None:
    out = Path("out.csv")
    with OutputWriter(out, INPUT, JUDGES) as writer:
        writer.write(window("a", "b"), results(OK, FAILED))
        writer.commit({})
    with out.open(newline="", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    assert list(rows[0]) == output_schema(INPUT, JUDGES).names
    assert rows[0]["ctx"] == '["a"]'
    assert json.loads(rows[0]["style_criteria"]) == {"clarity": 1.0, "tone": 0.5}
    assert rows[1]["style_criteria"] == ""
    assert rows[0]["correct_score"] == "0.9"
    assert rows[0]["correct_passed"] == "true"
    assert rows[1]["correct_error"] == "timeout"


ODD = pa.schema(
    [
        ("blob", pa.binary()),
        ("tags", pa.dictionary(pa.int8(), pa.binary())),
        ("when", pa.struct([("day", pa.date32()), ("raw", pa.binary())])),
    ]
)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_binary_and_dates_are_written_as_text(suffix: str) -> None:
    table = pa.table(
        {
            "blob": pa.array([b"\x00\xff", None], pa.binary()),
            "tags": pa.array([b"x", b"y"], pa.binary()).dictionary_encode().cast(ODD.field(1).type),
            "when": pa.array([{"day": date(2024, 1, 2), "raw": b"hi"}, None], ODD.field(2).type),
        },
        schema=ODD,
    )
    out = Path(f"out{suffix}")
    with OutputWriter(out, ODD, [("j", ())]) as writer:
        writer.write(table, {"j": [OK, FAILED]})
        writer.commit({})
    if suffix == ".jsonl":
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        nulls = None
    else:
        with out.open(newline="") as stream:
            rows = list(csv.DictReader(stream))
        nulls = ""
    assert [row["blob"] for row in rows] == ["AP8=", nulls]
    assert [row["tags"] for row in rows] == ["eA==", "eQ=="]
    assert [row["when"] for row in rows] == ['{"day":"2024-01-02","raw":"aGk="}', nulls]
    assert rows[0]["j_score"] in (0.9, "0.9")


# --- each value as it came in -------------------------------------------------------------------

ODD_JSONL = (
    '{"id": 1, "meta": {"a": 1}, "mixed": 7, "big": 18446744073709551617, "x": NaN}\n'
    '{"id": 2, "meta": {"b": null, "c": [1, {"d": 2}]}, "mixed": "7", "big": 2, "x": Infinity}\n'
    '{"id": 3, "meta": null, "mixed": {"k": [1.5]}, "big": 3, "x": -Infinity}\n'
)


def _score_file(data: str, out: Path) -> None:
    """Write ``data`` through the output writer as ``score`` does (one judge, every row OK)."""
    info = inspect_dataset(data)
    with OutputWriter(out, info.schema, [("j", ())]) as writer:
        for table in iter_windows(info, 2, with_json=out.suffix in (".jsonl", ".csv")):
            writer.write(table, {"j": [OK] * table.num_rows})
        writer.commit({})


def test_jsonl_output_writes_each_input_value_as_it_came_in() -> None:
    Path("data.jsonl").write_text(ODD_JSONL)
    _score_file("data.jsonl", Path("out.jsonl"))
    lines = Path("out.jsonl").read_text().splitlines()
    # The input's lines, but for spacing: no key added to "meta", numbers as numbers.
    assert [line.split(',"j_score"')[0] + "}" for line in lines] == [
        json.dumps(json.loads(line), separators=(",", ":")) for line in ODD_JSONL.splitlines()
    ]
    assert lines[0].startswith('{"id":1,"meta":{"a":1},"mixed":7,"big":18446744073709551617,')
    assert json.loads(lines[0])["j_score"] == 0.9


def test_csv_output_writes_nested_values_as_the_input_json() -> None:
    Path("data.jsonl").write_text(ODD_JSONL)
    _score_file("data.jsonl", Path("out.csv"))
    with Path("out.csv").open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [row["meta"] for row in rows] == ['{"a":1}', '{"b":null,"c":[1,{"d":2}]}', ""]
    assert [row["mixed"] for row in rows] == ["7", "7", '{"k":[1.5]}']
    assert [row["big"] for row in rows] == ["18446744073709551617", "2", "3"]
    assert [row["x"] for row in rows] == ["nan", "inf", "-inf"]


def test_parquet_output_keeps_nan_and_infinity_and_the_digits_of_big_numbers() -> None:
    Path("data.jsonl").write_text(ODD_JSONL)
    _score_file("data.jsonl", Path("out.parquet"))
    table = pq.read_table("out.parquet")
    assert [str(x) for x in table.column("x").to_pylist()] == ["nan", "inf", "-inf"]
    assert table.column("big").to_pylist() == ["18446744073709551617", "2", "3"]


def test_jsonl_output_writes_nan_from_parquet_input_as_nan_not_null() -> None:
    pq.write_table(
        pa.table({"id": [1, 2], "x": [float("nan"), 0.5], "s": [{"f": float("inf")}, None]}),
        "data.parquet",
    )
    _score_file("data.parquet", Path("out.jsonl"))
    lines = Path("out.jsonl").read_text().splitlines()
    assert [line.split(',"j_score"')[0] for line in lines] == [
        '{"id":1,"x":NaN,"s":{"f":Infinity}',
        '{"id":2,"x":0.5,"s":null',
    ]


# --- a write that fails ---------------------------------------------------------------------------


def _big_window(rows: int) -> pa.Table:
    return pa.table(
        {
            "id": [str(i) for i in range(rows)],
            "q": [os.urandom(2048).hex() for _ in range(rows)],
            "ctx": [[] for _ in range(rows)],
        },
        schema=INPUT,
    )


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl", ".csv"])
def test_a_full_disk_is_one_output_error_and_leaves_nothing(tmp_path: Path, suffix: str) -> None:
    with tiny_disk(tmp_path / "disk", size_kib=256) as disk:
        out = disk / f"out{suffix}"
        out.write_bytes(b"previous run")
        filler = fill(disk, leave_bytes=32 * 1024)
        writer = OutputWriter(out, INPUT, JUDGES)
        with pytest.raises(OutputError) as caught:
            for _ in range(10):  # 10 x 40 KiB of incompressible text
                writer.write(_big_window(10), results(*[OK] * 10))
            writer.commit({})
        writer.abort()
        assert str(caught.value) == (
            f"{out}: cannot write the output (No space left on device); nothing was written"
        )
        assert caught.value.__cause__ is None and caught.value.__suppress_context__
        assert sorted(p.name for p in disk.iterdir()) == sorted([out.name, filler.name])
        assert out.read_bytes() == b"previous run"
