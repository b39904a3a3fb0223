"""`judgekit score` when something is wrong: usage errors (exit 2, nothing called, nothing
written), a 401 that stops the run, and row errors that end in ``J_error`` and exit 1."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Workspace

FAILED_RUN = (
    "error: error rate {rate} is above max_error_rate {limit} "
    "({failed} failed judgements; see the J_error column)"
)

RULE_JUDGES = """
[[judges]]
name = "same"
type = "exact"
[judges.columns]
output = "answer"
expected = "reference"

[[judges]]
name = "overlap"
type = "token_f1"
[judges.columns]
output = "answer"
expected = "reference"

[[judges]]
name = "mentions"
type = "contains"
[judges.columns]
output = "answer"
expected = "reference"
"""
"""Three rule judges that never fail, to dilute one failing LLM judge's error rate to 25%."""


# -- usage errors --------------------------------------------------------------------------


@dataclass
class Case:
    """One ``score`` invocation: good paths by default, a case spoils one thing."""

    dataset: Path
    config: Path
    output: Path
    extra: list[str] = field(default_factory=list)

    def args(self, ws: Workspace) -> list[str]:
        """The command line."""
        return ws.score_args(self.dataset, self.config, self.output, *self.extra)


def _malformed_line(ws: Workspace, case: Case) -> str:
    case.dataset.write_text(json.dumps(ws.qa_rows(1)[0]) + '\n{"id": "row-001", "answer": oops}\n')
    return f"{case.dataset}:2: invalid JSON (Expecting value: column 29)"


def _unknown_config_key(ws: Workspace, case: Case) -> str:
    ws.write_config(run="concurency = 4")
    return (
        f"{case.config}: run.concurency: unknown key "
        "(check the spelling; see README for the allowed keys)"
    )


def _missing_column(ws: Workspace, case: Case) -> str:
    rows = [{k: v for k, v in row.items() if k != "reference"} for row in ws.qa_rows(3)]
    ws.write_rows(rows)
    return (
        f"{case.config}: judges[0].columns.expected: judge 'correctness' needs column "
        f"'reference', which {case.dataset} lacks (columns: id, question, answer)"
    )


def _missing_key(ws: Workspace, case: Case) -> str:
    case.config.write_text(case.config.read_text().replace(ws.key_env, "JUDGEKIT_UNSET_API_KEY"))
    return (
        "connection 'fake': environment variable JUDGEKIT_UNSET_API_KEY is not set "
        "(export JUDGEKIT_UNSET_API_KEY=... before running)"
    )


def _unknown_price_with_budget(ws: Workspace, case: Case) -> str:
    ws.write_config(prices=False, run="budget_usd = 1.0")
    return (
        f"{case.config}: judges[0]: no known price for model 'fake-judge' and a budget is set; "
        "set input_usd_per_mtok and output_usd_per_mtok on connections.fake"
    )


def _unknown_price_with_budget_flag(ws: Workspace, case: Case) -> str:
    ws.write_config(prices=False)
    case.extra = ["--budget-usd", "1"]
    return (
        f"{case.config}: judges[0]: no known price for model 'fake-judge' and a budget is set; "
        "set input_usd_per_mtok and output_usd_per_mtok on connections.fake"
    )


def _duplicate_ids(ws: Workspace, case: Case) -> str:
    rows = ws.qa_rows(4)
    ws.write_rows([*rows, rows[2], rows[0], rows[2]])
    return f"{case.dataset}: duplicate ids in column 'id': 'row-002', 'row-000' (2 duplicated ids)"


def _empty_dataset(ws: Workspace, case: Case) -> str:
    case.dataset.write_text("\n\n")
    return f"{case.dataset}: dataset is empty (no rows)"


def _unknown_judge(ws: Workspace, case: Case) -> str:
    case.extra = ["--judge", "correctness", "--judge", "corectness"]
    return "--judge corectness: no such judge (judges: correctness)"


def _unknown_template(ws: Workspace, case: Case) -> str:
    case.config.write_text(
        case.config.read_text().replace('= "correctness"\nthreshold', '= "corect"\nthreshold')
    )
    return (
        f"{case.config}: judges[0].template: unknown template 'corect' (built-in: correctness, "
        "faithfulness, helpfulness, safety, accuracy, behavior, citations; "
        "`judgekit templates` lists them)"
    )


def _unsupported_output(ws: Workspace, case: Case) -> str:
    case.output = ws.root / "scored.xlsx"
    return f"{case.output}: unsupported output format (use .parquet, .jsonl or .csv)"


def _no_such_dataset(ws: Workspace, case: Case) -> str:
    case.dataset = ws.root / "missing.jsonl"
    return f"{case.dataset}: no such file"


def _no_such_config(ws: Workspace, case: Case) -> str:
    case.config = ws.root / "missing.toml"
    return f"{case.config}: no such config file"


def _taken_output_column(ws: Workspace, case: Case) -> str:
    ws.write_rows([row | {"correctness_score": 0.5} for row in ws.qa_rows(2)])
    return (
        "output column 'correctness_score' already exists (from the dataset or another judge); "
        "rename judge 'correctness' or drop the column"
    )


USAGE_ERRORS: dict[str, Callable[[Workspace, Case], str]] = {
    "malformed-jsonl-line": _malformed_line,
    "unknown-config-key": _unknown_config_key,
    "missing-column": _missing_column,
    "missing-api-key": _missing_key,
    "unknown-price-with-budget": _unknown_price_with_budget,
    "unknown-price-with-budget-flag": _unknown_price_with_budget_flag,
    "duplicate-ids": _duplicate_ids,
    "empty-dataset": _empty_dataset,
    "unknown-judge": _unknown_judge,
    "unknown-template": _unknown_template,
    "unsupported-output-extension": _unsupported_output,
    "no-such-dataset": _no_such_dataset,
    "no-such-config": _no_such_config,
    "output-column-taken": _taken_output_column,
}


@pytest.mark.parametrize("spoil", USAGE_ERRORS.values(), ids=USAGE_ERRORS.keys())
def test_a_usage_error_exits_2_with_one_line_and_calls_and_writes_nothing(
    workspace: Workspace, spoil: Callable[[Workspace, Case], str]
) -> None:
    ws = workspace
    case = Case(ws.write_rows(ws.qa_rows(3)), ws.write_config(), ws.root / "out.parquet")
    message = spoil(ws, case)
    result = ws.invoke(*case.args(ws))
    assert (result.exit_code, result.stderr, result.stdout) == (2, f"error: {message}\n", "")
    assert isinstance(result.exception, SystemExit)  # no traceback
    assert not case.output.exists()
    assert sorted(p.name for p in ws.root.iterdir() if p.name.startswith(".")) == []
    assert not ws.cache.exists()
    assert ws.fake.stats().requests == 0


DRY_RUN_ERRORS = {
    name: USAGE_ERRORS[name]
    for name in ("missing-column", "unknown-price-with-budget", "output-column-taken")
}


@pytest.mark.parametrize("spoil", DRY_RUN_ERRORS.values(), ids=DRY_RUN_ERRORS.keys())
def test_a_dry_run_refuses_what_a_run_would_refuse(
    workspace: Workspace, spoil: Callable[[Workspace, Case], str]
) -> None:
    ws = workspace
    case = Case(ws.write_rows(ws.qa_rows(3)), ws.write_config(), ws.root / "out.parquet")
    message = spoil(ws, case)
    case.extra.append("--dry-run")
    result = ws.invoke(*case.args(ws))
    assert (result.exit_code, result.stderr, result.stdout) == (2, f"error: {message}\n", "")


def test_an_unopenable_cache_exits_2_before_any_call(workspace: Workspace) -> None:
    blocker = workspace.root / "not-a-directory"
    blocker.write_text("")
    cache = blocker / "cache.sqlite3"
    data = workspace.write_rows(workspace.qa_rows(2))
    output = workspace.root / "out.parquet"
    args = [str(data), "-c", str(workspace.write_config()), "-o", str(output)]
    result = workspace.invoke("score", *args, "--cache", str(cache))
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        f"error: {cache}: cannot open the cache ([Errno 17] File exists: '{blocker}'); "
        "use --cache PATH or --no-cache\n"
    )
    assert not output.exists()
    assert workspace.fake.stats().requests == 0


def test_a_usage_error_leaves_an_existing_output_alone(workspace: Workspace) -> None:
    output = workspace.root / "out.parquet"
    output.write_bytes(b"previous run")
    config = workspace.write_config(run="concurency = 4")
    data = workspace.write_rows(workspace.qa_rows(2))
    result = workspace.score(data, config, output)
    assert result.exit_code == 2
    assert output.read_bytes() == b"previous run"


# -- 401: stop at once ---------------------------------------------------------------------


@pytest.mark.parametrize("output_name", ["out.parquet", "out.jsonl"], ids=["parquet", "jsonl"])
def test_401_stops_the_run_at_once_and_names_connection_and_variable(
    workspace: Workspace, output_name: str
) -> None:
    workspace.fake.settings.api_key = "sk-the-right-key-0000"
    data = workspace.write_rows(workspace.qa_rows(8))
    config = workspace.write_config(run="concurrency = 1")
    output = workspace.root / output_name
    result = workspace.score(data, config, output)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        "error: connection 'fake': the provider refused the credentials "
        "(HTTP 401 Unauthorized: Incorrect API key provided.); check JUDGEKIT_TEST_API_KEY\n"
    )
    assert isinstance(result.exception, SystemExit)
    assert workspace.fake.stats().requests == 1
    assert not output.exists()
    assert list(workspace.root.glob(".out.*")) == []


def test_401_with_many_in_flight_starts_no_new_call(workspace: Workspace) -> None:
    workspace.fake.settings.status_401 = True
    data = workspace.write_rows(workspace.qa_rows(30))
    config = workspace.write_config(run="concurrency = 4")
    output = workspace.root / "out.parquet"
    result = workspace.score(data, config, output)
    assert result.exit_code == 2
    assert result.stderr.endswith("; check JUDGEKIT_TEST_API_KEY\n")
    assert workspace.fake.stats().requests <= 4
    assert not output.exists()


def test_a_401_mid_run_keeps_the_answers_so_far_for_the_rerun(workspace: Workspace) -> None:
    fake = workspace.fake
    fake.settings.latency_ms = 20
    data = workspace.write_rows(workspace.qa_rows(10))
    config = workspace.write_config(run="concurrency = 1")
    output = workspace.root / "out.parquet"

    def revoke_the_key() -> None:
        workspace.wait_for(lambda: fake.stats().by_status.get(200, 0) >= 3, "three answers")
        fake.settings.status_401 = True

    thread = threading.Thread(target=revoke_the_key, daemon=True)
    thread.start()
    result = workspace.score(data, config, output)
    thread.join(timeout=30)
    assert result.exit_code == 2
    assert result.stderr.endswith("; check JUDGEKIT_TEST_API_KEY\n")
    assert not output.exists()
    answered = fake.stats().by_status[200]
    assert fake.stats().by_status[401] == 1
    fake.settings.status_401 = False
    fake.settings.latency_ms = 0
    assert workspace.score(data, config, output).exit_code == 0
    assert fake.stats().by_status[200] == 10  # the answered ones came from the cache
    assert answered >= 3


# -- row errors ------------------------------------------------------------------------------


def test_5xx_always_is_server_error_after_max_retries_and_the_run_finishes(
    workspace: Workspace,
) -> None:
    workspace.fake.settings.fail_5xx_rate = 1.0
    data = workspace.write_rows(workspace.qa_rows(5))
    config = workspace.write_config(run="concurrency = 5", connection="max_retries = 1")
    output = workspace.root / "out.parquet"
    summary = workspace.root / "summary.json"
    result = workspace.score(data, config, output, "--summary-json", str(summary))
    assert result.exit_code == 1
    rate = FAILED_RUN.format(rate="100.0%", limit="2.0%", failed=5)
    assert result.stderr.splitlines()[-1] == rate
    assert workspace.fake.stats().by_status == {503: 10}
    rows = workspace.read_rows(output)
    assert [r["correctness_error"] for r in rows] == ["server_error"] * 5
    assert [r["correctness_score"] for r in rows] == [None] * 5
    assert [r["correctness_passed"] for r in rows] == [None] * 5
    assert {r["correctness_reasoning"] for r in rows} == {
        "HTTP 503 Service Unavailable: The server had an error while processing your request. "
        "Sorry about that!"
    }
    assert [r["correctness_cost_usd"] for r in rows] == [0.0] * 5
    figures = json.loads(summary.read_text())
    assert (figures["requests"], figures["retries"]) == (10, 5)
    assert figures["errors"] == {"server_error": 5}
    assert figures["problem"] == rate.removeprefix("error: ")


@pytest.mark.parametrize(
    ("max_error_rate", "exit_code"),
    [("0.2", 1), ("0.3", 0), ("0.25", 0)],
    ids=["above-exit-1", "below-exit-0", "equal-exit-0"],
)
def test_the_error_rate_decides_the_exit_code(
    workspace: Workspace, max_error_rate: str, exit_code: int
) -> None:
    # One LLM judge always failing + three rule judges never failing: 25% of judgements fail.
    workspace.fake.settings.fail_5xx_rate = 1.0
    data = workspace.write_rows(workspace.qa_rows(4))
    judges = workspace.judges + RULE_JUDGES
    config = workspace.write_config(connection="max_retries = 0", judges=judges)
    output = workspace.root / "out.parquet"
    result = workspace.score(data, config, output, "--max-error-rate", max_error_rate)
    assert result.exit_code == exit_code
    assert output.exists()
    rows = workspace.read_rows(output)
    assert [r["correctness_error"] for r in rows] == ["server_error"] * 4
    assert [r["overlap_error"] for r in rows] == [None] * 4
    last = result.stderr.splitlines()[-1]
    if exit_code:
        limit = f"{float(max_error_rate):.1%}"
        assert last == FAILED_RUN.format(rate="25.0%", limit=limit, failed=4)
    else:
        assert "error:" not in result.stderr


def test_a_bad_verdict_every_time_is_malformed_response_never_a_silent_zero(
    workspace: Workspace,
) -> None:
    workspace.fake.settings.bad_verdict_always = True
    data = workspace.write_rows(workspace.qa_rows(4))
    config = workspace.write_config(run="max_error_rate = 1.0")
    output = workspace.root / "out.parquet"
    result = workspace.score(data, config, output)
    assert result.exit_code == 0
    assert workspace.fake.stats().requests == 8  # each row: the call and one stricter re-ask
    rows = workspace.read_rows(output)
    assert [r["correctness_error"] for r in rows] == ["malformed_response"] * 4
    assert [r["correctness_score"] for r in rows] == [None] * 4
    assert [r["correctness_passed"] for r in rows] == [None] * 4
    # Both calls were answered, so both are paid for and counted.
    assert all(r["correctness_cost_usd"] > 0 for r in rows)
    assert sum(r["correctness_input_tokens"] for r in rows) == workspace.fake.stats().input_tokens


def test_other_4xx_is_bad_request_without_retry(workspace: Workspace) -> None:
    workspace.fake.settings.status_400_rate = 0.5
    data = workspace.write_rows(workspace.qa_rows(6))
    config = workspace.write_config(run="concurrency = 1\nmax_error_rate = 0.5")
    output = workspace.root / "out.parquet"
    summary = workspace.root / "summary.json"
    result = workspace.score(data, config, output, "--summary-json", str(summary))
    assert result.exit_code == 0
    assert workspace.fake.stats().by_status == {200: 3, 400: 3}
    rows = workspace.read_rows(output)
    assert [r["correctness_error"] for r in rows] == [None, "bad_request"] * 3
    assert rows[1]["correctness_reasoning"] == (
        "HTTP 400 Bad Request: Invalid request (injected by the fake provider)."
    )
    assert json.loads(summary.read_text())["retries"] == 0


def test_a_timeout_every_time_is_a_timeout_error(workspace: Workspace) -> None:
    workspace.fake.settings.hang = True
    data = workspace.write_rows(workspace.qa_rows(2))
    config = workspace.write_config(
        run="max_error_rate = 1.0", connection="timeout_s = 0.2\nmax_retries = 0"
    )
    output = workspace.root / "out.parquet"
    result = workspace.score(data, config, output)
    assert result.exit_code == 0
    assert [r["correctness_error"] for r in workspace.read_rows(output)] == ["timeout", "timeout"]


def test_a_refused_connection_is_a_connection_error(workspace: Workspace) -> None:
    closed = workspace.write_config(run="max_error_rate = 1.0", connection="max_retries = 0")
    # Port 9 (discard) on loopback: nothing listens there in a test sandbox.
    closed.write_text(
        closed.read_text().replace(workspace.fake.openai_base_url, "http://127.0.0.1:9/v1")
    )
    data = workspace.write_rows(workspace.qa_rows(2))
    output = workspace.root / "out.parquet"
    result = workspace.score(data, closed, output)
    assert result.exit_code == 0
    assert [r["correctness_error"] for r in workspace.read_rows(output)] == [
        "connection",
        "connection",
    ]
