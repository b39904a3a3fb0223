"""`judgekit score` when something is wrong: usage errors (exit 2, nothing called, nothing
written), a 401 that stops the run, and row errors that end in ``J_error`` and exit 1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from conftest import EXACT_JUDGE
from disk_full import fill, tiny_disk

if TYPE_CHECKING:
    from conftest import Workspace

FAILED_RUN = (
    "error: error rate {rate} is above max_error_rate {limit} "
    "({failed} of {done} LLM judgements failed; see the J_error column)"
)

RULE_JUDGES = (
    EXACT_JUDGE
    + """
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
)
"""Three rule judges that never fail: they must not dilute a failing LLM judge's error rate."""


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
        f"{case.config}: run.concurency: unknown key; did you mean 'concurrency'? "
        "(allowed: concurrency, budget_usd, max_error_rate, id_column, local_only, mode, "
        "batch_poll_s)"
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
    return "--judge corectness: no such judge; did you mean 'correctness'? (judges: correctness)"


def _unknown_template(ws: Workspace, case: Case) -> str:
    case.config.write_text(
        case.config.read_text().replace('= "correctness"\nthreshold', '= "corect"\nthreshold')
    )
    return (
        f"{case.config}: judges[0].template: unknown template 'corect'; did you mean "
        "'correctness'? (built-in: correctness, "
        "faithfulness, helpfulness, safety, accuracy, behavior, citations, pairwise; "
        "`judgekit templates` lists them)"
    )


def _misspelt_placeholder(ws: Workspace, case: Case) -> str:
    case.config.write_text(
        case.config.read_text().replace(
            'template = "correctness"', 'prompt = "Rate {ouput} against {expected}"'
        )
    )
    return (
        f"{case.config}: judges[0].prompt: unknown placeholder {{ouput}}; did you mean "
        "{output}? (fields: input, output, expected, context, history, tool_calls, "
        "expected_behavior, constraints, output_a, output_b); write other braces as JSON, "
        'e.g. {"key": 1}'
    )


def _unsupported_output(ws: Workspace, case: Case) -> str:
    case.output = ws.root / "scored.xlsx"
    return (
        f"{case.output}: unsupported output format (use .parquet, .jsonl, .ndjson, .jsonl.gz "
        "or .csv)"
    )


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
    "misspelt-placeholder": _misspelt_placeholder,
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
    # given_paths: in the words of every other file a run writes (was "[Errno 17] File exists")
    assert result.stderr == (
        f"error: {cache}: cannot create directory {blocker} ({blocker} is a file)\n"
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
    rate = FAILED_RUN.format(rate="100.0%", limit="2.0%", failed=5, done=5)
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
    [("0.4", 1), ("0.6", 0), ("0.5", 0)],
    ids=["above-exit-1", "below-exit-0", "equal-exit-0"],
)
def test_the_error_rate_decides_the_exit_code(
    workspace: Workspace, max_error_rate: str, exit_code: int
) -> None:
    # Half of one LLM judge's calls fail; three rule judges never fail, and do not dilute
    # the rate (2 of 4 LLM judgements = 50%, not 2 of 16 judgements = 12.5%).
    workspace.fake.settings.fail_5xx_rate = 0.5
    data = workspace.write_rows(workspace.qa_rows(4))
    judges = workspace.judges + RULE_JUDGES
    config = workspace.write_config(
        run="concurrency = 1", connection="max_retries = 0", judges=judges
    )
    output = workspace.root / "out.parquet"
    result = workspace.score(data, config, output, "--max-error-rate", max_error_rate)
    assert result.exit_code == exit_code
    assert output.exists()
    rows = workspace.read_rows(output)
    assert sorted(str(r["correctness_error"]) for r in rows) == [
        "None",
        "None",
        "server_error",
        "server_error",
    ]
    assert [r["overlap_error"] for r in rows] == [None] * 4
    last = result.stderr.splitlines()[-1]
    if exit_code:
        limit = f"{float(max_error_rate):.1%}"
        assert last == FAILED_RUN.format(rate="50.0%", limit=limit, failed=2, done=4)
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


def test_a_refused_connection_stops_the_run(workspace: Workspace) -> None:
    closed = workspace.write_config(run="max_error_rate = 1.0", connection="max_retries = 0")
    # Port 9 (discard) on loopback: nothing listens there in a test sandbox.
    closed.write_text(
        closed.read_text().replace(workspace.fake.openai_base_url, "http://127.0.0.1:9/v1")
    )
    data = workspace.write_rows(workspace.qa_rows(2))
    output = workspace.root / "out.parquet"
    result = workspace.score(data, closed, output)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        "error: connection 'fake': nothing answers at http://127.0.0.1:9/v1 (connection "
        "refused); is the server running? check the port in base_url"
    )
    assert not output.exists()


def _schemeless(ws: Workspace, config: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point ``config`` at ``${JUDGEKIT_FAKE_URL}/v1`` with the variable missing its scheme;
    the shown value (what the message names)."""
    host = ws.fake.openai_base_url.removeprefix("http://").removesuffix("/v1")
    monkeypatch.setenv("JUDGEKIT_FAKE_URL", host)
    config.write_text(
        config.read_text().replace(ws.fake.openai_base_url, "${JUDGEKIT_FAKE_URL}/v1")
    )
    return f"{host}/v1"


@pytest.mark.parametrize("command", ["validate", "score"])
def test_a_base_url_without_a_scheme_is_one_line_before_any_call(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    config = workspace.write_config()
    shown = _schemeless(workspace, config, monkeypatch)
    data = workspace.write_rows(workspace.qa_rows(2))
    output = workspace.root / "out.parquet"
    if command == "validate":
        result = workspace.invoke("validate", "-c", str(config))
    else:
        result = workspace.score(data, config, output)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        f'error: {config}: connections.fake.base_url: "{shown}" is not an http:// or https:// '
        f"URL; add the scheme, e.g. http://{shown}\n"
    )
    assert workspace.fake.stats().requests == 0
    assert not output.exists()


def test_a_base_url_the_transport_refuses_stops_the_run_at_once(workspace: Workspace) -> None:
    """Should an unusable URL slip past the config's check, the run still stops at its first
    call (exit 2), not after retrying every row as a "connection error"."""
    from judgekit.config import load_config
    from judgekit.engine.run import RunHooks
    from judgekit.engine.score import ScoreJob, score_dataset
    from judgekit.errors import UnreachableError

    path = workspace.write_config(run="max_error_rate = 1.0", connection="max_retries = 3")
    config = load_config(path)
    shown = workspace.fake.openai_base_url.removeprefix("http://")
    fake = config.connections["fake"].model_copy(update={"base_url": shown})  # unchecked
    config = config.model_copy(update={"connections": {"fake": fake}})
    data = workspace.write_rows(workspace.qa_rows(3))
    output = workspace.root / "out.parquet"
    job = ScoreJob(str(data), config, str(path), output, cache_path=workspace.cache)
    with pytest.raises(UnreachableError) as info:
        score_dataset(job, RunHooks())
    assert str(info.value) == (
        f"connection 'fake': base_url \"{shown}\" is not an http:// or https:// URL; add the "
        f"scheme, e.g. http://{shown}"
    )
    assert info.value.exit_code == 2
    assert not output.exists()


UNSET_URL_CONNECTION = """
[connections.remote]
base_url = "${JUDGEKIT_UNSET_URL}/v1"
model = "m"
api_key_required = false
"""


@pytest.mark.parametrize("command", ["score", "try"])
def test_a_rule_judge_needs_no_variable_of_an_unused_connection(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    monkeypatch.delenv("JUDGEKIT_UNSET_URL", raising=False)
    judges = EXACT_JUDGE + '\n[[judges]]\nname = "remote"\nconnection = "remote"\n'
    config = workspace.write_config(
        connection=UNSET_URL_CONNECTION, judges=judges + 'template = "helpfulness"\n'
    )
    data = workspace.write_rows(workspace.qa_rows(2))
    output = workspace.root / "out.parquet"
    if command == "score":
        result = workspace.score(data, config, output, "--judge", "same")
        assert result.exit_code == 0, result.stderr
        assert [r["same_passed"] for r in workspace.read_rows(output)] == [True, False]
    else:
        args = ["--judge", "same", "--output", "a", "--expected", "a"]
        result = workspace.invoke("try", "-c", str(config), *args)
        assert (result.exit_code, result.stderr) == (0, "")
    # The judge that uses the connection still needs its variable.
    result = workspace.score(data, config, output, "--judge", "remote")
    assert (result.exit_code, result.stderr) == (
        2,
        f"error: {config}: connections.remote.base_url: environment variable "
        "JUDGEKIT_UNSET_URL is not set (export JUDGEKIT_UNSET_URL=... before running, or write "
        "${JUDGEKIT_UNSET_URL:-default})\n",
    )
    assert workspace.fake.stats().requests == 0


# -- paid work is never lost to a bad path or a full disk ----------------------------------

RERUN_HINT = (
    "fix that and rerun the same command: the answers so far are in the cache, not paid again"
)


def _output_is_input(ws: Workspace, case: Case) -> str:
    case.output = case.dataset
    return (
        f"{case.dataset}: -o names the input dataset; writing there would replace the data being"
        " scored (choose another path)"
    )


def _output_is_input_by_another_name(ws: Workspace, case: Case) -> str:
    case.output = ws.root / "link.jsonl"
    case.output.symlink_to(case.dataset)
    return (
        f"{case.output}: -o names the input dataset; writing there would replace the data being"
        " scored (choose another path)"
    )


def _summary_in_a_missing_directory_under_a_file(ws: Workspace, case: Case) -> str:
    blocker = ws.root / "blocker"
    blocker.write_text("")
    summary = blocker / "summary.json"
    case.extra = ["--summary-json", str(summary)]
    return f"{summary}: cannot create directory {blocker} ({blocker} is a file)"


def _summary_is_a_directory(ws: Workspace, case: Case) -> str:
    summary = ws.root / "reports"
    summary.mkdir()
    case.extra = ["--summary-json", str(summary)]
    return f"{summary}: --summary-json is a directory (give a file name)"


def _summary_is_the_output(ws: Workspace, case: Case) -> str:
    case.extra = ["--summary-json", str(case.output)]
    return f"{case.output}: --summary-json names the output file (choose another path)"


def _summary_is_the_input(ws: Workspace, case: Case) -> str:
    case.extra = ["--summary-json", str(case.dataset)]
    return (
        f"{case.dataset}: --summary-json names the input dataset; writing there would replace the"
        " data being scored (choose another path)"
    )


def _summary_is_the_config(ws: Workspace, case: Case) -> str:
    case.extra = ["--summary-json", str(case.config)]
    return f"{case.config}: --summary-json names the config file (choose another path)"


BAD_PATHS: dict[str, Callable[[Workspace, Case], str]] = {
    "output-is-input": _output_is_input,
    "output-is-input-by-another-name": _output_is_input_by_another_name,
    "summary-under-a-file": _summary_in_a_missing_directory_under_a_file,
    "summary-is-a-directory": _summary_is_a_directory,
    "summary-is-the-output": _summary_is_the_output,
    "summary-is-the-input": _summary_is_the_input,
    "summary-is-the-config": _summary_is_the_config,
}


@pytest.mark.parametrize("spoil", BAD_PATHS.values(), ids=BAD_PATHS.keys())
def test_a_bad_output_or_summary_path_exits_2_before_any_call(
    workspace: Workspace, spoil: Callable[[Workspace, Case], str]
) -> None:
    ws = workspace
    data = ws.write_rows(ws.qa_rows(3))
    before = data.read_bytes()
    case = Case(data, ws.write_config(), ws.root / "out.jsonl")
    message = spoil(ws, case)
    result = ws.invoke(*case.args(ws))
    assert (result.exit_code, result.stderr, result.stdout) == (2, f"error: {message}\n", "")
    assert isinstance(result.exception, SystemExit)  # no traceback
    assert ws.fake.stats().requests == 0
    assert data.read_bytes() == before
    assert not ws.cache.exists()


def _padded_rows(ws: Workspace, n: int, kib: int = 4) -> list[dict[str, str]]:
    """QA rows with ``kib`` KiB of incompressible text each, in a column no judge reads."""
    return [row | {"padding": os.urandom(kib * 512).hex()} for row in ws.qa_rows(n)]


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet", ".csv"])
def test_a_full_disk_keeps_every_answer_and_the_rerun_pays_nothing(
    workspace: Workspace, suffix: str
) -> None:
    ws = workspace
    data = ws.write_rows(_padded_rows(ws, 40))  # 160 KiB of output
    config = ws.write_config(run="concurrency = 4")
    with tiny_disk(ws.root / "disk", size_kib=256) as disk:
        filler = fill(disk, leave_bytes=48 * 1024)
        output = disk / f"out{suffix}"
        result = ws.score(data, config, output)
        assert (result.exit_code, result.stdout) == (2, "")
        assert result.stderr.splitlines()[-1] == (
            f"error: {output}: cannot write the output (No space left on device); nothing was"
            f" written; {RERUN_HINT}"
        )
        assert "Traceback" not in result.stderr
        assert isinstance(result.exception, SystemExit)
        assert sorted(p.name for p in disk.iterdir()) == ["filler"]  # no partial file
        assert ws.fake.stats().requests == 40
        filler.unlink()
        rerun = ws.score(data, config, output)
        assert rerun.exit_code == 0, rerun.stderr
        assert ws.fake.stats().requests == 40  # every answer came from the cache
        assert sorted(p.name for p in disk.iterdir()) == [output.name]


def test_a_full_disk_in_the_first_window_stops_new_calls(workspace: Workspace) -> None:
    # Window 0 holds 2,000 rows, of which every 100th is sent (the others have no reference,
    # refused for free); window 1 holds 300 rows, all sent.  The disk fills while window 0
    # is written: window 1 must not be paid for, now or twice later.
    from judgekit.engine.run import WINDOW_ROWS

    ws = workspace
    rows = ws.qa_rows(WINDOW_ROWS + 300)
    for i, row in enumerate(rows[:WINDOW_ROWS]):
        if i % 100:
            row["reference"] = ""
    data = ws.write_rows(rows)
    config = ws.write_config(run="concurrency = 2\nmax_error_rate = 1.0")
    with tiny_disk(ws.root / "disk", size_kib=256) as disk:
        output = disk / "out.jsonl"
        result = ws.score(data, config, output)
        assert result.exit_code == 2, result.stderr
        assert result.stderr.splitlines()[-1].startswith(f"error: {output}: cannot write")
        first = ws.fake.stats().requests
        assert 20 <= first < 40  # window 0's 20 calls, and at most the few already on the wire
        with tiny_disk(ws.root / "bigger", size_kib=32 * 1024) as bigger:
            rerun = ws.score(data, config, bigger / "out.jsonl")
            assert rerun.exit_code == 0, rerun.stderr
        assert ws.fake.stats().requests == 20 + 300  # no call paid twice


_LIMITED = """
import resource, sys
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
sys.argv = ["judgekit", *sys.argv[2:]]
from judgekit.cli import main
main()
"""


def test_a_file_size_limit_is_one_line_and_the_rerun_pays_nothing(workspace: Workspace) -> None:
    # RLIMIT_FSIZE: the portable full disk.  Python ignores SIGXFSZ, so a write past the
    # limit fails with EFBIG instead of killing the process.  The cache stays far below it.
    ws = workspace
    data = ws.write_rows(_padded_rows(ws, 40, kib=16))  # 640 KiB of output
    config = ws.write_config(run="concurrency = 4")
    output = ws.root / "out" / "scored.jsonl"
    args = ws.score_args(data, config, output)
    limited = subprocess.run(
        [sys.executable, "-c", _LIMITED, str(512 * 1024), *args],
        env=ws.environ(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (limited.returncode, limited.stdout) == (2, ""), limited.stderr
    assert limited.stderr.splitlines()[-1] == (
        f"error: {output}: cannot write the output (File too large); nothing was written;"
        f" {RERUN_HINT}"
    )
    assert "Traceback" not in limited.stderr
    assert list(output.parent.iterdir()) == []
    assert ws.fake.stats().requests == 40
    assert ws.cache.stat().st_size < 512 * 1024
    rerun = ws.score(data, config, output)
    assert rerun.exit_code == 0, rerun.stderr
    assert ws.fake.stats().requests == 40


def test_a_summary_that_cannot_be_written_at_the_end_keeps_the_scores(
    workspace: Workspace,
) -> None:
    ws = workspace
    data = ws.write_rows(ws.qa_rows(3))
    output = ws.root / "out.parquet"
    with tiny_disk(ws.root / "disk", size_kib=64) as disk:
        summary = disk / "summary.json"
        result = ws.score(data, ws.write_config(), output, "--summary-json", str(summary), "-q")
        assert (result.exit_code, result.stdout) == (0, "")
        summary.unlink()
        fill(disk, leave_bytes=0)
        result = ws.score(data, ws.write_config(), output, "--summary-json", str(summary), "-q")
        assert (result.exit_code, result.stderr) == (
            1,
            f"error: {summary}: cannot write the summary (No space left on device); the scores"
            f" are in {output}\n",
        )
        assert [p.name for p in disk.iterdir()] == ["filler"]
    assert len(ws.read_rows(output)) == 3
    assert ws.fake.stats().requests == 3


def test_an_output_path_taken_mid_run_is_one_line_and_the_rerun_pays_nothing(
    workspace: Workspace,
) -> None:
    # The rename at the end fails (a directory appeared at OUT while the run was going; the
    # same path as a permission lost mid-run, which root, running these tests, never sees).
    ws = workspace
    ws.fake.settings.latency_ms = 100
    data = ws.write_rows(ws.qa_rows(10))
    config = ws.write_config(run="concurrency = 1")
    output = ws.root / "out.parquet"
    process = subprocess.Popen(
        [ws.executable(), *ws.score_args(data, config, output, "-q")],
        env=ws.environ(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ws.wait_for(lambda: ws.fake.stats().requests >= 1, "the first request")
        output.mkdir()
        (output / "someone-else's").write_text("")
    finally:
        stdout, stderr = process.communicate(timeout=60)
    assert (process.returncode, stdout) == (2, "")
    assert stderr == (
        f"error: {output}: cannot write the output (Is a directory); nothing was written;"
        f" {RERUN_HINT}\n"
    )
    assert sorted(p.name for p in ws.root.iterdir() if p.name.startswith(".")) == []
    assert ws.fake.stats().requests == 10
    ws.fake.settings.latency_ms = 0
    (output / "someone-else's").unlink()
    output.rmdir()
    rerun = ws.score(data, config, output)
    assert rerun.exit_code == 0, rerun.stderr
    assert ws.fake.stats().requests == 10


USAGE_ERRORS = [
    (
        ["score", "d.jsonl", "-c", "c.toml", "-o", "o.parquet", "--limit", "0"],
        "error: judgekit score: invalid value for '--limit': 0 is not in the range x>=1 "
        "(see 'judgekit score --help')",
    ),
    (
        ["score", "d.jsonl"],
        "error: judgekit score: missing option '--config' / '-c' (see 'judgekit score --help')",
    ),
    (
        ["scroe"],
        "error: judgekit: no such command 'scroe'; did you mean 'score'? (see 'judgekit --help')",
    ),
    (
        ["agreement"],
        "error: judgekit agreement: missing argument 'SCORED' (see 'judgekit agreement --help')",
    ),
]


@pytest.mark.parametrize(("args", "line"), USAGE_ERRORS, ids=["range", "option", "command", "arg"])
def test_a_usage_error_is_one_line_and_exit_2(
    workspace: Workspace, args: list[str], line: str
) -> None:
    result = workspace.invoke(*args)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [line]
    assert result.stdout == ""


SCORE = ["score", "d.jsonl", "-c", "c.toml", "-o", "o.parquet"]
ALIGN = ["align", "d.jsonl", "-c", "c.toml", "--judge", "j", "-o", "aligned.toml"]
NUMBER_FLAGS = [
    (
        [*SCORE, "--budget-usd", "nan"],
        "error: --budget-usd nan: nan is not a finite number; give a positive number of dollars",
    ),
    (
        [*SCORE, "--budget-usd", "1e999"],
        "error: --budget-usd inf: inf is not a finite number; give a positive number of dollars",
    ),
    (
        [*SCORE, "--budget-usd", "0"],
        "error: --budget-usd 0: 0 is not above 0; give a positive number of dollars",
    ),
    (
        [*SCORE, "--max-error-rate", "nan"],
        "error: --max-error-rate nan: nan is not a finite number; give a number from 0 to 1",
    ),
    (
        ["agreement", "s.parquet", "--fail-under", "nan"],
        "error: --fail-under nan: nan is not a finite number; give a number from 0 to 1",
    ),
    (
        [*ALIGN, "--budget-usd", "-1"],
        "error: --budget-usd -1: -1 is not above 0; give a positive number of dollars",
    ),
    (
        [*ALIGN, "--holdout", "nan"],
        "error: --holdout nan: nan is not a finite number; give a number from 0.05 to 0.95",
    ),
]


@pytest.mark.parametrize(
    ("args", "line"),
    NUMBER_FLAGS,
    ids=[
        "budget-nan",
        "budget-inf",
        "budget-0",
        "error-rate-nan",
        "fail-under-nan",
        "align-budget-negative",
        "holdout-nan",
    ],
)
def test_a_number_flag_obeys_its_config_keys_bounds(
    workspace: Workspace, args: list[str], line: str
) -> None:
    result = workspace.invoke(*args)
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", line + "\n")
    assert isinstance(result.exception, SystemExit)  # no traceback
    assert workspace.fake.stats().requests == 0


def test_a_usage_error_is_one_line_from_the_console_script_too(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("judgekit")
    done = subprocess.run(
        [str(exe), "score", "d.jsonl", "--bogus"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "error: judgekit score: no such option: --bogus (Possible options: --budget-usd, "
        "--verbose) (see 'judgekit score --help')"
    ]


def test_bare_judgekit_still_shows_the_help(workspace: Workspace) -> None:
    result = workspace.invoke()
    assert result.exit_code == 2
    assert "Usage: judgekit [OPTIONS] COMMAND [ARGS]..." in result.stdout + result.stderr
    assert "error:" not in result.stdout + result.stderr


@pytest.mark.parametrize("command", ["init", "align"])
def test_a_config_written_under_another_format_name_is_refused(
    workspace: Workspace, command: str
) -> None:
    data = workspace.write_rows(workspace.qa_rows(2))
    out = workspace.root / "judge.yaml"
    args = [command, str(data), "-o", str(out)]
    if command == "align":
        args += ["-c", str(workspace.write_config()), "--judge", "correctness"]
    result = workspace.invoke(*args)
    assert result.exit_code == 2
    assert (
        result.stderr == f"error: {out}: judgekit {command} writes a TOML config; name it .toml\n"
    )
    assert not out.exists()
    assert workspace.fake.stats().requests == 0


@pytest.mark.parametrize("kind", ["directory", "under-a-file", "long-name", "not-utf8"])
def test_a_config_path_the_system_refuses_is_one_line(workspace: Workspace, kind: str) -> None:
    config = workspace.write_config()
    path, line = {
        "directory": (
            workspace.root,
            f"{workspace.root}: is a directory; give the config file (.toml)",
        ),
        "under-a-file": (
            config / "x.toml",
            f"{config}/x.toml: no such config file (a part of the path is a file, not a directory)",
        ),
        "long-name": (
            workspace.root / ("c" * 300 + ".toml"),
            f"-c {workspace.root}/{'c' * 300}"
            ".toml: File name too long (a name in a path is at most 255 bytes, this"
            " one has 305); give a shorter name",
        ),
        "not-utf8": (
            workspace.root / "latin1.toml",
            f"{workspace.root}/latin1.toml: not UTF-8"
            " text (invalid continuation byte at byte 5); save it as UTF-8",
        ),
    }[kind]
    if kind == "not-utf8":
        path.write_bytes(b"# caf\xe9\n[run]\n")
    result = workspace.invoke("validate", "-c", str(path))
    assert (result.exit_code, result.stderr) == (2, f"error: {line}\n")


def test_an_output_on_a_read_only_file_system_says_so_before_any_call(
    workspace: Workspace,
) -> None:
    """As root, only a read-only mount refuses a write: 'permission denied' was wrong."""
    data = workspace.write_rows(workspace.qa_rows(2))
    with tiny_disk(workspace.root / "ro", 64, read_only=True) as ro:
        result = workspace.score(data, workspace.write_config(), ro / "out.parquet")
    assert (result.exit_code, result.stderr) == (
        2,
        f"error: {ro}/out.parquet: cannot write in directory {ro} (read-only file system); "
        "write the output somewhere writable\n",
    )
    assert workspace.fake.stats().requests == 0


@pytest.mark.parametrize("command", ["report", "init"])
def test_report_and_init_check_their_output_directory_first(
    workspace: Workspace, command: str
) -> None:
    data = workspace.write_rows(workspace.qa_rows(2))
    with tiny_disk(workspace.root / "ro", 64, read_only=True) as ro:
        out = ro / ("r.html" if command == "report" else "new.toml")
        result = workspace.invoke(command, str(data), "-o", str(out))
    assert (result.exit_code, result.stderr) == (
        2,
        f"error: {out}: cannot write in directory {ro} (read-only file system); "
        "write the output somewhere writable\n",
    )


def test_align_checks_its_output_directory_before_any_call(workspace: Workspace) -> None:
    """It paid for 93 calls, then could not write the config it had aligned."""
    data = workspace.write_rows(workspace.qa_rows(4))
    with tiny_disk(workspace.root / "ro", 64, read_only=True) as ro:
        result = workspace.invoke(
            "align",
            str(data),
            "-c",
            str(workspace.write_config()),
            "--judge",
            "correctness",
            "-o",
            str(ro / "aligned.toml"),
        )
    assert (result.exit_code, result.stderr) == (
        2,
        f"error: {ro}/aligned.toml: cannot write in directory {ro} (read-only file system); "
        "write the output somewhere writable\n",
    )
    assert workspace.fake.stats().requests == 0


@pytest.mark.parametrize("which", ["dataset", "output"])
def test_standard_input_or_output_is_refused_in_one_line(workspace: Workspace, which: str) -> None:
    data, config = workspace.write_rows(workspace.qa_rows(2)), workspace.write_config()
    dataset, output = ("-", "out.parquet") if which == "dataset" else (str(data), "-")
    result = workspace.invoke("score", dataset, "-c", str(config), "-o", output)
    line = {
        "dataset": "error: -: judgekit reads a dataset twice (to check it, then to score it), so"
        " not from standard input; save it to a file and give that\n",
        "output": "error: -o -: judgekit writes a whole file at the end (Parquet, JSONL or CSV),"
        " not to standard output; give a file name, e.g. -o out.jsonl\n",
    }[which]
    assert (result.exit_code, result.stderr) == (2, line)
    assert workspace.fake.stats().requests == 0
