"""The commands that call no model: `judgekit validate` and `judgekit templates`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Workspace

THREE_JUDGES = """
[[judges]]
name = "correctness"
connection = "fake"
template = "correctness"
[judges.columns]
input = "question"
output = "answer"
expected = "reference"

[[judges]]
name = "unpriced"
connection = "local"
template = "helpfulness"
[judges.columns]
input = "question"
output = "answer"

[[judges]]
name = "overlap"
type = "token_f1"
[judges.columns]
output = "answer"
expected = "reference"

[connections.local]
protocol = "anthropic"
base_url = "http://127.0.0.1:9"
model = "some-unknown-model"
api_key_required = false
"""

UNPRICED_WARNING = (
    "warning: {config}: judges[1]: no known price for model 'some-unknown-model'; "
    "unpriced_cost_usd will be null and no budget can cap it (set input_usd_per_mtok and "
    "output_usd_per_mtok on connections.local)\n"
)

TEMPLATE_NAMES = [
    "correctness",
    "faithfulness",
    "helpfulness",
    "safety",
    "accuracy",
    "behavior",
    "citations",
    "pairwise",
]


# -- validate ------------------------------------------------------------------------------


def test_validate_lists_each_judge_with_price_and_columns(workspace: Workspace) -> None:
    data = workspace.write_rows(workspace.qa_rows(5))
    config = workspace.write_config(judges=THREE_JUDGES)
    result = workspace.invoke("validate", "-c", str(config), str(data))
    assert (result.exit_code, result.stderr) == (0, UNPRICED_WARNING.format(config=config))
    lines = result.stdout.splitlines()
    assert lines[0].strip() == "judges"
    assert workspace.table(result.stdout) == [
        [
            "correctness",
            "correctness",
            "fake (chat_completions)",
            "fake-judge",
            "0.15 / 0.6 (config)",
            "input=question, output=answer, expected=reference",
        ],
        [
            "unpriced",
            "helpfulness",
            "local (anthropic)",
            "some-unknown-model",
            "unknown",
            "input=question, output=answer",
        ],
        ["overlap", "token_f1", "-", "-", "-", "output=answer, expected=reference"],
    ]
    assert lines[-1] == (
        f"ok: {config} and {data} (5 rows) are valid (1 warning above); no model was called"
    )
    assert workspace.fake.stats().requests == 0
    assert not workspace.cache.exists()
    assert not (workspace.root / "judgekit").exists()


def test_validate_without_a_dataset_checks_the_config_alone(workspace: Workspace) -> None:
    config = workspace.write_config()
    result = workspace.invoke("validate", "-c", str(config))
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout.splitlines()[-1] == f"ok: {config} is valid; no model was called"
    # Without a dataset every mapped column is listed as configured.
    assert workspace.table(result.stdout)[0][-1] == (
        "input=question, output=answer, expected=reference"
    )


def _unknown_key(ws: Workspace, config: Path, data: Path) -> str:
    ws.write_config(connection="temprature = 0.5")
    return (
        f"{config}: connections.fake.temprature: unknown key; did you mean 'temperature'? "
        "(allowed: protocol, base_url, model, api_key_env, api_key_required, "
        "requests_per_minute, tokens_per_minute, timeout_s, max_retries, temperature, "
        "max_output_tokens, output_mode, input_usd_per_mtok, cached_input_usd_per_mtok, "
        "output_usd_per_mtok, max_cost_usd_per_call, max_input_tokens, provider, api_key_header, "
        "headers, params, proxy, cache_endpoint, batch_discount)"
    )


def _missing_column(ws: Workspace, config: Path, data: Path) -> str:
    ws.write_rows([{"id": 1, "question": "q", "answer": "a"}])
    return (
        f"{config}: judges[0].columns.expected: judge 'correctness' needs column 'reference', "
        f"which {data} lacks (columns: id, question, answer)"
    )


def _misspelt_column(ws: Workspace, config: Path, data: Path) -> str:
    ws.write_rows([{"id": 1, "question": "q", "answer": "a", "refrence": "r"}])
    return (
        f"{config}: judges[0].columns.expected: judge 'correctness' needs column 'reference', "
        f"which {data} lacks; did you mean 'refrence'? (columns: id, question, answer, refrence)"
    )


def _missing_key(ws: Workspace, config: Path, data: Path) -> str:
    config.write_text(config.read_text().replace(ws.key_env, "JUDGEKIT_NOT_SET_API_KEY"))
    return (
        "connection 'fake': environment variable JUDGEKIT_NOT_SET_API_KEY is not set "
        "(export JUDGEKIT_NOT_SET_API_KEY=... before running)"
    )


def _unknown_price(ws: Workspace, config: Path, data: Path) -> str:
    ws.write_config(prices=False, run="budget_usd = 2.5")
    return (
        f"{config}: judges[0]: no known price for model 'fake-judge' and a budget is set; "
        "set input_usd_per_mtok and output_usd_per_mtok on connections.fake"
    )


def _bad_criteria(ws: Workspace, config: Path, data: Path) -> str:
    judges = ws.judges.replace("threshold = 0.5", "criteria = { accuracy = 0.5, clarity = 0.4 }")
    ws.write_config(judges=judges)
    return f"{config}: judges[0].criteria: criteria weights must sum to 1, got 0.9"


def _duplicate_ids(ws: Workspace, config: Path, data: Path) -> str:
    rows = ws.qa_rows(3)
    ws.write_rows([*rows, rows[1]])
    return f"{data}: duplicate ids in column 'id': 'row-001' (1 duplicated id)"


def _malformed_line(ws: Workspace, config: Path, data: Path) -> str:
    data.write_text('{"id": 1}\n[1, 2]\n')
    return f"{data}:2: expected a JSON object, got list"


def _empty(ws: Workspace, config: Path, data: Path) -> str:
    data.write_text("")
    return f"{data}: dataset is empty (no rows)"


def _no_dataset(ws: Workspace, config: Path, data: Path) -> str:
    data.unlink()
    return f"{data}: no such file"


def _invalid_toml(ws: Workspace, config: Path, data: Path) -> str:
    config.write_text("[run\n")
    reason = "Expected ']' at the end of a table declaration (at line 1, column 5)"
    return f"{config}: invalid TOML ({reason})"


def _taken_output_column(ws: Workspace, config: Path, data: Path) -> str:
    ws.write_rows([row | {"correctness_error": None} for row in ws.qa_rows(2)])
    return (
        "output column 'correctness_error' already exists (from the dataset or another judge); "
        "rename judge 'correctness' or drop the column"
    )


VALIDATE_ERRORS: dict[str, Callable[[Workspace, Path, Path], str]] = {
    "unknown-key": _unknown_key,
    "missing-column": _missing_column,
    "misspelt-column": _misspelt_column,
    "missing-api-key": _missing_key,
    "unknown-price-with-budget": _unknown_price,
    "criteria-not-summing-to-1": _bad_criteria,
    "duplicate-ids": _duplicate_ids,
    "malformed-jsonl-line": _malformed_line,
    "empty-dataset": _empty,
    "no-such-dataset": _no_dataset,
    "invalid-toml": _invalid_toml,
    "output-column-taken": _taken_output_column,
}


@pytest.mark.parametrize("spoil", VALIDATE_ERRORS.values(), ids=VALIDATE_ERRORS.keys())
def test_validate_reports_one_line_and_exits_2(
    workspace: Workspace, spoil: Callable[[Workspace, Path, Path], str]
) -> None:
    data = workspace.write_rows(workspace.qa_rows(3))
    config = workspace.write_config()
    message = spoil(workspace, config, data)
    result = workspace.invoke("validate", "-c", str(config), str(data))
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", f"error: {message}\n")
    assert isinstance(result.exception, SystemExit)
    assert workspace.fake.stats().requests == 0


def test_what_validate_accepts_score_runs(workspace: Workspace) -> None:
    data = workspace.write_rows(workspace.qa_rows(2))
    config = workspace.write_config(judges=THREE_JUDGES)
    assert workspace.invoke("validate", "-c", str(config), str(data)).exit_code == 0
    output, summary = workspace.root / "o.parquet", workspace.root / "summary.json"
    options = ["--judge", "correctness", "--judge", "overlap", "--summary-json", str(summary)]
    assert workspace.score(data, config, output, *options).exit_code == 0
    assert json.loads(summary.read_text())["requests"] == 2


# -- what score would only reveal after spending --------------------------------------------


def test_validate_warns_of_a_missing_human_label_and_id_column(workspace: Workspace) -> None:
    rows = [{k: v for k, v in row.items() if k != "id"} for row in workspace.qa_rows(2)]
    data = workspace.write_rows([row | {"human_verdict": "pass"} for row in rows])
    judges = workspace.judges.replace("threshold = 0.5", 'human_label = "human_verdct"')
    config = workspace.write_config(judges=judges)
    result = workspace.invoke("validate", "-c", str(config), str(data))
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        f"warning: {data}: no id column 'id'; rows will be identified by their 0-based row "
        "index (set [run] id_column to the column that names each row)",
        f"warning: {config}: judges[0].human_label: no column 'human_verdct' in {data} (did you "
        "mean 'human_verdict'?); `judgekit agreement` will need it (columns: question, answer, "
        "reference, human_verdict)",
    ]
    assert result.stdout.splitlines()[-1] == (
        f"ok: {config} and {data} (2 rows) are valid (2 warnings above); no model was called"
    )


def test_validate_warns_as_the_dry_run_when_refusals_alone_fail_the_run(
    workspace: Workspace,
) -> None:
    rows = workspace.qa_rows(4)
    data = workspace.write_rows([row | {"reference": ""} for row in rows[:3]] + rows[3:])
    config = workspace.write_config()
    line = (
        "warning: 3 of 4 LLM judgements are refused before any call (75%, above max_error_rate "
        "2%): the run would exit 1 (a required field empty on those rows, a prompt over "
        "max_input_tokens or a call over max_cost_usd_per_call); map other columns, or raise "
        "[run] max_error_rate"
    )
    result = workspace.invoke("validate", "-c", str(config), str(data))
    assert (result.exit_code, result.stderr.splitlines()) == (0, [line])
    assert result.stdout.splitlines()[-1] == (
        f"ok: {config} and {data} (4 rows) are valid (1 warning above); no model was called"
    )
    dry = workspace.score(data, config, workspace.root / "out.parquet", "--dry-run")
    assert dry.stderr.splitlines()[-1] == line  # the same words: the same code
    assert workspace.fake.stats().requests == 0
    assert not workspace.cache.exists()


def test_validate_names_a_near_id_column(workspace: Workspace) -> None:
    data = workspace.write_rows(workspace.qa_rows(2))
    config = workspace.write_config(run='id_column = "ID"')
    result = workspace.invoke("validate", "-c", str(config), str(data))
    assert (result.exit_code, result.stderr) == (
        0,
        f"warning: {data}: no id column 'ID' (did you mean 'id'?); rows will be identified by "
        "their 0-based row index (set [run] id_column to the column that names each row)\n",
    )


def _output_under_a_file(ws: Workspace) -> tuple[Path, str]:
    (ws.root / "blocker").write_text("")
    output = ws.root / "blocker" / "out.parquet"
    return (
        output,
        f"{output}: cannot create directory {output.parent} ({ws.root}/blocker is a file)",
    )


def _output_is_a_directory(ws: Workspace) -> tuple[Path, str]:
    output = ws.root / "scored"
    output.mkdir()
    return output, f"{output}: is a directory; give a file name, e.g. -o {output}/scored.parquet"


def _output_format(ws: Workspace) -> tuple[Path, str]:
    output = ws.root / "scored.xlsx"
    return output, (
        f"{output}: unsupported output format (use .parquet, .jsonl, .ndjson, .jsonl.gz or .csv)"
    )


@pytest.mark.parametrize(
    "spoil",
    [_output_under_a_file, _output_is_a_directory, _output_format],
    ids=["under-a-file", "a-directory", "format"],
)
def test_validate_checks_the_output_path(
    workspace: Workspace, spoil: Callable[[Workspace], tuple[Path, str]]
) -> None:
    data = workspace.write_rows(workspace.qa_rows(2))
    config = workspace.write_config()
    output, message = spoil(workspace)
    result = workspace.invoke("validate", "-c", str(config), str(data), "-o", str(output))
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", f"error: {message}\n")
    fresh = workspace.root / "new" / "o.parquet"
    good = workspace.invoke("validate", "-c", str(config), str(data), "-o", str(fresh))
    assert good.exit_code == 0
    assert not fresh.parent.exists()  # checked, not created


# -- templates -----------------------------------------------------------------------------


def test_templates_lists_the_eight_with_their_fields(workspace: Workspace) -> None:
    result = workspace.invoke("templates")
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout.splitlines()[0].strip() == "built-in templates"
    rows = workspace.table(result.stdout)
    assert [row[0] for row in rows] == TEMPLATE_NAMES
    needs = {row[0]: row[1] for row in rows}
    assert needs["correctness"] == "input, output, expected"
    assert needs["faithfulness"] == "output, context"
    assert needs["behavior"] == "output, expected_behavior"
    scales = {row[0]: row[3] for row in rows}
    assert scales["helpfulness"] == "1-5"
    assert scales["correctness"] == "0-1"


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_templates_name_prints_the_template(workspace: Workspace, name: str) -> None:
    result = workspace.invoke("templates", name)
    assert (result.exit_code, result.stderr) == (0, "")
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{name}: ")
    assert any(line.startswith("required fields: ") for line in lines)
    assert "--- prompt ---" in lines


def test_templates_correctness_shows_its_fields_and_prompt(workspace: Workspace) -> None:
    result = workspace.invoke("templates", "correctness")
    lines = result.stdout.splitlines()
    assert lines[:5] == [
        "correctness: Is the answer correct, judged against a reference answer?",
        "",
        "required fields: input, output, expected",
        "optional fields: (none)",
        "score scale:     0 to 1, normalised to 0..1",
    ]
    assert lines[5:7] == [
        "dimensions:      main_answer, completeness, precision (in J_criteria)",
        "score:           the judge's overall grade; the dimensions are reported, not averaged",
    ]
    prompt = result.stdout.split("--- prompt ---\n", 1)[1]
    for field in ("{input}", "{output}", "{expected}"):
        assert field in prompt


def test_an_unknown_template_exits_2_and_lists_the_known_ones(workspace: Workspace) -> None:
    result = workspace.invoke("templates", "corectness")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        "error: no template 'corectness'; did you mean 'correctness'? (templates: correctness, "
        "faithfulness, helpfulness, "
        "safety, accuracy, behavior, citations, pairwise)\n"
    )


def test_validate_judge_checks_only_that_judge(workspace: Workspace) -> None:
    """As ``score --judge``: a rule judge needs no variable of a connection it does not use."""
    config = workspace.root / "two.toml"
    config.write_text(
        '[connections.remote]\nbase_url = "${JUDGEKIT_UNSET_URL}/v1"\nmodel = "m"\n'
        "api_key_required = false\n"
        '[[judges]]\nname = "remote"\nconnection = "remote"\ntemplate = "correctness"\n'
        'columns = { input = "question", output = "answer", expected = "reference" }\n'
        '[[judges]]\nname = "same"\ntype = "exact"\n'
        'columns = { output = "answer", expected = "reference" }\n',
        encoding="utf-8",
    )
    whole = workspace.invoke("validate", "-c", str(config))
    assert whole.exit_code == 2
    assert "JUDGEKIT_UNSET_URL is not set" in whole.stderr
    one = workspace.invoke("validate", "-c", str(config), "--judge", "same")
    assert one.exit_code == 0, one.stderr
    assert [row[0] for row in workspace.table(one.stdout)] == ["same"]
    assert one.stdout.splitlines()[-1] == f"ok: {config} is valid; no model was called"
