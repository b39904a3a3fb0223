"""The engine under limits, end to end against the fake: transient failures retried, 429s and
Retry-After honoured by the whole connection, adaptive pacing, and the hard budget."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from judgekit.testing.fake_verdicts import REASK_PHRASE

if TYPE_CHECKING:
    from conftest import Workspace

BUDGET_MESSAGE = (
    "error: budget of ${budget} exhausted: {unscored} judgements not scored "
    "(raise --budget-usd and rerun; answered calls come from the cache)"
)


# -- transient failures --------------------------------------------------------------------

TRANSIENT = {
    "5xx-first-3": ({"fail_5xx_first_n": 3}, 3),
    "500-first-2": ({"fail_5xx_first_n": 2, "fail_status": 500}, 2),
    "malformed-body-first-2": ({"malformed_first_n": 2}, 2),
    "hang-first-1": ({"hang_first_n": 1}, 1),
}


@pytest.mark.parametrize(("switches", "extra"), TRANSIENT.values(), ids=TRANSIENT.keys())
def test_transient_failures_are_retried_and_every_row_is_scored(
    workspace: Workspace, switches: dict[str, Any], extra: int
) -> None:
    for name, value in switches.items():
        setattr(workspace.fake.settings, name, value)
    data = workspace.write_rows(workspace.qa_rows(6))
    config = workspace.write_config(
        run="concurrency = 2", connection="max_retries = 3\ntimeout_s = 0.3"
    )
    output = workspace.root / "out.parquet"
    summary = workspace.root / "summary.json"
    result = workspace.score(data, config, output, "--summary-json", str(summary))
    assert result.exit_code == 0, result.stderr
    rows = workspace.read_rows(output)
    assert [r["correctness_error"] for r in rows] == [None] * 6
    assert all(r["correctness_score"] is not None for r in rows)
    figures = json.loads(summary.read_text())
    assert (figures["requests"], figures["retries"]) == (6 + extra, extra)
    assert workspace.fake.stats().requests == 6 + extra
    # Each row's body was sent until answered: the retried ones twice, the others once.
    bodies = workspace.sent_bodies()
    assert len(set(bodies)) == 6


def test_a_bad_verdict_gets_one_stricter_reask_then_is_scored(workspace: Workspace) -> None:
    workspace.fake.settings.bad_verdict_first_n = 2
    data = workspace.write_rows(workspace.qa_rows(5))
    config = workspace.write_config(run="concurrency = 1")
    output = workspace.root / "out.parquet"
    result = workspace.score(data, config, output)
    assert result.exit_code == 0
    requests = workspace.fake.requests
    assert len(requests) == 7
    reasks = [body for body in workspace.sent_bodies() if REASK_PHRASE in body]
    assert len(reasks) == 2
    rows = workspace.read_rows(output)
    assert [r["correctness_error"] for r in rows] == [None] * 5
    # Rows 0 and 1 (concurrency 1: the first two calls) paid for two calls each.
    single = rows[2]["correctness_input_tokens"]
    assert rows[0]["correctness_input_tokens"] > single
    assert rows[1]["correctness_input_tokens"] > rows[3]["correctness_input_tokens"]
    assert rows[0]["correctness_cost_usd"] > rows[2]["correctness_cost_usd"]
    total = sum(r["correctness_input_tokens"] for r in rows)
    assert total == workspace.fake.stats().input_tokens


@pytest.mark.parametrize("verbose", [True, False], ids=["verbose", "quiet-about-retries"])
def test_verbose_prints_each_retry(workspace: Workspace, verbose: bool) -> None:
    workspace.fake.settings.fail_5xx_first_n = 1
    data = workspace.write_rows(workspace.qa_rows(1))
    config = workspace.write_config(connection="max_retries = 3")
    flags = ["-v"] if verbose else []
    result = workspace.score(data, config, workspace.root / "out.parquet", *flags)
    assert result.exit_code == 0
    line = (
        "judgekit: connection 'fake': server_error (HTTP 503 Service Unavailable: The server "
        "had an error while processing your request. Sorry about that!); retry 1/3"
    )
    assert (line in result.stderr.splitlines()) is verbose


# -- rate limits ---------------------------------------------------------------------------


def test_429_retry_after_pauses_the_whole_connection_and_every_row_is_scored(
    workspace: Workspace,
) -> None:
    fake = workspace.fake
    fake.settings.rate_limit_first_n = 4
    fake.settings.retry_after_s = 0.2  # retry-after-ms: 200
    data = workspace.write_rows(workspace.qa_rows(10))
    config = workspace.write_config(run="concurrency = 4", connection="max_retries = 3")
    output = workspace.root / "out.parquet"
    summary = workspace.root / "summary.json"
    result = workspace.score(data, config, output, "--summary-json", str(summary))
    assert result.exit_code == 0
    assert [r["correctness_error"] for r in workspace.read_rows(output)] == [None] * 10
    assert fake.stats().rate_limited == 4
    assert fake.stats().requests == 14
    figures = json.loads(summary.read_text())
    assert (figures["rate_limited"], figures["errors"]) == (4, {})
    # The first four arrivals got the 429s (the fake answers them in arrival order).  No
    # request at all, retried or new, may arrive before the first 429's wait is over.
    requests = fake.requests
    limited, later = requests[:4], requests[4:]
    first_wait_ends = min(r.time_s for r in limited) + 0.2
    assert all(r.time_s >= first_wait_ends for r in later)
    # And each retried body came back only after its own 429's wait.
    for refused in limited:
        retry = next(r for r in later if r.body == refused.body)
        assert retry.time_s >= refused.time_s + 0.2


def test_without_declared_limits_the_pace_adapts_to_a_per_second_limit(
    workspace: Workspace,
) -> None:
    workspace.fake.settings.rate_limit_per_s = 15
    data = workspace.write_rows(workspace.qa_rows(25))
    config = workspace.write_config(run="concurrency = 16", connection="max_retries = 5")
    output = workspace.root / "out.parquet"
    result = workspace.score(data, config, output)
    assert result.exit_code == 0, result.stderr
    assert [r["correctness_error"] for r in workspace.read_rows(output)] == [None] * 25
    stats = workspace.fake.stats()
    assert stats.rate_limited >= 1  # the limit was really hit
    assert stats.by_status[200] == 25


def test_waiting_a_429_out_spends_no_retry(workspace: Workspace) -> None:
    workspace.fake.settings.rate_limit_first_n = 2
    workspace.fake.settings.retry_after_s = 0.05
    data = workspace.write_rows(workspace.qa_rows(2))
    config = workspace.write_config(
        run="concurrency = 1\nmax_error_rate = 1.0", connection="max_retries = 0"
    )
    output = workspace.root / "out.parquet"
    result = workspace.score(data, config, output)
    assert result.exit_code == 0
    assert [r["correctness_error"] for r in workspace.read_rows(output)] == [None, None]
    assert workspace.fake.stats().rate_limited == 2


HINT_STYLES = ["standard", "litellm", "reset", "none"]


@pytest.mark.parametrize("style", HINT_STYLES, ids=HINT_STYLES)
def test_a_throttled_key_takes_longer_and_loses_no_row(workspace: Workspace, style: str) -> None:
    # A sliding one-second window of 20 requests, 60 rows at concurrency 16 and a single
    # retry per row: the wait each 429 asks for (in whatever headers a proxy leaves) is
    # waited out by the whole connection, and spends no row's retry.
    workspace.fake.settings.rate_limit_per_s = 20
    workspace.fake.settings.retry_hint = style
    data = workspace.write_rows(workspace.qa_rows(60))
    config = workspace.write_config(run="concurrency = 16", connection="max_retries = 1")
    output = workspace.root / "out.parquet"
    summary = workspace.root / "summary.json"
    result = workspace.score(data, config, output, "--summary-json", str(summary))
    assert result.exit_code == 0, result.stderr
    assert [r["correctness_error"] for r in workspace.read_rows(output)] == [None] * 60
    stats = workspace.fake.stats()
    assert stats.rate_limited >= 1  # the limit was really hit
    assert stats.by_status[200] == 60
    assert json.loads(summary.read_text())["errors"] == {}


def test_a_quota_error_is_not_retried_and_closes_the_connection(workspace: Workspace) -> None:
    # A LiteLLM proxy rewrote the code "insufficient_quota" to "429": the message tells.
    workspace.fake.settings.quota_exceeded = True
    data = workspace.write_rows(workspace.qa_rows(20))
    config = workspace.write_config(run="concurrency = 1", connection="max_retries = 5")
    output = workspace.root / "out.parquet"
    result = workspace.score(data, config, output)
    assert result.exit_code == 1
    assert workspace.fake.stats().requests == 1
    reason = (
        "connection 'fake': out of quota or credit (HTTP 429 Too Many Requests: You exceeded "
        "your current quota, please check your plan and billing details.); add credit, then "
        "rerun: answered rows come from the cache"
    )
    assert f"judgekit: {reason}; its remaining rows fail without a call" in result.stderr
    rows = workspace.read_rows(output)
    assert [r["correctness_error"] for r in rows] == ["rate_limit"] * 20
    assert rows[0]["correctness_reasoning"] == (
        "HTTP 429 Too Many Requests: You exceeded your current quota, please check your plan "
        "and billing details."
    )
    assert {r["correctness_reasoning"] for r in rows[1:]} == {reason}


def test_a_429_that_never_clears_fails_the_connection_promptly(workspace: Workspace) -> None:
    # A limit below one request: every request, however long the wait, gets 429.
    workspace.fake.settings.rate_limit_first_n = 1_000_000
    workspace.fake.settings.retry_after_s = 0.01
    data = workspace.write_rows(workspace.qa_rows(50))
    config = workspace.write_config(run="concurrency = 4", connection="max_retries = 5")
    output = workspace.root / "out.parquet"
    result = workspace.score(data, config, output)
    assert result.exit_code == 1
    rows = workspace.read_rows(output)
    assert [r["correctness_error"] for r in rows] == ["rate_limit"] * 50
    reason = (
        "connection 'fake': rate-limited in 7 rounds of waiting as asked, and no request "
        "passed (HTTP 429 Too Many Requests: Rate limit reached for requests. Please try "
        "again in 10ms.); the limit is smaller than one request (shorten the prompt or "
        "lower max_output_tokens) or the key is throttled: rerun later, answered rows come "
        "from the cache"
    )
    assert {r["correctness_reasoning"] for r in rows} == {reason}
    assert result.stderr.count(reason) == 1
    # Promptly: a handful of rounds, not 50 rows x 6 attempts.
    assert workspace.fake.stats().requests < 50


# -- budget --------------------------------------------------------------------------------


@pytest.mark.parametrize("budget", ["0.0015", "0.002", "0.003"])
def test_the_budget_is_never_exceeded_and_unscored_rows_say_budget_exhausted(
    workspace: Workspace, budget: str
) -> None:
    data = workspace.write_rows(workspace.qa_rows(30))
    config = workspace.write_config(run="concurrency = 16")
    output = workspace.root / "out.parquet"
    summary = workspace.root / "summary.json"
    result = workspace.score(
        data, config, output, "--budget-usd", budget, "--summary-json", str(summary)
    )
    assert result.exit_code == 1
    figures = json.loads(summary.read_text())
    assert figures["spent_usd"] <= float(budget)
    rows = workspace.read_rows(output)
    assert len(rows) == 30
    assert sum(r["correctness_cost_usd"] for r in rows) <= float(budget)
    scored = [r for r in rows if r["correctness_error"] is None]
    unscored = [r for r in rows if r["correctness_error"] is not None]
    assert scored and unscored
    assert {r["correctness_error"] for r in unscored} == {"budget_exhausted"}
    assert all(r["correctness_score"] is None for r in unscored)
    assert all(r["correctness_cost_usd"] == 0 for r in unscored)
    # Nothing was sent for an unscored row: exactly one request per scored row.
    assert workspace.fake.stats().requests == len(scored)
    message = BUDGET_MESSAGE.format(budget=f"{float(budget):g}", unscored=len(unscored))
    assert result.stderr.splitlines()[-1] == message
    assert figures["problem"] == message.removeprefix("error: ")


def test_the_budget_set_in_the_config_applies_too(workspace: Workspace) -> None:
    data = workspace.write_rows(workspace.qa_rows(20))
    config = workspace.write_config(run="concurrency = 16\nbudget_usd = 0.001")
    output = workspace.root / "out.parquet"
    result = workspace.score(data, config, output)
    assert result.exit_code == 1
    assert sum(r["correctness_cost_usd"] for r in workspace.read_rows(output)) <= 0.001


def test_cached_answers_are_free_under_a_budget(workspace: Workspace) -> None:
    data = workspace.write_rows(workspace.qa_rows(10))
    config = workspace.write_config()
    output = workspace.root / "out.parquet"
    assert workspace.score(data, config, output).exit_code == 0
    spent = sum(r["correctness_cost_usd"] for r in workspace.read_rows(output))
    before = workspace.fake.stats().requests
    # A budget far below what the answers cost: every one comes from the cache.
    rerun = workspace.score(data, config, output, "--budget-usd", f"{spent / 100:.8f}")
    assert rerun.exit_code == 0, rerun.stderr
    assert workspace.fake.stats().requests == before
    assert [r["correctness_error"] for r in workspace.read_rows(output)] == [None] * 10


def test_a_budget_too_small_for_one_call_scores_nothing_and_still_writes(
    workspace: Workspace,
) -> None:
    data = workspace.write_rows(workspace.qa_rows(3))
    config = workspace.write_config()
    output = workspace.root / "out.jsonl"
    result = workspace.score(data, config, output, "--budget-usd", "0.00001")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == BUDGET_MESSAGE.format(budget="1e-05", unscored=3)
    lines = [json.loads(line) for line in output.read_text().splitlines()]
    assert [line["correctness_error"] for line in lines] == ["budget_exhausted"] * 3
    assert workspace.fake.stats().requests == 0


def test_the_budget_message_under_no_cache_does_not_promise_the_cache(
    workspace: Workspace,
) -> None:
    data = workspace.write_rows(workspace.qa_rows(3))
    config = workspace.write_config()
    output = workspace.root / "out.jsonl"
    result = workspace.score(data, config, output, "--budget-usd", "0.00001", "--no-cache")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        "error: budget of $1e-05 exhausted: 3 judgements not scored "
        "(raise --budget-usd and rerun; under --no-cache every call is paid again)"
    )
    assert not workspace.cache.exists()
