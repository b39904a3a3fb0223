"""``score --batch`` end to end against the fake's batch APIs: submit, collect, resume."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import DEFAULT_JUDGES, Workspace

ROWS = 6
FRESH_COLUMNS = ("correctness_latency_ms", "correctness_response_id")
"""Differ between any two paid replies (timing, the provider's id), batch or online."""
PROTOCOLS = ["chat_completions", "responses", "anthropic"]


def batch_config(
    ws: Workspace,
    protocol: str = "chat_completions",
    *,
    run: str = 'mode = "batch"\nbatch_poll_s = 0.01',
    extra: str = "",
    name: str = "batch.toml",
) -> Path:
    """One priced connection of ``protocol`` on the fake, the default judge."""
    base = ws.fake.anthropic_base_url if protocol == "anthropic" else ws.fake.openai_base_url
    text = (
        f"[run]\n{run}\n[connections.fake]\n"
        f'protocol = "{protocol}"\nbase_url = "{base}"\nmodel = "fake-judge"\n'
        f'api_key_env = "{ws.key_env}"\n'
        f"input_usd_per_mtok = 0.15\noutput_usd_per_mtok = 0.60\n{extra}\n{DEFAULT_JUDGES}"
    )
    path = ws.root / name
    path.write_text(text, encoding="utf-8")
    return path


def without(rows: list[dict[str, Any]], *columns: str) -> list[dict[str, Any]]:
    """``rows`` without ``columns``."""
    return [{k: v for k, v in row.items() if k not in columns} for row in rows]


def submit_calls(protocol: str) -> list[str]:
    """The HTTP calls of a run that submits one batch."""
    if protocol == "anthropic":
        return ["POST /v1/messages/batches"]
    return ["POST /v1/files", "POST /v1/batches"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_submit_then_collect_writes_what_an_online_run_writes_at_half_price(
    workspace: Workspace, tmp_path: Path, protocol: str
) -> None:
    data = workspace.write_rows(workspace.qa_rows(ROWS))
    online_config = batch_config(workspace, protocol, run="", name="online.toml")
    online = tmp_path / "online.parquet"
    args = ["-c", str(online_config), "-o", str(online), "--cache", str(tmp_path / "o.sqlite3")]
    result = workspace.invoke("score", str(data), *args)
    assert result.exit_code == 0, result.stderr
    config, out = batch_config(workspace, protocol), tmp_path / "batch.parquet"
    first = workspace.score(data, config, out)
    assert first.exit_code == 3, first.stderr
    assert "pending: 6 rows wait for 1 provider batch: " in first.stderr
    assert "rerun the same command to collect" in first.stderr
    assert not out.exists()
    fake = workspace.fake
    assert fake.batches.calls() == submit_calls(protocol)
    second = workspace.score(data, config, out)
    assert second.exit_code == 0, second.stderr
    collect = fake.batches.calls()[len(submit_calls(protocol)) :]
    if protocol == "anthropic":
        assert collect == [
            "GET /v1/messages/batches/msgbatch_000001",
            "GET /v1/messages/batches/msgbatch_000001/results",
        ]
    else:
        assert collect == ["GET /v1/batches/batch_000002", "GET /v1/files/file-000003/content"]
    online_rows, batch_rows = workspace.read_rows(online), workspace.read_rows(out)
    assert without(batch_rows, "correctness_cost_usd", *FRESH_COLUMNS) == without(
        online_rows, "correctness_cost_usd", *FRESH_COLUMNS
    )
    for paid_online, paid_batch in zip(online_rows, batch_rows, strict=True):
        assert paid_batch["correctness_cost_usd"] == pytest.approx(
            paid_online["correctness_cost_usd"] / 2
        )
    assert set(fake.batches.submitted().values()) == {1}
    assert len(fake.batches.submitted()) == ROWS
    assert fake.stats().requests == ROWS  # the online run's calls only


def test_a_third_run_calls_nothing_and_an_online_run_reuses_the_batch_answers(
    workspace: Workspace,
) -> None:
    data = workspace.write_rows(workspace.qa_rows(ROWS))
    config, out = batch_config(workspace), workspace.root / "out.jsonl"
    assert workspace.score(data, config, out).exit_code == 3
    assert workspace.score(data, config, out).exit_code == 0
    calls = len(workspace.fake.batches.calls())
    assert workspace.score(data, config, out).exit_code == 0
    online = batch_config(workspace, run="", name="online.toml")
    assert workspace.score(data, online, workspace.root / "online.jsonl").exit_code == 0
    assert len(workspace.fake.batches.calls()) == calls
    assert workspace.fake.stats().requests == 0


def test_pending_batches_exit_3_and_the_summary_json_counts_them(workspace: Workspace) -> None:
    workspace.fake.settings.batch_polls_to_finish = 2
    data = workspace.write_rows(workspace.qa_rows(ROWS))
    config, out = batch_config(workspace), workspace.root / "out.parquet"
    summary = workspace.root / "summary.json"
    assert workspace.score(data, config, out).exit_code == 3
    second = workspace.score(data, config, out, "--summary-json", str(summary))
    assert second.exit_code == 3
    figures = json.loads(summary.read_text())
    assert (figures["rows_pending"], figures["requests_pending"]) == (ROWS, ROWS)
    assert [(b["batch"], b["requests"]) for b in figures["batches"]] == [("batch_000002", ROWS)]
    assert figures["output"] is None
    assert not out.exists()
    assert workspace.score(data, config, out).exit_code == 0
    assert max(workspace.fake.batches.submitted().values()) == 1


def test_wait_polls_until_every_batch_is_collected(workspace: Workspace) -> None:
    workspace.fake.settings.batch_polls_to_finish = 3
    data = workspace.write_rows(workspace.qa_rows(ROWS))
    config, out = batch_config(workspace), workspace.root / "out.parquet"
    summary = workspace.root / "summary.json"
    result = workspace.score(data, config, out, "--wait", "--summary-json", str(summary))
    assert result.exit_code == 0, result.stderr
    waits = [line for line in result.stderr.splitlines() if "checking again" in line]
    assert len(waits) == 3  # submitted, then 2 polls still running; the 3rd poll collects
    assert re.fullmatch(
        rf"judgekit: {ROWS} rows wait for 1 provider batch: batch_000002 on 'fake' "
        rf"\({ROWS} requests, submitted [0-9T:-]+Z\); checking again in 0\.01 s",
        waits[0],
    )
    assert "rerun" not in result.stderr  # --wait reruns by itself
    # The summary's wall time is the whole wait (two sleeps at least), not the last pass.
    assert json.loads(summary.read_text())["wall_s"] >= 0.02
    assert workspace.fake.batches.calls().count("GET /v1/batches/batch_000002") == 3
    assert all(row["correctness_error"] is None for row in workspace.read_rows(out))


@pytest.mark.parametrize("protocol", ["chat_completions", "anthropic"])
@pytest.mark.parametrize("ending", ["expired", "cancelled"])
def test_expired_or_cancelled_batches_are_submitted_again(
    workspace: Workspace, protocol: str, ending: str
) -> None:
    fake = workspace.fake
    fake.settings.batch_ending = ending
    data = workspace.write_rows(workspace.qa_rows(ROWS))
    config, out = batch_config(workspace, protocol), workspace.root / "out.parquet"
    assert workspace.score(data, config, out).exit_code == 3
    assert workspace.score(data, config, out).exit_code == 3  # collected nothing, resubmitted
    assert set(fake.batches.submitted().values()) == {2}
    fake.settings.batch_ending = "completed"
    assert workspace.score(data, config, out).exit_code == 0
    assert all(row["correctness_error"] is None for row in workspace.read_rows(out))


def test_requests_that_failed_in_a_batch_go_into_the_next_one(workspace: Workspace) -> None:
    fake = workspace.fake
    fake.settings.batch_fail_every = 3
    data = workspace.write_rows(workspace.qa_rows(ROWS))
    config, out = batch_config(workspace), workspace.root / "out.parquet"
    assert workspace.score(data, config, out).exit_code == 3
    second = workspace.score(data, config, out)
    assert second.exit_code == 3
    assert "pending: 2 rows wait for 1 provider batch" in second.stderr
    fake.settings.batch_fail_every = 0
    assert workspace.score(data, config, out).exit_code == 0
    assert sorted(fake.batches.submitted().values()) == [1, 1, 1, 1, 2, 2]


def test_a_reply_without_a_verdict_is_asked_again_in_the_next_batch(workspace: Workspace) -> None:
    workspace.fake.settings.bad_verdict_first_n = 1
    data = workspace.write_rows(workspace.qa_rows(ROWS))
    config, out = batch_config(workspace), workspace.root / "out.parquet"
    assert workspace.score(data, config, out).exit_code == 3
    second = workspace.score(data, config, out)
    assert second.exit_code == 3
    assert "pending: 1 row waits for 1 provider batch" in second.stderr
    assert workspace.score(data, config, out).exit_code == 0
    rows = workspace.read_rows(out)
    assert all(row["correctness_error"] is None for row in rows)
    assert len(workspace.fake.batches.submitted()) == ROWS + 1  # the stricter re-ask
    assert set(workspace.fake.batches.submitted().values()) == {1}


def test_the_budget_counts_money_committed_to_pending_batches(workspace: Workspace) -> None:
    workspace.fake.settings.batch_polls_to_finish = 5
    config = batch_config(workspace)
    dry = workspace.score(
        workspace.write_rows(workspace.qa_rows(3)),
        config,
        workspace.root / "x.parquet",
        "--dry-run",
    )
    worst = float(workspace.table(dry.stderr)[-1][1].strip("$"))  # worst-case cost (batch)
    budget = str(round(worst * 1.5, 6))  # 3 requests' worst case fit, 6 do not
    out = workspace.root / "out.parquet"
    first = workspace.score(
        workspace.write_rows(workspace.qa_rows(3)), config, out, "--budget-usd", budget
    )
    assert first.exit_code == 3
    second = workspace.score(
        workspace.write_rows(workspace.qa_rows(ROWS)), config, out, "--budget-usd", budget
    )
    assert second.exit_code == 3
    # The three pending requests still hold their worst case: only one more fits.
    assert len(workspace.fake.batches.submitted()) == 4


def test_dry_run_batch_shows_the_worst_case_at_batch_price(workspace: Workspace) -> None:
    data = workspace.write_rows(workspace.qa_rows(ROWS))
    config = batch_config(workspace, extra="batch_discount = 0.75")
    result = workspace.score(data, config, workspace.root / "out.parquet", "--dry-run", "--batch")
    rows = dict(workspace.table(result.stderr))
    online = float(rows["worst-case cost"].strip("$"))
    batch = float(rows["worst-case cost (batch)"].strip("$"))
    assert batch == pytest.approx(online / 4, abs=1e-4)
    assert workspace.fake.batches.calls() == []


def test_batch_with_no_cache_is_a_usage_error(workspace: Workspace) -> None:
    data = workspace.write_rows(workspace.qa_rows(2))
    result = workspace.score(data, batch_config(workspace), workspace.root / "o.csv", "--no-cache")
    assert result.exit_code == 2
    assert result.stderr == (
        "error: --batch keeps its batches and their answers in the answer cache: "
        "drop --no-cache (or drop --batch)\n"
    )


def test_a_connection_without_a_batch_api_is_a_usage_error(workspace: Workspace) -> None:
    data = workspace.write_rows(workspace.qa_rows(2))
    config = batch_config(workspace, "bedrock_converse", extra='provider = "bedrock"')
    result = workspace.score(data, config, workspace.root / "o.csv", "--batch")
    assert result.exit_code == 2, result.stderr
    assert result.stderr.endswith(
        "error: connection 'fake': protocol bedrock_converse has no batch API; use a "
        "chat_completions, responses or anthropic connection, or drop --batch\n"
    )
    assert workspace.fake.batches.calls() == []


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_billed_refusal_in_a_batch_lands_on_its_row(
    workspace: Workspace, tmp_path: Path, protocol: str
) -> None:
    # A refusal is billed and would come back the same: no resubmission, and its tokens and
    # (batch-priced) cost are on its row and in the run's spend, as online.
    workspace.fake.settings.refuse = True
    data = workspace.write_rows(workspace.qa_rows(2))
    config, out = batch_config(workspace, protocol), tmp_path / "batch.parquet"
    summary = tmp_path / "summary.json"
    assert workspace.score(data, config, out).exit_code == 3
    second = workspace.score(
        data, config, out, "--summary-json", str(summary), "--max-error-rate", "1"
    )
    assert second.exit_code == 0, second.stderr
    rows = workspace.read_rows(out)
    assert [r["correctness_error"] for r in rows] == ["malformed_response"] * 2
    assert all(r["correctness_reasoning"].startswith("the model refused") for r in rows)
    stats = workspace.fake.stats()
    assert sum(r["correctness_input_tokens"] for r in rows) == stats.input_tokens > 0
    assert sum(r["correctness_output_tokens"] for r in rows) == stats.output_tokens
    figures = json.loads(summary.read_text())
    assert figures["spent_usd"] == pytest.approx(
        sum(r["correctness_cost_usd"] for r in rows), abs=1e-6
    )
    assert all(r["correctness_cost_usd"] > 0 for r in rows)
    assert max(workspace.fake.batches.submitted().values()) == 1  # never submitted again


def test_a_cut_off_batch_reply_is_asked_again_with_twice_the_cap_in_the_next_batch(
    workspace: Workspace, tmp_path: Path
) -> None:
    # As online: a reply cut off at 512 is not resubmitted unchanged; the next batch asks
    # once more at 1024, and the row carries both attempts' tokens.
    workspace.fake.settings.reasoning_tokens = 600
    data = workspace.write_rows(workspace.qa_rows(2))
    config, out = batch_config(workspace), tmp_path / "batch.parquet"
    assert workspace.score(data, config, out).exit_code == 3  # submitted at 512
    assert workspace.score(data, config, out).exit_code == 3  # cut off: 1024 submitted
    third = workspace.score(data, config, out)
    assert third.exit_code == 0, third.stderr
    rows = workspace.read_rows(out)
    assert [r["correctness_error"] for r in rows] == [None, None]
    tokens = [r["correctness_output_tokens"] for r in rows]
    assert all(t > 512 + 600 for t in tokens)  # the cut-off 512 and the whole answer
    assert sum(tokens) == workspace.fake.stats().output_tokens
    assert max(workspace.fake.batches.submitted().values()) == 1


def test_every_sample_and_both_pairwise_orders_go_in_one_batch(
    workspace: Workspace, tmp_path: Path
) -> None:
    judges = """
[[judges]]
name = "sc"
connection = "fake"
template = "correctness"
samples = 3
[judges.columns]
input = "question"
output = "answer"
expected = "reference"
"""
    data = workspace.write_rows(workspace.qa_rows(2))
    base = workspace.fake.openai_base_url
    config = tmp_path / "samples.toml"
    config.write_text(
        f'[run]\nmode = "batch"\n[connections.fake]\nbase_url = "{base}"\nmodel = "fake-judge"\n'
        f'api_key_env = "{workspace.key_env}"\ninput_usd_per_mtok = 0.15\n'
        f"output_usd_per_mtok = 0.60\n{judges}",
        encoding="utf-8",
    )
    out = tmp_path / "out.parquet"
    assert workspace.score(data, config, out).exit_code == 3
    assert len(workspace.fake.batches.submitted()) == 2 * 3  # every sample of every row
    second = workspace.score(data, config, out)
    assert second.exit_code == 0, second.stderr
    rows = workspace.read_rows(out)
    assert [r["sc_error"] for r in rows] == [None, None]
    assert all(r["sc_vote_share"] is not None for r in rows)
