"""What a rule-only ``judgekit score`` loads and holds: memory that does not depend on the rows.

Each run of the command is a subprocess (its own process settings, and a fresh
``sys.modules``); nothing here measures memory or time, it checks which modules loaded
and which windows the engine still holds.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path

import anyio
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from judgekit.cache import NoCache
from judgekit.config import parse_config
from judgekit.engine.plan import make_plan
from judgekit.engine.run import RunHooks, run
from judgekit.records import JudgeResult

HEAVY = (
    "pandas",
    "polars",
    "pyarrow.compute",
    "pyarrow._s3fs",
    "aiohttp",
    "httpx_aiohttp",
    "jsonschema",
    "json_repair",
)
"""Modules a rule-only run from Parquet to Parquet or CSV never needs (pandas: ~50 MB,
polars: ~35 MB, pyarrow.compute: ~12 MB, aiohttp: ~11 MB, pyarrow's S3: ~7 MB,
jsonschema: ~2 MB)."""

_LOADED = """
import json, sys
report, *args = sys.argv[1:]
watched = json.loads(open(report).read())
sys.argv = ["judgekit", *args]
from judgekit.cli import main
try:
    main()
finally:
    open(report, "w").write(json.dumps([name for name in watched if name in sys.modules]))
"""

_RULE_CONFIG = """
[[judges]]
name = "f1"
type = "token_f1"
columns = { output = "answer", expected = "reference" }
"""


def _run_loaded(tmp_path: Path, args: list[str], watched: tuple[str, ...]) -> list[str]:
    """Run ``judgekit ARGS`` in a subprocess; which of ``watched`` it had loaded at exit."""
    report = tmp_path / "loaded.json"
    report.write_text(json.dumps(watched))
    done = subprocess.run(
        [sys.executable, "-c", _LOADED, str(report), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(report.read_text())
    return loaded


def _qa_parquet(path: Path, rows: int) -> Path:
    ids = list(range(rows))
    table = pa.table(
        {
            "id": ids,
            "question": [f"What is {i} plus {i}?" for i in ids],
            "answer": [f"{i} plus {i} is {2 * i}." for i in ids],
            "reference": [str(2 * i) for i in ids],
        }
    )
    pq.write_table(table, path)
    return path


@pytest.mark.parametrize("suffix", [".parquet", ".csv"], ids=["parquet-out", "csv-out"])
def test_a_rule_only_score_loads_no_module_only_model_calls_or_reports_need(
    tmp_path: Path, suffix: str
) -> None:
    data = _qa_parquet(tmp_path / "data.parquet", 50)
    config = tmp_path / "rules.toml"
    config.write_text(_RULE_CONFIG)
    output = tmp_path / f"scored{suffix}"
    args = ["score", str(data), "-c", str(config), "-o", str(output), "--no-cache", "-q"]
    assert _run_loaded(tmp_path, args, HEAVY) == []
    assert output.stat().st_size > 0


_PROBE = """
import sys
from judgekit import memory
if sys.argv[1] == "claimed":
    memory.claim_process()
memory.keep_pandas_unloaded()
import pyarrow as pa
pa.array([1.5, None])
pa.table({"a": [1, 2]})
print("pandas" in sys.modules)
"""


@pytest.mark.parametrize(
    ("who", "loaded"),
    [("claimed", "False"), ("library", "True")],
    ids=["the-command-skips-pandas", "a-library-user-keeps-pyarrow-as-is"],
)
def test_pyarrow_loads_pandas_only_outside_the_command(who: str, loaded: str) -> None:
    pytest.importorskip("pandas")  # without it there is nothing to keep unloaded
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, who], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == loaded


def test_an_explicit_to_pandas_still_works_after_the_probe() -> None:
    pytest.importorskip("pandas")
    program = (
        "from judgekit import memory; memory.claim_process(); memory.keep_pandas_unloaded();"
        "import pyarrow as pa; print(pa.table({'a': [1, 2]}).to_pandas()['a'].tolist())"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[1, 2]"


class _Windows:
    """Windows of a rule judge's columns that record, as each next one is asked for, how
    many references to the previous window exist besides their own."""

    def __init__(self, count: int) -> None:
        self.left = count
        self.previous: pa.Table | None = None
        self.others: list[int] = []

    def __iter__(self) -> _Windows:
        return self

    def __next__(self) -> pa.Table:
        if self.previous is not None:
            # getrefcount's own argument and self.previous: 2 when nobody else holds it.
            self.others.append(sys.getrefcount(self.previous) - 2)
            self.previous = None
        if not self.left:
            raise StopIteration
        self.left -= 1
        self.previous = pa.table({"answer": ["4 plus 4 is 8."] * 3, "reference": ["8"] * 3})
        return self.previous


class _Dropped:
    """A sink that keeps nothing."""

    def write(self, window: pa.Table, results: Mapping[str, Sequence[JudgeResult]]) -> None:
        """Drop the window."""


def test_the_engine_lets_go_of_a_window_before_it_reads_the_next() -> None:
    # A Parquet window shares its whole input row group's memory: were it still held while
    # the next is read (enumerate() keeps its last pair), two groups would be alive at once.
    config = parse_config(tomllib.loads(_RULE_CONFIG), "rules.toml")
    plan = make_plan(config, "rules.toml", None)
    windows = _Windows(4)
    hooks = RunHooks(handle_signals=False)
    anyio.run(run, plan, windows, 12, _Dropped(), NoCache(), hooks)
    assert windows.others == [0, 0, 0, 0]
