"""Self-consistency (``samples = N``): mean, majority vote, spread, cache and budget."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import Workspace

from judgekit.engine.sampling import combine, sample_marker
from judgekit.records import JudgeResult

SAMPLED = """
[[judges]]
name = "correctness"
connection = "fake"
template = "correctness"
threshold = 0.6
samples = 3
[judges.columns]
input = "question"
output = "answer"
expected = "reference"
"""

ROWS = [
    {
        "id": "r1",
        "question": "How many apples?",
        "answer": "There are seven apples.",
        "reference": "There are seven apples.",
    },
    {
        "id": "r2",
        "question": "Capital of France?",
        "answer": "The capital is Lyon.",
        "reference": "The capital of France is Paris.",
    },
]


def run_sampled(workspace: Workspace, judges: str = SAMPLED, *extra: str) -> tuple[Path, str]:
    data = workspace.write_rows(ROWS)
    config = workspace.write_config(judges=judges)
    out = workspace.root / "out.parquet"
    result = workspace.score(data, config, out, *extra)
    return out, result.output


def test_samples_give_mean_majority_stddev_and_vote_share(workspace: Workspace) -> None:
    out, output = run_sampled(workspace)
    rows = {r["id"]: r for r in workspace.read_rows(out)}
    # The fake shifts each sample's 0..1 base by -0.1, 0, +0.1: row 1's F1 is 1.0
    # (samples 0.9, 1.0, 1.0 after clamping), row 2's 0.6 (0.5, 0.6, 0.7: one fails 0.6).
    assert rows["r1"]["correctness_score"] == pytest.approx((0.9 + 1.0 + 1.0) / 3)
    assert rows["r1"]["correctness_score_stddev"] == pytest.approx(
        statistics.stdev([0.9, 1.0, 1.0])
    )
    assert rows["r1"]["correctness_vote_share"] == 1.0
    assert rows["r1"]["correctness_passed"] is True
    assert rows["r2"]["correctness_score"] == pytest.approx(0.6)
    assert rows["r2"]["correctness_score_stddev"] == pytest.approx(0.1)
    assert rows["r2"]["correctness_vote_share"] == pytest.approx(2 / 3)
    assert rows["r2"]["correctness_passed"] is True
    assert len(workspace.fake.requests) == 6
    assert "Independent sample 3 of 3." in json.dumps(workspace.fake.requests[0].body) or any(
        "Independent sample 3 of 3." in json.dumps(r.body) for r in workspace.fake.requests
    )
    print(output)
