"""CSV datasets through ``judgekit.datasets``: every value as written, errors in one line."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from judgekit.datasets import inspect_dataset, iter_windows, row_ids
from judgekit.errors import DatasetError


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def write(text: str, name: str = "data.csv") -> str:
    Path(name).write_bytes(text.encode("utf-8"))
    return name


def test_values_are_text_exactly_as_written() -> None:
    path = write(
        '\ufeffid,question,answer,score\n007,"Say ""hi""","line one\nline two",NA\n8,,"",1.50\n'
    )
    info = inspect_dataset(path)
    assert (info.format, info.rows, info.columns, info.id_column) == (
        "csv",
        2,
        ("id", "question", "answer", "score"),
        "id",
    )
    assert info.schema == pa.schema([(name, pa.string()) for name in info.columns])
    (window,) = iter_windows(info)
    assert window.to_pylist() == [
        {"id": "007", "question": 'Say "hi"', "answer": "line one\nline two", "score": "NA"},
        {"id": "8", "question": None, "answer": "", "score": "1.50"},
    ]
    assert row_ids(info, window, 0) == ["007", "8"]


def test_without_an_id_column_rows_are_numbered() -> None:
    info = inspect_dataset(write("question,answer\nq1,a1\nq2,a2\nq3,a3\n"))
    assert (info.rows, info.id_column) == (3, None)


def test_windows_and_limit_stream_in_order() -> None:
    rows = "".join(f"{i},q{i}\n" for i in range(25))
    info = inspect_dataset(write("id,q\n" + rows), limit=12)
    assert info.rows == 12
    windows = list(iter_windows(info, rows_per_window=5))
    assert [w.num_rows for w in windows] == [5, 5, 2]
    assert [i for w in windows for i in w.column("id").to_pylist()] == [str(i) for i in range(12)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "data.csv: dataset is empty (no header, no rows)"),
        ("id,q\n", "data.csv: dataset is empty (no rows)"),
        (
            "id,q,q\n1,a,b\n",
            "data.csv: column 'q' appears more than once in the header;"
            " give every column its own name",
        ),
        ("id,q\n1,a\n2\n", "data.csv: invalid CSV (CSV parse error: Expected 2 columns, got 1: 2)"),
        ("id,q\n1,a\n,b\n", "data.csv: row 2: id column 'id' is empty"),
        ("id,q\n1,a\n2,b\n1,c\n", "data.csv: duplicate ids in column 'id': '1' (1 duplicated id)"),
    ],
    ids=["empty-file", "header-only", "repeated-column", "ragged", "empty-id", "duplicate-id"],
)
def test_bad_csv_is_one_line_error(text: str, message: str) -> None:
    with pytest.raises(DatasetError) as caught:
        inspect_dataset(write(text))
    assert str(caught.value) == message


def test_invalid_utf8_in_any_column_is_found_before_any_call() -> None:
    Path("data.csv").write_bytes(b"id,q\n1,ok\n2,\xff\n")
    with pytest.raises(DatasetError) as caught:
        inspect_dataset("data.csv")
    assert str(caught.value) == (
        "data.csv: invalid CSV (In CSV column #1: CSV conversion error to string: invalid UTF8"
        " data)"
    )
