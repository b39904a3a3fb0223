"""Every file judgekit writes gets the mode a plain ``open()`` would give it: 0o666 less
the umask (0o644 under umask 022).  ``agreement --output`` wrote 0o600 (``mkstemp``)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pytest

from judgekit.output_parts import PartsWriter

if TYPE_CHECKING:
    from conftest import Workspace

ROOT = Path(__file__).resolve().parent.parent
DEMO = str(ROOT / "datasets" / "demo.jsonl")
CONFIG = str(ROOT / "configs" / "demo.toml")


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual umask, whatever the test runner's is."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("umask_022")
def test_every_written_file_honours_the_umask(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUDGEKIT_FAKE_URL", workspace.fake.url)
    root, cache = workspace.root, str(workspace.cache)
    written: list[Path] = []
    for suffix in ("parquet", "jsonl", "csv"):
        output, summary = root / f"scored.{suffix}", root / f"summary-{suffix}.json"
        args = ["score", DEMO, "-c", CONFIG, "-o", str(output), "--summary-json", str(summary)]
        result = workspace.invoke(*args, "--cache", cache, "-q")
        assert result.exit_code == 0, result.stderr
        written += [output, summary]
    scored = str(root / "scored.parquet")
    commands = {
        "agreement.json": ["agreement", scored, "-c", CONFIG, "--output"],
        "report.html": ["report", scored, "-c", CONFIG, "-o"],
        "init.toml": ["init", DEMO, "-o"],
        "aligned.toml": ["align", DEMO, "-c", CONFIG, "--judge", "correctness", "--seed", "1"],
    }
    for name, args in commands.items():
        target = root / name
        if name == "aligned.toml":
            args = [*args, "--cache", cache, "-o"]  # seed 1: agreement holds, it is written
        result = workspace.invoke(*args, str(target))
        assert result.exit_code == 0, result.output
        written.append(target)
    modes = {path.name: oct(_mode(path)) for path in written}
    assert modes == {path.name: "0o644" for path in written}


@pytest.mark.usefixtures("umask_022")
def test_parts_honour_the_umask(tmp_path: Path) -> None:
    """``--engine ray -o DIR/``: the parts and their directory."""
    table = pa.table({"x": [1, 2, 3]})
    with PartsWriter(tmp_path / "parts", table.schema, {}, part_rows=2) as writer:
        writer.write_scored(table)
        writer.commit({})
    parts = sorted((tmp_path / "parts").iterdir())
    assert [oct(_mode(p)) for p in parts] == ["0o644", "0o644"]
    assert oct(_mode(tmp_path / "parts")) == "0o755"
