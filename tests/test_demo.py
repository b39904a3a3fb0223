"""`make demo` run twice: the second run answers every call from the cache, although the
demo's fake server listens on a new port each time."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_demo(cwd: Path) -> str:
    """``python -m judgekit.testing.demo`` in ``cwd``; its stdout and stderr, merged."""
    result = subprocess.run(
        [sys.executable, "-m", "judgekit.testing.demo"],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout
    return result.stdout


def test_a_second_demo_is_answered_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    for part in ("datasets/demo.jsonl", "configs/demo.toml"):
        (tmp_path / part).parent.mkdir(exist_ok=True)
        shutil.copy(ROOT / part, tmp_path / part)
    first = run_demo(tmp_path)
    assert "│ cache hits │ 0 (saved $0.0000)" in first
    second = run_demo(tmp_path)
    assert "│ requests   │ 0 (0 retries, 0 rate-limited)" in second
    assert "│ cache hits │ 154 (saved $" in second  # every LLM call: 2 judges x 77 rows
