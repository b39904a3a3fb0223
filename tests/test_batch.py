"""``score --batch`` end to end against the fake's batch APIs: submit, collect, resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import Workspace

ROWS = 6
LATENCY_COLUMNS = ("correctness_latency_ms", "correctness_response_id")
"""Differ between any two paid replies (timing, the provider's id), batch or online."""


def _online_and_batch(ws: Workspace) -> tuple[Path, Path, Path]:
    data = ws.write_rows(ws.qa_rows(ROWS))
    online = ws.write_config(name="online.toml")
    batch = ws.write_config(run='mode = "batch"', name="batch.toml")
    return data, online, batch


def _without(rows: list[dict[str, object]], *columns: str) -> list[dict[str, object]]:
    return [{k: v for k, v in row.items() if k not in columns} for row in rows]


def test_submit_then_collect_writes_what_an_online_run_writes_at_half_price(
    workspace: Workspace, tmp_path: Path
) -> None:
    data, online_config, batch_config = _online_and_batch(workspace)
    online = tmp_path / "online.parquet"
    result = workspace.invoke(
        "score",
        str(data),
        "-c",
        str(online_config),
        "-o",
        str(online),
        "--cache",
        str(tmp_path / "online-cache.sqlite3"),
    )
    assert result.exit_code == 0, result.stderr
    out = tmp_path / "batch.parquet"
    first = workspace.score(data, batch_config, out)
    assert first.exit_code == 3, first.stderr
    assert "6 rows pending in 1 provider batches: batch_" in first.stderr
    assert not out.exists()
    assert workspace.fake.batches.calls() == ["POST /v1/files", "POST /v1/batches"]
    second = workspace.score(data, batch_config, out)
    assert second.exit_code == 0, second.stderr
    calls = workspace.fake.batches.calls()[2:]
    assert calls == [
        "GET /v1/batches/batch_000002",
        "GET /v1/files/file-000003/content",
    ]
    online_rows, batch_rows = workspace.read_rows(online), workspace.read_rows(out)
    assert _without(batch_rows, "correctness_cost_usd", *LATENCY_COLUMNS) == _without(
        online_rows, "correctness_cost_usd", *LATENCY_COLUMNS
    )
    for a, b in zip(online_rows, batch_rows, strict=True):
        assert b["correctness_cost_usd"] == pytest.approx(a["correctness_cost_usd"] / 2)
    assert set(workspace.fake.batches.submitted().values()) == {1}
    assert workspace.fake.stats().requests == ROWS  # the online run's calls only
