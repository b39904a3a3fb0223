"""Tests for judgekit.output_parts: a scored output as a directory of Parquet parts, and
the commands that read a scored output (agreement, report's metadata) reading one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import Workspace
from disk_full import fill, tiny_disk

from judgekit.errors import OutputError, UsageError
from judgekit.output import THRESHOLDS_KEY, read_thresholds
from judgekit.output_parts import (
    PartsWriter,
    check_parts_path,
    is_parts_directory,
    metadata_source,
    part_files,
    read_parts,
)

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = pa.schema([("id", pa.string()), ("j_score", pa.float64())])
START = {"judgekit.version": "0.1.0", THRESHOLDS_KEY: '{"j": 0.7}'}
END = START | {"judgekit.totals": '{"rows_done": 7}'}


def _rows(start: int, n: int) -> pa.Table:
    ids = [f"row-{i}" for i in range(start, start + n)]
    return pa.table({"id": ids, "j_score": [i / 10 for i in range(start, start + n)]}, SCHEMA)


def _write(path: Path, sizes: list[int], part_rows: int) -> None:
    with PartsWriter(path, SCHEMA, START, part_rows=part_rows) as writer:
        at = 0
        for size in sizes:
            writer.write_scored(_rows(at, size))
            at += size
        writer.commit(END)


def _judgekit_metadata(path: Path) -> dict[str, str]:
    raw = pq.read_metadata(path).metadata or {}
    return {k.decode(): v.decode() for k, v in raw.items() if k.startswith(b"judgekit.")}


def _names(path: Path) -> list[str]:
    return sorted(os.listdir(path))


def test_parts_hold_the_rows_in_order_and_the_last_holds_the_run_metadata(
    tmp_path: Path,
) -> None:
    """7 rows in tables of 2, 4 and 1, parts of 3: parts of 3, 3 and 1 rows named in row
    order; concatenated they are the rows written; every footer has what was known at the
    start, the last one the run's whole metadata."""
    out = tmp_path / "scored"
    _write(out, [2, 4, 1], part_rows=3)
    assert _names(out) == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    assert [pq.read_metadata(p).num_rows for p in part_files(out)] == [3, 3, 1]
    table = read_parts(out)
    assert table.replace_schema_metadata(None).equals(_rows(0, 7))
    decoded = [_judgekit_metadata(p) for p in part_files(out)]
    assert decoded == [START, START, END]
    assert metadata_source(out) == out / "part-00002.parquet"
    assert read_thresholds(out) == {"j": 0.7}
    assert _names(tmp_path) == ["scored"]  # no temp directory left


def test_a_run_of_no_rows_writes_one_empty_part(tmp_path: Path) -> None:
    out = tmp_path / "scored"
    _write(out, [], part_rows=3)
    assert _names(out) == ["part-00000.parquet"]
    assert pq.read_table(out / "part-00000.parquet").schema.remove_metadata().equals(SCHEMA)


def test_commit_replaces_earlier_parts_whole(tmp_path: Path) -> None:
    """A rerun into the same directory: the earlier 3 parts give way to the new 1."""
    out = tmp_path / "scored"
    _write(out, [7], part_rows=3)
    _write(out, [2], part_rows=3)
    assert _names(out) == ["part-00000.parquet"]
    assert read_parts(out).num_rows == 2
    assert _names(tmp_path) == ["scored"]


def test_an_unfinished_run_leaves_the_earlier_parts_as_they_were(tmp_path: Path) -> None:
    out = tmp_path / "scored"
    _write(out, [4], part_rows=3)
    before = {name: (out / name).read_bytes() for name in _names(out)}
    with PartsWriter(out, SCHEMA, START, part_rows=3) as writer:
        writer.write_scored(_rows(0, 5))
        # leaving the block without commit: a failed or interrupted run
    assert {name: (out / name).read_bytes() for name in _names(out)} == before
    assert _names(tmp_path) == ["scored"]


def test_a_full_disk_leaves_the_earlier_parts_and_no_temp_directory(tmp_path: Path) -> None:
    """The disk fills up while a part is written: OutputError naming OUT and the cause;
    the earlier parts stay as they were and the temp directory is gone."""
    with tiny_disk(tmp_path / "disk", size_kib=256) as disk:
        out = disk / "scored"
        _write(out, [4], part_rows=3)
        before = {name: (out / name).read_bytes() for name in _names(out)}
        fill(disk, leave_bytes=16 * 1024)
        big = pa.table(
            {"id": [os.urandom(64).hex() for _ in range(20_000)], "j_score": [0.5] * 20_000}
        )
        with pytest.raises(OutputError) as caught, PartsWriter(out, SCHEMA, START) as writer:
            writer.write_scored(big.cast(SCHEMA))
            writer.commit(END)
        assert str(caught.value) == (
            f"{out}/: cannot write the output (No space left on device); nothing was written"
        )
        assert {name: (out / name).read_bytes() for name in _names(out)} == before
        assert _names(disk) == ["filler", "scored"]


def test_an_empty_directory_takes_parts(tmp_path: Path) -> None:
    out = tmp_path / "scored"
    out.mkdir()
    check_parts_path(out, "scored/")
    _write(out, [1], part_rows=3)
    assert is_parts_directory(out)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda out: out.write_text("x"),
            "scored/: {out} is a file, not a directory (drop the trailing / to write one file)",
        ),
        (
            lambda out: (out.mkdir(), (out / "notes.txt").write_text("mine")),
            "scored/: the directory holds files that are not judgekit parts (notes.txt); "
            "give an empty directory or a new path",
        ),
        (
            lambda out: (out.mkdir(), (out / "data.jsonl").write_text("{}\n")),
            "scored/: the directory holds files that are not judgekit parts (data.jsonl); "
            "give an empty directory or a new path",
        ),
    ],
    ids=["a-file", "other-files", "the-input"],
)
def test_parts_path_refused(tmp_path: Path, make: object, message: str) -> None:
    """Never replaced: a file, or a directory holding anything but judgekit's parts."""
    out = tmp_path / "scored"
    make(out)  # type: ignore[operator]
    with pytest.raises(UsageError) as caught:
        check_parts_path(out, "scored/", [out / "data.jsonl"])
    assert str(caught.value) == message.format(out=out)


def test_parts_path_refused_when_it_holds_the_input(tmp_path: Path) -> None:
    out = tmp_path / "scored"
    with pytest.raises(UsageError) as caught:
        check_parts_path(out, "scored/", [out / "in" / "data.parquet"])
    assert str(caught.value) == (
        "scored/: -o names the input dataset's directory; writing there would replace the data"
        " being scored (choose another path)"
    )


def _split(source: Path, out: Path, part_rows: int) -> None:
    """A one-file output rewritten as parts (what --engine ray -o DIR/ writes)."""
    table = pq.read_table(source)
    metadata = _judgekit_metadata(source)
    with PartsWriter(out, table.schema, {}, part_rows=part_rows) as writer:
        writer.write_scored(table)
        writer.commit(metadata)


def test_agreement_reads_a_directory_of_parts_as_the_file(
    workspace: Workspace, fake: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`judgekit agreement DIR` reports what it reports for the one file (thresholds from
    the metadata included); `judgekit report DIR` shows the run's metadata from the last
    part; a directory of other files is one line, exit 2."""
    monkeypatch.setenv("JUDGEKIT_FAKE_URL", workspace.fake.url)
    scored, parts = workspace.root / "demo.parquet", workspace.root / "demo-parts"
    config = str(ROOT / "configs/demo.toml")
    demo = ["score", str(ROOT / "datasets/demo.jsonl"), "-c", config, "-o", str(scored), "-q"]
    assert workspace.invoke(*demo).exit_code == 0
    _split(scored, parts, part_rows=20)
    assert len(part_files(parts)) == 4
    assert read_thresholds(parts) == read_thresholds(scored) != {}
    one = workspace.invoke("agreement", str(scored), "-c", config, "--format", "json")
    many = workspace.invoke("agreement", str(parts), "-c", config, "--format", "json")
    assert (one.exit_code, many.exit_code) == (0, 0)
    assert json.loads(many.stdout) == json.loads(one.stdout) | {"source": str(parts)}
    report = workspace.root / "report.html"
    done = workspace.invoke("report", str(parts), "-c", config, "-o", str(report))
    assert done.exit_code == 0, done.output
    finished = _judgekit_metadata(scored)["judgekit.finished_at"]
    assert finished in report.read_text(encoding="utf-8")  # the last part's run metadata
    (workspace.root / "other").mkdir()
    (workspace.root / "other" / "notes.txt").write_text("x")
    result = workspace.invoke("agreement", str(workspace.root / "other"), "-c", config)
    assert (result.exit_code, result.output) == (
        2,
        f"error: {workspace.root}/other: is a directory but not judgekit's Parquet parts "
        "(part-00000.parquet, ...); give a scored file or such a directory\n",
    )


# -- --dry-run takes the OUTs the run takes --------------------------------------------------


def _ray_dry_run(ws: Workspace, output: str) -> tuple[int, str]:
    data = ws.write_rows(ws.qa_rows(3))
    args = ["score", str(data), "-c", str(ws.write_config()), "-o", output, "--cache"]
    result = ws.invoke(*args, str(ws.cache), "--engine", "ray", "--dry-run")
    assert ws.fake.requests == ()
    return result.exit_code, result.stderr


DRY_RUN_IMPORTS = """
import sys
from typer.testing import CliRunner
from judgekit.cli import app
result = CliRunner().invoke(app, sys.argv[1:])
print(result.exit_code, "ray" in sys.modules)
"""
"""A dry run in a fresh interpreter: its exit code, and whether it imported Ray at all."""


def test_a_ray_dry_run_does_not_even_import_ray(workspace: Workspace) -> None:
    data = workspace.write_rows(workspace.qa_rows(3))
    args = ["score", str(data), "-c", str(workspace.write_config())]
    args += ["-o", f"{workspace.root}/parts/", "--cache", str(workspace.cache)]
    ran = subprocess.run(
        [sys.executable, "-c", DRY_RUN_IMPORTS, *args, "--engine", "ray", "--dry-run"],
        env=workspace.environ(),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert ran.stdout == "0 False\n"
    assert not (workspace.root / "parts").exists()


@pytest.mark.parametrize("existing", [False, True], ids=["new", "existing-empty"])
def test_dry_run_takes_a_directory_of_parts_as_the_run_does(
    workspace: Workspace, existing: bool
) -> None:
    """It said 'out/newparts: unsupported output format', or 'emptyd: is a directory'."""
    parts = workspace.root / "parts"
    if existing:
        parts.mkdir()
    code, stderr = _ray_dry_run(workspace, f"{parts}{'' if existing else '/'}")
    assert code == 0, stderr
    assert "dry run: nothing was called" in stderr
    assert parts.exists() == existing
    assert not existing or list(parts.iterdir()) == []


@pytest.mark.parametrize(
    ("output", "message"),
    [
        (
            "out.jsonl",
            "{root}/out.jsonl: --engine ray writes Parquet; use an output path ending in"
            " .parquet (or in / for a directory of Parquet parts)",
        ),
        (
            "notes/",
            "{root}/notes/: the directory holds files that are not judgekit parts (mine.txt);"
            " give an empty directory or a new path",
        ),
    ],
    ids=["not-parquet", "directory-of-other-files"],
)
def test_dry_run_refuses_the_outputs_the_run_refuses_with_its_line(
    workspace: Workspace, output: str, message: str
) -> None:
    """The lines ``score --engine ray`` prints (tests/test_distributed.py pins the first)."""
    (workspace.root / "notes").mkdir()
    (workspace.root / "notes" / "mine.txt").write_text("mine\n", encoding="utf-8")
    shown = f"{workspace.root}/{output}"  # as typed: a trailing / kept
    code, stderr = _ray_dry_run(workspace, shown)
    assert (code, stderr) == (2, f"error: {message.format(root=workspace.root)}\n")


def test_a_cache_inside_the_directory_of_parts_is_refused(workspace: Workspace) -> None:
    """The directory is replaced whole at the end: a cache in it would go with it."""
    data = workspace.write_rows(workspace.qa_rows(3))
    parts = f"{workspace.root}/parts/"
    cache = f"{workspace.root}/parts/cache.sqlite3"
    args = ["score", str(data), "-c", str(workspace.write_config()), "-o", parts]
    result = workspace.invoke(*args, "--cache", cache, "--engine", "ray", "--dry-run")
    assert (result.exit_code, result.stderr) == (
        2,
        f"error: --cache {cache} is inside the output directory (-o {parts}), which the run"
        " replaces whole; give the cache its own file\n",
    )
    assert not (workspace.root / "parts").exists()
