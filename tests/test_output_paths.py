"""judgekit.output_paths: the answer cache is a file of its own, never the output, a file of
the dataset or the --summary-json file (one of them would replace the other, and the paid
answers with it); refused before any call, in the run and its --dry-run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Workspace


def _cache_is_the_output(ws: Workspace, output: Path) -> tuple[list[str], str]:
    return ["--cache", str(output)], f"--cache {output} is also the output (-o)"


def _cache_is_the_dataset(ws: Workspace, output: Path) -> tuple[list[str], str]:
    data = ws.root / "data.jsonl"
    return ["--cache", str(data)], f"--cache {data} is also the dataset"


def _cache_is_the_summary(ws: Workspace, output: Path) -> tuple[list[str], str]:
    summary = ws.root / "summary.json"
    extra = ["--cache", str(summary), "--summary-json", str(summary)]
    return extra, f"--cache {summary} is also the --summary-json file"


CACHE_CLASHES = [
    ("output", _cache_is_the_output),
    ("dataset", _cache_is_the_dataset),
    ("summary-json", _cache_is_the_summary),
]


@pytest.mark.parametrize("dry_run", [False, True], ids=["run", "dry-run"])
@pytest.mark.parametrize("clash", [c[1] for c in CACHE_CLASHES], ids=[c[0] for c in CACHE_CLASHES])
def test_a_cache_that_is_another_file_of_the_run_is_refused_before_any_call(
    workspace: Workspace,
    clash: Callable[[Workspace, Path], tuple[list[str], str]],
    dry_run: bool,
) -> None:
    """``--cache out/cc.parquet -o out/cc.parquet``: the output replaced the SQLite cache,
    and the answers survived only in its -wal file."""
    data = workspace.write_rows(workspace.qa_rows(3))
    config, output = workspace.write_config(), workspace.root / "cc.parquet"
    extra, said = clash(workspace, output)
    args = ["score", str(data), "-c", str(config), "-o", str(output), *extra]
    result = workspace.invoke(*args, *(["--dry-run"] if dry_run else []))
    assert (result.exit_code, result.stderr) == (
        2,
        f"error: {said}; give the cache its own file\n",
    )
    assert sorted(p.name for p in workspace.root.iterdir()) == ["data.jsonl", "judges.toml"]
    assert workspace.fake.requests == ()


def test_judgekit_cache_naming_the_output_is_refused(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, config = workspace.write_rows(workspace.qa_rows(3)), workspace.write_config()
    output = workspace.root / "cc.parquet"
    monkeypatch.setenv("JUDGEKIT_CACHE", str(output))
    result = workspace.invoke("score", str(data), "-c", str(config), "-o", str(output))
    assert (result.exit_code, result.stderr) == (
        2,
        f"error: JUDGEKIT_CACHE={output} is also the output (-o); give the cache its own file\n",
    )
    assert not output.exists()


def test_align_refuses_a_cache_that_is_its_output(workspace: Workspace) -> None:
    rows = [
        dict(row, human_label="pass" if i % 2 else "fail")
        for i, row in enumerate(workspace.qa_rows(10))
    ]
    data, config = workspace.write_rows(rows), workspace.write_config()
    aligned = workspace.root / "aligned.toml"
    args = ["align", str(data), "-c", str(config), "--judge", "correctness", "-o", str(aligned)]
    result = workspace.invoke(*args, "--human", "human_label", "--cache", str(aligned))
    assert (result.exit_code, result.stderr) == (
        2,
        f"error: --cache {aligned} is also the output (-o); give the cache its own file\n",
    )
    assert not aligned.exists()
    assert workspace.fake.requests == ()
