"""What a rule-only ``judgekit score`` loads: memory that does not depend on the rows.

Each run is a subprocess (the ``judgekit`` command's own process settings, and a fresh
``sys.modules``); nothing here measures memory or time, it checks which modules loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

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
