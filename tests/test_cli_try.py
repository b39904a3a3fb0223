"""``judgekit try``: one sample, one judge; what it prints, its exit codes, its cache and guards."""

from __future__ import annotations

import pytest
from conftest import DEFAULT_JUDGES, Workspace

RULE = """
[[judges]]
name = "short"
type = "length"
max_words = 5
columns = { output = "answer" }
"""

REFERENCE = "The answer to question 0 is 0 apples."


def try_args(ws: Workspace, *args: str, config: str = "") -> list[str]:
    path = ws.write_config(judges=config or DEFAULT_JUDGES + RULE)
    return ["try", "-c", str(path), "--cache", str(ws.cache), *args]


def sample(output: str) -> list[str]:
    return [
        "--judge",
        "correctness",
        "--input",
        "How many?",
        "--output",
        output,
        "--expected",
        REFERENCE,
    ]


def labels(stdout: str) -> dict[str, str]:
    return {line[:12].strip(): line[12:] for line in stdout.splitlines()}


def test_a_passing_sample_prints_the_whole_verdict_and_exits_0(workspace: Workspace) -> None:
    result = workspace.invoke(*try_args(workspace, *sample(REFERENCE)))
    assert (result.exit_code, result.stderr) == (0, "")
    shown = labels(result.stdout)
    assert list(shown) == [
        "judge",
        "verdict",
        "reasoning",
        "confidence",
        "criteria",
        "tokens",
        "cost",
        "latency",
        "requests",
    ]
    assert shown["judge"] == "correctness (correctness, llm: fake-judge on fake)"
    assert shown["verdict"] == "PASS (score 1 >= threshold 0.5)"
    assert (
        shown["reasoning"]
        == "Token F1 between the output and the expected answer is 1.00, so the score is 1."
    )
    assert shown["confidence"] == "0.9"
    assert shown["criteria"] == "main_answer 1 · completeness 1 · precision 0.96"
    request = workspace.fake.requests[0]
    usage = workspace.fake.stats()
    assert shown["tokens"] == f"{usage.input_tokens:,} in · {usage.output_tokens:,} out"
    cost = (usage.input_tokens * 0.15 + usage.output_tokens * 0.60) / 1e6
    assert shown["cost"] == f"${cost:.6f}"
    assert shown["latency"].endswith(" ms")
    assert shown["requests"] == "1"
    assert (
        "<expected>\nThe answer to question 0 is 0 apples.\n</expected>"
        in request.body["messages"][1]["content"]
    )


def test_a_failing_sample_exits_1(workspace: Workspace) -> None:
    result = workspace.invoke(*try_args(workspace, *sample("Bananas.")))
    assert (result.exit_code, result.stderr) == (1, "")
    assert labels(result.stdout)["verdict"] == "FAIL (score 0 < threshold 0.5)"


def test_the_answer_is_cached_so_a_second_try_calls_nothing(workspace: Workspace) -> None:
    first = workspace.invoke(*try_args(workspace, *sample(REFERENCE)))
    second = workspace.invoke(*try_args(workspace, *sample(REFERENCE)))
    assert (first.exit_code, second.exit_code) == (0, 0)
    assert workspace.fake.stats().requests == 1
    shown = labels(second.stdout)
    assert shown["cost"].endswith(" (from the cache: nothing spent now)")
    assert shown["latency"].endswith(" ms (when it was answered)")
    assert shown["requests"] == "0"
    no_cache = workspace.invoke(*try_args(workspace, *sample(REFERENCE), "--no-cache"))
    assert no_cache.exit_code == 0 and workspace.fake.stats().requests == 2


def test_a_try_then_a_score_pays_for_the_row_once(workspace: Workspace) -> None:
    data = workspace.write_rows(workspace.qa_rows(2))
    config = workspace.write_config()
    tried = workspace.invoke(
        "try",
        "-c",
        str(config),
        "--cache",
        str(workspace.cache),
        "--judge",
        "correctness",
        "--row",
        "row-001",
        str(data),
    )
    assert tried.exit_code == 1, tried.stderr  # row 1 answers wrongly
    result = workspace.score(data, config, workspace.root / "out.parquet", "-q")
    assert result.exit_code == 0, result.stderr
    assert workspace.fake.stats().requests == 2  # row-001 once (try), row-000 once (score)


def test_a_row_without_an_id_column_is_named_by_its_index(workspace: Workspace) -> None:
    rows = [{k: v for k, v in row.items() if k != "id"} for row in workspace.qa_rows(3)]
    data = workspace.write_rows(rows)
    result = workspace.invoke(
        *try_args(workspace, "--judge", "correctness", "--row", "2", str(data))
    )
    assert result.exit_code == 0, result.stderr
    assert (
        "<input>\nHow many apples in basket 2?\n</input>"
        in workspace.fake.requests[0].body["messages"][1]["content"]
    )


def test_a_rule_judge_needs_no_call(workspace: Workspace) -> None:
    result = workspace.invoke(
        *try_args(workspace, "--judge", "short", "--output", "one two three four five six")
    )
    assert (result.exit_code, result.stderr) == (1, "")
    assert result.stdout.splitlines() == [
        "judge       short (length, rule judge)",
        "verdict     FAIL (score 0 < threshold 0.7)",
        "reasoning   6 words, above max_words 5",
        "cost        none: a rule judge calls no model",
    ]
    assert workspace.fake.stats().requests == 0


def test_the_per_call_guard_refuses_before_sending(workspace: Workspace) -> None:
    config = DEFAULT_JUDGES.replace("threshold = 0.5", "threshold = 0.5\nmax_input_tokens = 10")
    result = workspace.invoke(*try_args(workspace, *sample(REFERENCE), config=config))
    assert result.exit_code == 1
    shown = labels(result.stdout)
    assert shown["verdict"] == "ERROR bad_request"
    assert shown["reasoning"].startswith("estimated input of ")
    assert shown["reasoning"].endswith(" tokens exceeds max_input_tokens 10")
    assert (shown["requests"], shown["tokens"]) == ("0", "0 in · 0 out")
    assert workspace.fake.stats().requests == 0


def test_the_run_budget_holds_for_a_try(workspace: Workspace) -> None:
    path = workspace.write_config(run="budget_usd = 0.00000001")
    result = workspace.invoke(
        "try", "-c", str(path), "--cache", str(workspace.cache), *sample(REFERENCE)
    )
    assert result.exit_code == 1
    assert labels(result.stdout)["verdict"] == "ERROR budget_exhausted"
    assert workspace.fake.stats().requests == 0


def test_continuation_is_shown(workspace: Workspace) -> None:
    config = DEFAULT_JUDGES.replace(
        'template = "correctness"', 'template = "correctness"\ncontinue_conversation = true'
    )
    result = workspace.invoke(*try_args(workspace, *sample(REFERENCE), config=config))
    assert result.exit_code == 0, result.stderr
    assert (
        labels(result.stdout)["continue"]
        == 'yes: Thanks. What else should I know about "How many"?'
    )


def test_refused_credentials_exit_2(workspace: Workspace) -> None:
    workspace.fake.settings.status_401 = True
    result = workspace.invoke(*try_args(workspace, *sample(REFERENCE)))
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.startswith(
        "error: connection 'fake': the provider refused the credentials"
    )
    assert workspace.key not in result.stderr


USAGE = [
    (
        "no sample",
        ["--judge", "correctness"],
        "error: give the sample: --output TEXT (and the judge's other fields), or --row ID DATASET",
    ),
    (
        "fields and a row",
        ["--judge", "correctness", "--output", "x", "--row", "1", "data.jsonl"],
        "error: give the sample as fields (--output ...) or as --row ID DATASET, not both",
    ),
    (
        "unknown judge",
        ["--judge", "nope", "--output", "x"],
        "error: --judge nope: no such judge (judges: correctness, short)",
    ),
    (
        "a field the judge does not use",
        ["--judge", "short", "--output", "x", "--expected", "y"],
        "error: judge 'short' does not use --expected (it reads --output)",
    ),
    (
        "a required field missing",
        ["--judge", "correctness", "--output", "x", "--input", "q"],
        "error: judge 'correctness' needs --expected too",
    ),
    (
        "two required fields missing",
        ["--judge", "correctness", "--output", "x"],
        "error: judge 'correctness' needs --expected and --input too",
    ),
    (
        # A blank answer is judged (every template says how to score it); a blank
        # reference is not something to judge against.
        "a required field blank",
        ["--judge", "correctness", "--input", "How many?", "--output", "7", "--expected", " "],
        "error: --expected is empty (judge 'correctness' needs it)",
    ),
    (
        "no such dataset",
        ["--judge", "correctness", "--row", "1", "{root}/none.jsonl"],
        "error: {root}/none.jsonl: no such file",
    ),
    (
        "no such row",
        ["--judge", "correctness", "--row", "row-9", "{root}/data.jsonl"],
        "error: {root}/data.jsonl: no row with id 'row-9' in column 'id'",
    ),
]


@pytest.mark.parametrize(("args", "message"), [u[1:] for u in USAGE], ids=[u[0] for u in USAGE])
def test_usage_errors_exit_2_with_one_line(
    workspace: Workspace, args: list[str], message: str
) -> None:
    workspace.write_rows(workspace.qa_rows(2))
    root = str(workspace.root)
    result = workspace.invoke(*try_args(workspace, *[a.format(root=root) for a in args]))
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == message.format(root=root) + "\n"
    assert workspace.fake.stats().requests == 0


def test_an_empty_cell_of_the_row_is_a_usage_error(workspace: Workspace) -> None:
    rows = workspace.qa_rows(2)
    rows[1]["reference"] = ""
    data = workspace.write_rows(rows)
    result = workspace.invoke(
        *try_args(workspace, "--judge", "correctness", "--row", "row-001", str(data))
    )
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        f"error: {data}: row 'row-001': field 'expected' (column 'reference') is empty; "
        "judge 'correctness' needs it\n"
    )


def test_no_such_row_index_says_rows_are_named_by_index(workspace: Workspace) -> None:
    rows = [{k: v for k, v in row.items() if k != "id"} for row in workspace.qa_rows(2)]
    data = workspace.write_rows(rows)
    result = workspace.invoke(
        *try_args(workspace, "--judge", "correctness", "--row", "row-001", str(data))
    )
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        f"error: {data}: no row with id 'row-001' (it has no 'id' column, so rows are named "
        "by their 0-based index)\n"
    )
