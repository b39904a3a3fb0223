"""The pairwise template: both orders, winner, P(A is better), position consistency, summary."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import Workspace

from judgekit.config import load_config
from judgekit.engine.estimate import estimate
from judgekit.engine.pairwise import combine_orders, winner_of
from judgekit.engine.score import ScoreJob
from judgekit.pairwise import PairVerdict, parse_pairwise
from judgekit.records import JudgeResult
from judgekit.trust.stats import wilson_interval
from judgekit.verdicts import MalformedVerdict

ROOT = Path(__file__).resolve().parents[1]

PAIRWISE = """
[[judges]]
name = "versus"
connection = "fake"
template = "pairwise"
[judges.columns]
input = "question"
expected = "reference"
"""


def run_pairwise(workspace: Workspace, *extra: str) -> tuple[list[dict[str, Any]], str]:
    data = workspace.root / "pairwise.jsonl"
    shutil.copy(ROOT / "datasets" / "pairwise.jsonl", data)
    config = workspace.write_config(judges=PAIRWISE)
    out = workspace.root / "out.parquet"
    result = workspace.score(data, config, out, *extra)
    assert result.exit_code == 0, result.output
    return workspace.read_rows(out), result.output


def columns(rows: list[dict[str, Any]]) -> list[tuple[str, str, float, bool, bool]]:
    return [
        (
            r["id"],
            r["versus_winner"],
            r["versus_score"],
            r["versus_position_consistent"],
            r["versus_passed"],
        )
        for r in rows
    ]


def test_an_unbiased_judge_is_consistent(workspace: Workspace) -> None:
    rows, _ = run_pairwise(workspace)
    assert columns(rows) == [
        ("pair-1", "a", 1.0, True, True),
        ("pair-2", "b", 0.0, True, False),
        ("pair-3", "tie", 0.5, True, False),
        ("pair-4", "a", 1.0, True, True),
        ("pair-5", "b", 0.0, True, False),
    ]
    stats = workspace.fake.stats()
    assert stats.requests == 10
    assert sum(r["versus_input_tokens"] for r in rows) == stats.input_tokens
    assert sum(r["versus_output_tokens"] for r in rows) == stats.output_tokens


def test_a_position_biased_judge_is_caught(workspace: Workspace) -> None:
    workspace.fake.settings.position_bias = 0.3
    rows, output = run_pairwise(workspace)
    assert columns(rows) == [
        ("pair-1", "tie", 0.5, False, False),
        ("pair-2", "b", 0.0, True, False),
        ("pair-3", "tie", 0.5, False, False),
        ("pair-4", "a", 1.0, True, True),
        ("pair-5", "tie", 0.5, False, False),
    ]
    table = dict((row[0], row[1]) for row in workspace.table(output) if len(row) == 2)
    assert table["versus: A wins"] == "1 of 5 (0.20, 95% CI 0.04-0.62); B wins 1, ties 3"
    assert table["versus: position-inconsistent"] == "3 of 5 (0.60)"


def test_both_orders_are_sent_and_a_rerun_is_free(workspace: Workspace) -> None:
    run_pairwise(workspace)
    prompts = [r.body["messages"][1]["content"] for r in workspace.fake.requests]
    a_first = "<output_a>\nThe capital of Australia is Canberra.\n</output_a>\n\n<output_b>\nSydney"
    b_first = "<output_a>\nSydney is the capital of Australia.\n</output_a>\n\n<output_b>\nThe"
    assert sum(a_first in p for p in prompts) == 1
    assert sum(b_first in p for p in prompts) == 1
    workspace.fake.reset()
    run_pairwise(workspace)
    assert workspace.fake.stats().requests == 0


def test_the_summary_gives_a_win_rate_with_a_wilson_interval(workspace: Workspace) -> None:
    summary = workspace.root / "summary.json"
    _, output = run_pairwise(workspace, "--summary-json", str(summary))
    figures = json.loads(summary.read_text())["pairwise"]["versus"]
    interval = wilson_interval(2, 5)
    assert interval is not None
    assert figures == {
        "rows": 5,
        "a_wins": 2,
        "b_wins": 2,
        "ties": 1,
        "a_win_rate": 0.4,
        "a_win_rate_ci": [0.117621, 0.769276],
        "position_inconsistent": 0,
        "position_inconsistent_share": 0.0,
    }
    assert figures["a_win_rate_ci"] == [round(interval.low, 6), round(interval.high, 6)]
    table = dict((row[0], row[1]) for row in workspace.table(output) if len(row) == 2)
    assert table["versus: A wins"] == "2 of 5 (0.40, 95% CI 0.12-0.77); B wins 2, ties 1"


ORDERS = [
    ("A wins both", 1.0, 0.0, 1.0, "a", True),
    ("B wins both", 0.0, 1.0, 0.0, "b", True),
    ("first wins both: a tie", 1.0, 1.0, 0.5, "tie", False),
    ("A then tie", 1.0, 0.5, 0.75, "a", False),
    ("tie both", 0.5, 0.5, 0.5, "tie", True),
]


@pytest.mark.parametrize(
    ("first", "second", "score", "winner", "consistent"),
    [c[1:] for c in ORDERS],
    ids=[c[0] for c in ORDERS],
)
def test_two_orders_combine(
    first: float, second: float, score: float, winner: str, consistent: bool
) -> None:
    a_first = JudgeResult(score=first, reasoning="x", input_tokens=5, output_tokens=1)
    b_first = JudgeResult(score=second, reasoning="y", input_tokens=7, output_tokens=2)
    combined = combine_orders(a_first, b_first)
    assert (combined.score, combined.winner, combined.position_consistent) == (
        score,
        winner,
        consistent,
    )
    assert combined.passed is (winner == "a")
    assert (combined.input_tokens, combined.output_tokens) == (12, 3)
    assert combined.reasoning == "A first: x\nB first: y"
    assert winner_of(score) == winner


REPLIES = [
    ("A", '{"reasoning": "r", "winner": "A"}', PairVerdict("first", "r")),
    ("lower b", '{"winner": "b"}', PairVerdict("second", "")),
    ("Tie", '{"reasoning": "same", "winner": "Tie"}', PairVerdict("tie", "same")),
    ("wrapped", '{"verdict": {"winner": "Response A"}}', PairVerdict("first", "")),
]


@pytest.mark.parametrize(("text", "verdict"), [c[1:] for c in REPLIES], ids=[c[0] for c in REPLIES])
def test_replies_are_read(text: str, verdict: PairVerdict) -> None:
    assert parse_pairwise(text) == verdict


BAD = [
    ("no winner", '{"reasoning": "r"}', "missing winner"),
    ("unknown winner", '{"winner": "both"}', "winner 'both' is not A, B or tie"),
]


@pytest.mark.parametrize(("text", "message"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_replies_are_malformed(text: str, message: str) -> None:
    with pytest.raises(MalformedVerdict, match=f"^{message}$"):
        parse_pairwise(text)


CONFIG_ERRORS = [
    (
        "samples",
        "samples = 3",
        "samples: template 'pairwise' takes no samples "
        "(it asks twice per row already: A first, then B first)",
    ),
    (
        "criteria",
        "criteria = { a = 1.0 }",
        "criteria: template 'pairwise' takes no criteria (its score is the share of orders A wins)",
    ),
]


@pytest.mark.parametrize(
    ("line", "message"), [c[1:] for c in CONFIG_ERRORS], ids=[c[0] for c in CONFIG_ERRORS]
)
def test_what_pairwise_cannot_do_is_a_config_error(
    workspace: Workspace, line: str, message: str
) -> None:
    judges = PAIRWISE.replace('template = "pairwise"\n', f'template = "pairwise"\n{line}\n')
    config = workspace.write_config(judges=judges)
    result = workspace.invoke("validate", "-c", str(config))
    assert result.exit_code == 2
    assert result.output == f"error: {config}: judges[0].{message}\n"


def test_try_shows_the_winner(workspace: Workspace) -> None:
    data = workspace.root / "pairwise.jsonl"
    shutil.copy(ROOT / "datasets" / "pairwise.jsonl", data)
    config = workspace.write_config(judges=PAIRWISE)
    args = ["try", "-c", str(config), "--judge", "versus", "--row", "pair-2", str(data)]
    result = workspace.invoke(*args, "--cache", str(workspace.cache))
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert "verdict     FAIL (P(A is better) 0; pass = A wins)" in lines
    assert "winner      b (position-consistent: yes)" in lines
    assert "requests    2" in lines


def test_templates_describes_pairwise(workspace: Workspace) -> None:
    result = workspace.invoke("templates", "pairwise")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[2:7] == [
        "required fields: input, output_a, output_b",
        "optional fields: expected",
        "score scale:     0 to 1",
        "columns:         J_winner (a, b or tie), J_position_consistent",
        "score:           probability that A is better: 1, 0.5 or 0 per order, averaged over "
        "both orders",
    ]


def test_a_budget_that_runs_out_between_the_orders_keeps_the_first(
    workspace: Workspace,
) -> None:

    data = workspace.write_rows(
        [json.loads(ROOT.joinpath("datasets/pairwise.jsonl").read_text().splitlines()[0])]
    )
    config = workspace.write_config(judges=PAIRWISE)
    figures = estimate(
        ScoreJob(str(data), load_config(config), str(config), workspace.root / "d.parquet")
    )
    assert figures.calls_needed == 2
    probe = workspace.root / "probe.parquet"
    probe_cache = str(workspace.root / "probe.sqlite3")
    workspace.invoke(*workspace.score_args(data, config, probe)[:-2], "--cache", probe_cache)
    paid = workspace.read_rows(probe)[0]["versus_cost_usd"] / 2
    workspace.fake.reset()
    out = workspace.root / "out.parquet"
    budget = figures.worst_case_usd / 2 + 0.5 * paid
    result = workspace.score(data, config, out, "--budget-usd", repr(budget))
    assert result.exit_code == 1, result.output
    row = workspace.read_rows(out)[0]
    assert (row["versus_error"], row["versus_winner"]) == ("budget_exhausted", None)
    assert row["versus_reasoning"].startswith("B first: ")
    assert row["versus_cost_usd"] > 0
    workspace.fake.reset()
    assert workspace.score(data, config, out).exit_code == 0
    assert workspace.fake.stats().requests == 1
    assert workspace.read_rows(out)[0]["versus_winner"] == "a"
