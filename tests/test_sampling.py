"""Self-consistency (``samples = N``): mean, majority vote, spread, cache and budget."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
from conftest import Workspace

from judgekit.config import load_config
from judgekit.engine.estimate import estimate
from judgekit.engine.sampling import combine, sample_marker
from judgekit.engine.score import ScoreJob
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


def test_each_sample_is_its_own_request_at_temperature_0_7(workspace: Workspace) -> None:
    run_sampled(workspace)
    bodies = [r.body for r in workspace.fake.requests]
    systems = sorted(b["messages"][0]["content"].rsplit("\n", 1)[-1] for b in bodies)
    assert systems == [sample_marker(k, 3) for k in (1, 1, 2, 2, 3, 3)]
    assert {b["temperature"] for b in bodies} == {0.7}
    assert len({json.dumps(b, sort_keys=True) for b in bodies}) == 6


def test_the_connections_own_temperature_is_kept(workspace: Workspace) -> None:
    data = workspace.write_rows(ROWS[:1])
    config = workspace.write_config(judges=SAMPLED, connection="temperature = 1.2")
    workspace.score(data, config, workspace.root / "out.parquet")
    assert {r.body["temperature"] for r in workspace.fake.requests} == {1.2}


def test_every_samples_tokens_and_cost_land_on_the_row(workspace: Workspace) -> None:
    out, _ = run_sampled(workspace)
    rows = workspace.read_rows(out)
    stats = workspace.fake.stats()
    assert stats.requests == 6
    assert sum(r["correctness_input_tokens"] for r in rows) == stats.input_tokens
    assert sum(r["correctness_output_tokens"] for r in rows) == stats.output_tokens
    cost = sum(r["correctness_cost_usd"] for r in rows)
    assert cost == pytest.approx((stats.input_tokens * 0.15 + stats.output_tokens * 0.6) / 1e6)


def test_a_rerun_is_free(workspace: Workspace) -> None:
    out, _ = run_sampled(workspace)
    first = workspace.read_rows(out)
    workspace.fake.reset()
    again, output = run_sampled(workspace)
    assert workspace.fake.stats().requests == 0
    assert ["cache hits", "6 (saved $0.0009)"] in workspace.table(output)
    assert workspace.read_rows(again) == first


def test_the_dry_run_counts_and_prices_all_n_samples(workspace: Workspace) -> None:
    data = workspace.write_rows(ROWS)
    config = workspace.write_config(judges=SAMPLED)
    result = workspace.invoke(
        *workspace.score_args(data, config, workspace.root / "o.parquet"), "--dry-run"
    )
    assert result.exit_code == 0, result.output
    assert ["calls needed", "6"] in workspace.table(result.output)


def _worst_case_of_one_call(workspace: Workspace, data: Path, config: Path) -> float:

    job = ScoreJob(str(data), load_config(config), str(config), workspace.root / "dry.parquet")
    figures = estimate(job)
    assert figures.calls_needed == 3
    return figures.worst_case_usd / 3


def test_a_budget_that_runs_out_mid_row_keeps_the_paid_samples(workspace: Workspace) -> None:
    data = workspace.write_rows(ROWS[1:])
    config = workspace.write_config(judges=SAMPLED)
    worst = _worst_case_of_one_call(workspace, data, config)
    # What one sample really costs, from a run on another cache.
    probe = workspace.root / "probe.parquet"
    workspace.invoke(
        *workspace.score_args(data, config, probe)[:-2],
        "--cache",
        str(workspace.root / "probe.sqlite3"),
    )
    paid = workspace.read_rows(probe)[0]["correctness_cost_usd"] / 3
    workspace.fake.reset()
    # Room for the first sample's worst case, then the second's next to the first's cost,
    # but not the third's next to two.
    budget = worst + 1.5 * paid
    out = workspace.root / "out.parquet"
    result = workspace.score(data, config, out, "--budget-usd", repr(budget))
    assert result.exit_code == 1, result.output
    row = workspace.read_rows(out)[0]
    assert row["correctness_error"] == "budget_exhausted"
    assert row["correctness_score"] is None
    assert workspace.fake.stats().requests == 2
    assert row["correctness_cost_usd"] == pytest.approx(2 * paid)
    assert row["correctness_reasoning"].startswith("sample 3 of 3: ")
    # The rerun with room pays for the third sample only.
    workspace.fake.reset()
    result = workspace.score(data, config, out)
    assert result.exit_code == 0, result.output
    assert workspace.fake.stats().requests == 1
    assert workspace.read_rows(out)[0]["correctness_score"] == pytest.approx(0.6)


def result(score: float) -> JudgeResult:
    return JudgeResult(score=score, reasoning=f"r{score:g}", input_tokens=10, output_tokens=2)


COMBINED = [
    ("unanimous", [0.9, 0.8, 1.0], True, 1.0),
    ("split 2 to 1", [0.2, 0.8, 0.9], True, 2 / 3),
    ("a failing majority", [0.2, 0.3, 0.9], False, 2 / 3),
    ("a tie: the mean passes", [0.4, 0.9], True, 0.5),
    ("a tie: the mean fails", [0.1, 0.8], False, 0.5),
]


@pytest.mark.parametrize(
    ("scores", "passed", "share"), [c[1:] for c in COMBINED], ids=[c[0] for c in COMBINED]
)
def test_majority_vote_and_vote_share(scores: list[float], passed: bool, share: float) -> None:
    combined = combine([result(s) for s in scores], threshold=0.5)
    assert combined.passed is passed
    assert combined.vote_share == pytest.approx(share)
    assert combined.score == pytest.approx(statistics.fmean(scores))
    assert combined.score_stddev == pytest.approx(statistics.stdev(scores))
    assert combined.input_tokens == 10 * len(scores)
    # The reasoning is the first sample's that voted with the majority.
    first = next(s for s in scores if (s >= 0.5) is passed)
    assert combined.reasoning == f"r{first:g}"


CONFIG_ERRORS = [
    (
        "more than 20",
        SAMPLED.replace("samples = 3", "samples = 21"),
        "judges.toml: judges[0].samples: 21 is above the maximum 20; lower it\n",
    ),
    (
        "a rule judge",
        '[[judges]]\nname = "f1"\ntype = "token_f1"\nsamples = 3\n',
        "judges.toml: judges[0]: a token_f1 rule judge takes no samples\n",
    ),
]


@pytest.mark.parametrize(
    ("judges", "message"), [c[1:] for c in CONFIG_ERRORS], ids=[c[0] for c in CONFIG_ERRORS]
)
def test_bad_samples_are_config_errors(workspace: Workspace, judges: str, message: str) -> None:
    config = workspace.write_config(judges=judges)
    result = workspace.invoke("validate", "-c", str(config))
    assert result.exit_code == 2
    assert result.output == f"error: {workspace.root / message}"


def test_agreement_reports_how_often_the_vote_was_split(workspace: Workspace) -> None:
    labelled = [dict(row, human="pass") for row in ROWS]
    data = workspace.write_rows(labelled)
    config = workspace.write_config(
        judges=SAMPLED.replace("samples = 3", 'samples = 3\nhuman_label = "human"')
    )
    out = workspace.root / "out.parquet"
    assert workspace.score(data, config, out).exit_code == 0
    table = workspace.invoke("agreement", str(out), "-c", str(config))
    assert table.exit_code == 0, table.output
    lines = [line.strip() for line in table.output.splitlines()]
    assert "split votes: 1 of 2 sampled rows (0.500)" in lines
    markdown = workspace.invoke("agreement", str(out), "-c", str(config), "--format", "markdown")
    assert "\nsplit votes: 1 of 2 sampled rows (0.500)\n" in markdown.output
    document = workspace.invoke("agreement", str(out), "-c", str(config), "--format", "json")
    figures = json.loads(document.output)["judges"][0]["split_votes"]
    assert figures == {"sampled": 2, "split": 1, "share": 0.5}


def test_try_shows_the_vote(workspace: Workspace) -> None:
    data = workspace.write_rows(ROWS)
    config = workspace.write_config(judges=SAMPLED)
    args = ["try", "-c", str(config), "--judge", "correctness", "--row", "r2", str(data)]
    result = workspace.invoke(*args, "--cache", str(workspace.cache))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "verdict     PASS (score 0.6 >= threshold 0.6)" in lines
    assert "samples     3: vote share 0.667, score stddev 0.1" in lines
    assert "requests    3" in lines
