"""`judgekit score` end to end against the fake: the output contract (SPEC section 6), the
output formats, the flags, the summary, the dry run, and one run of the installed executable."""

from __future__ import annotations

import csv
import gzip
import json
import re
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import DEFAULT_JUDGES, EXACT_JUDGE, SPEC_RESULT_TYPES

from judgekit import __version__
from judgekit.config import config_hash, load_config
from judgekit.engine.run import WINDOW_ROWS

if TYPE_CHECKING:
    from conftest import Workspace

REPO = Path(__file__).resolve().parents[1]
IN_USD_PER_TOKEN = 0.15 / 1e6
OUT_USD_PER_TOKEN = 0.60 / 1e6

TWO_JUDGES = (
    DEFAULT_JUDGES
    + """
[[judges]]
name = "graded"
connection = "fake"
template = "correctness"
threshold = 0.7
criteria = { accuracy = 0.6, completeness = 0.4 }
[judges.columns]
input = "question"
output = "answer"
expected = "reference"
"""
)

RESULT_TYPES = SPEC_RESULT_TYPES


def judge_schema(judge: str, criteria: tuple[str, ...] = ()) -> list[tuple[str, pa.DataType]]:
    """The expected ``J_*`` columns of one judge, in order."""
    columns = [(f"{judge}_{name}", type_) for name, type_ in RESULT_TYPES]
    if criteria:
        struct = pa.struct([pa.field(c, pa.float64()) for c in criteria])
        columns.insert(4, (f"{judge}_criteria", struct))
    return columns


def mixed_rows(n: int) -> list[dict[str, Any]]:
    """Rows whose columns are not in alphabetical or id-first order, with nested values and
    nulls, so that "input columns unchanged and in input order" can fail."""
    rows = []
    for i in range(n):
        reference = f"The answer to question {i} is {i * 7} apples."
        rows.append(
            {
                "zeta": i * 10,
                "answer": reference if i % 2 == 0 else f"Perhaps {i + 1000} bananas.",
                "id": f"q{i}",
                "tags": ["a", f"t{i}"],
                "meta": {"source": "unit", "rank": i},
                "note": None if i % 3 else f"note {i}",
                "question": f"How many apples in basket {i}?",
                "reference": reference,
            }
        )
    return rows


# -- the output contract -------------------------------------------------------------------


@dataclass(frozen=True)
class Scored:
    """A finished run of six mixed rows by two judges into Parquet, shared by a module."""

    data: Path
    config: Path
    output: Path
    cache: Path
    rows: list[dict[str, Any]]
    requests: int
    input_tokens: int

    def output_rows(self) -> list[dict[str, Any]]:
        """The scored rows."""
        rows: list[dict[str, Any]] = pq.read_table(self.output).to_pylist()
        return rows


@pytest.fixture(scope="module")
def scored(module_workspace: Workspace) -> Scored:
    """One run for all the contract tests (they only read its files)."""
    ws = module_workspace
    ws.fake.settings.reply_model = "fake-judge-2025-01-01"
    rows = mixed_rows(6)
    data = ws.write_rows(rows)
    config = ws.write_config(run="concurrency = 4", judges=TWO_JUDGES)
    output = ws.root / "out.parquet"
    result = ws.score(data, config, output)
    assert (result.exit_code, result.stdout) == (0, ""), result.stderr
    stats = ws.fake.stats()
    ws.fake.reset()
    return Scored(data, config, output, ws.cache, rows, stats.requests, stats.input_tokens)


def test_input_columns_come_first_unchanged_and_in_input_order(
    scored: Scored,
) -> None:
    table = pq.read_table(scored.output)
    rows = scored.rows
    names = list(rows[0])
    assert table.column_names[: len(names)] == names
    assert table.select(names).to_pylist() == rows
    assert table.schema.field("zeta").type == pa.int64()
    assert table.schema.field("tags").type == pa.list_(pa.string())


def test_each_judge_adds_exactly_the_spec_columns_with_their_types(
    scored: Scored,
) -> None:
    schema = pq.read_schema(scored.output)
    judged = [(f.name, f.type) for f in schema][len(scored.rows[0]) :]
    dimensions = ("main_answer", "completeness", "precision")
    expected = judge_schema("correctness", dimensions) + judge_schema(
        "graded", ("accuracy", "completeness")
    )
    assert judged == expected


def test_the_judge_columns_hold_the_providers_answer(
    scored: Scored,
) -> None:
    rows = scored.output_rows()
    for judge, threshold in (("correctness", 0.5), ("graded", 0.7)):
        for row in rows:
            score = row[f"{judge}_score"]
            assert 0.0 <= score <= 1.0
            assert row[f"{judge}_passed"] is (score >= threshold)
            assert row[f"{judge}_error"] is None
            assert row[f"{judge}_confidence"] in (0.6, 0.9)
            assert row[f"{judge}_reasoning"].startswith("Token F1 between the output and")
            assert row[f"{judge}_model"] == "fake-judge-2025-01-01"
            assert re.fullmatch(r"chatcmpl-[0-9a-f]{24}", row[f"{judge}_response_id"])
            assert row[f"{judge}_latency_ms"] > 0
            cost = (
                row[f"{judge}_input_tokens"] * IN_USD_PER_TOKEN
                + row[f"{judge}_output_tokens"] * OUT_USD_PER_TOKEN
            )
            assert row[f"{judge}_cost_usd"] == pytest.approx(cost, rel=1e-9)
            assert cost > 0
        assert {row[f"{judge}_passed"] for row in rows} == {True, False}
    ids = [row[f"{j}_response_id"] for row in rows for j in ("correctness", "graded")]
    assert len(set(ids)) == len(ids) == scored.requests
    tokens = sum(row[f"{j}_input_tokens"] for row in rows for j in ("correctness", "graded"))
    assert tokens == scored.input_tokens


def test_weighted_criteria_make_the_score(
    scored: Scored,
) -> None:
    for row in scored.output_rows():
        criteria = row["graded_criteria"]
        assert set(criteria) == {"accuracy", "completeness"}
        weighted = 0.6 * criteria["accuracy"] + 0.4 * criteria["completeness"]
        assert row["graded_score"] == pytest.approx(weighted, abs=1e-9)


def test_parquet_metadata_holds_version_config_hash_times_and_totals(
    scored: Scored,
) -> None:
    metadata = {
        k.decode(): v.decode()
        for k, v in (pq.read_metadata(scored.output).metadata or {}).items()
        if k.startswith(b"judgekit.")
    }
    assert set(metadata) == {
        "judgekit.version",
        "judgekit.config_hash",
        "judgekit.started_at",
        "judgekit.finished_at",
        "judgekit.totals",
        "judgekit.thresholds",
    }
    assert json.loads(metadata["judgekit.thresholds"]) == {"correctness": 0.5, "graded": 0.7}
    assert metadata["judgekit.version"] == __version__
    assert metadata["judgekit.config_hash"] == config_hash(load_config(scored.config))
    started = datetime.fromisoformat(metadata["judgekit.started_at"])
    finished = datetime.fromisoformat(metadata["judgekit.finished_at"])
    assert started.tzinfo is not None
    assert started <= finished
    totals = json.loads(metadata["judgekit.totals"])
    assert (totals["rows"], totals["judgements"], totals["requests"]) == (6, 12, 12)
    assert totals["errors"] == {}
    assert totals["problem"] is None
    assert scored.requests == 12


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"], ids=["jsonl", "csv"])
def test_jsonl_and_csv_outputs_hold_the_same_rows(
    workspace: Workspace, scored: Scored, suffix: str
) -> None:
    other = workspace.root / f"out{suffix}"
    args = [str(scored.data), "-c", str(scored.config), "-o", str(other)]
    result = workspace.invoke("score", *args, "--cache", str(scored.cache))
    assert result.exit_code == 0
    assert workspace.fake.stats().requests == 0  # every answer from the shared run's cache
    rows = scored.rows
    expected = scored.output_rows()
    columns = list(expected[0])
    if suffix == ".jsonl":
        got = [json.loads(line) for line in other.read_text().splitlines()]
        assert [list(row) for row in got] == [columns] * len(rows)
        assert got == expected
        return
    with other.open(newline="") as stream:
        reader = csv.reader(stream)
        assert next(reader) == columns
        body = list(reader)
    assert len(body) == len(rows)
    score = columns.index("graded_score")
    criteria = columns.index("graded_criteria")
    for line, row in zip(body, expected, strict=True):
        assert float(line[score]) == row["graded_score"]
        assert json.loads(line[criteria]) == row["graded_criteria"]
        assert line[columns.index("id")] == row["id"]


AGAIN = """
[[judges]]
name = "again"
type = "exact"
[judges.columns]
output = "answer"
expected = "reference"
"""


@pytest.mark.parametrize("suffix", [".jsonl.gz", ".ndjson", ".csv"])
def test_every_output_format_is_an_input_too(workspace: Workspace, suffix: str) -> None:
    rows = [row | {"human": "pass"} for row in workspace.qa_rows(3)]
    data = workspace.write_rows(rows)
    first = workspace.root / f"first{suffix}"
    assert workspace.score(data, workspace.write_config(), first).exit_code == 0
    if suffix == ".jsonl.gz":
        lines = gzip.decompress(first.read_bytes()).decode().splitlines()
        assert [json.loads(line)["id"] for line in lines] == ["row-000", "row-001", "row-002"]
    second = workspace.root / "second.parquet"
    rescored = workspace.score(first, workspace.write_config(judges=AGAIN), second)
    assert rescored.exit_code == 0, rescored.stderr
    table = pq.read_table(second)
    assert table.column("id").to_pylist() == ["row-000", "row-001", "row-002"]
    assert {"correctness_score", "again_score"} <= set(table.column_names)
    report = workspace.invoke(
        "agreement", str(first), "--judge", "correctness", "--human", "human", "--format", "json"
    )
    assert report.exit_code == 0, report.stderr
    assert json.loads(report.stdout)["judges"][0]["rows"] == 3


def test_csv_input_is_scored_as_text(workspace: Workspace) -> None:
    data = workspace.root / "data.csv"
    with data.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, ["id", "question", "answer", "reference"])
        writer.writeheader()
        writer.writerows(workspace.qa_rows(4))
    output = workspace.root / "out.parquet"
    result = workspace.score(data, workspace.write_config(), output)
    assert result.exit_code == 0, result.stderr
    rows = workspace.read_rows(output)
    assert [r["id"] for r in rows] == ["row-000", "row-001", "row-002", "row-003"]
    assert [r["correctness_passed"] for r in rows] == [True, False, True, False]


# -- flags ---------------------------------------------------------------------------------


def test_judge_and_limit_select_judges_and_rows(workspace: Workspace) -> None:
    data = workspace.write_rows(workspace.qa_rows(10))
    config = workspace.write_config(judges=TWO_JUDGES)
    output = workspace.root / "out.parquet"
    result = workspace.score(data, config, output, "--judge", "graded", "--limit", "3")
    assert result.exit_code == 0
    table = pq.read_table(output)
    assert table.num_rows == 3
    assert [n for n in table.column_names if n.startswith("correctness_")] == []
    assert "graded_score" in table.column_names
    assert workspace.fake.stats().requests == 3


def test_concurrency_flag_bounds_requests_in_flight(workspace: Workspace) -> None:
    workspace.fake.settings.latency_ms = 30
    data = workspace.write_rows(workspace.qa_rows(12))
    config = workspace.write_config(run="concurrency = 16")
    result = workspace.score(data, config, workspace.root / "o.parquet", "--concurrency", "3")
    assert result.exit_code == 0
    stats = workspace.fake.stats()
    assert stats.requests == 12
    assert 1 <= stats.max_in_flight <= 3


def test_summary_on_stderr_and_summary_json_agree_with_the_output(workspace: Workspace) -> None:
    data = workspace.write_rows(workspace.qa_rows(5))
    config = workspace.write_config()
    output = workspace.root / "out.parquet"
    summary = workspace.root / "run" / "summary.json"  # its directory is created
    result = workspace.score(data, config, output, "--summary-json", str(summary))
    assert (result.exit_code, result.stdout) == (0, "")
    figures = json.loads(summary.read_text())
    spent = sum(row["correctness_cost_usd"] for row in workspace.read_rows(output))
    assert figures["spent_usd"] == round(spent, 6)
    assert {k: figures[k] for k in ("rows", "rows_done", "judgements", "requests")} == {
        "rows": 5,
        "rows_done": 5,
        "judgements": 5,
        "requests": 5,
    }
    assert (figures["cache_hits"], figures["errors"], figures["problem"]) == (0, {}, None)
    assert figures["output"] == str(output)
    table = dict((row[0], row[1]) for row in workspace.table(result.stderr))
    assert table["rows"] == "5/5"
    assert table["requests"] == "5 (0 retries, 0 rate-limited)"
    assert table["errors"] == "none"
    assert table["spent"] == f"${spent:.4f}"
    assert table["output"] == str(output)


def test_quiet_prints_nothing_on_success(workspace: Workspace) -> None:
    data = workspace.write_rows(workspace.qa_rows(3))
    result = workspace.score(data, workspace.write_config(), workspace.root / "o.csv", "-q")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")


def test_rows_stay_in_input_order_across_windows(workspace: Workspace) -> None:
    # Two windows of the engine; a row without a reference is refused before any call, so
    # only every 400th row costs a request and they finish out of order.
    n = WINDOW_ROWS + 100
    rows = [
        {"id": f"r{i}", "question": "q?", "answer": f"answer {i}"}
        | {"reference": "" if i % 400 else f"answer {i}"}
        for i in range(n)
    ]
    data = workspace.write_rows(rows)
    config = workspace.write_config(run="concurrency = 8\nmax_error_rate = 1.0")
    output = workspace.root / "out.parquet"
    assert workspace.score(data, config, output).exit_code == 0
    table = pq.read_table(output)
    assert table.column("id").to_pylist() == [row["id"] for row in rows]
    errors = table.column("correctness_error").to_pylist()
    answered = list(range(0, n, 400))
    assert [i for i, e in enumerate(errors) if e is None] == answered
    assert table.column("correctness_reasoning")[1].as_py() == (
        "field 'expected' (column 'reference') is empty"
    )
    assert workspace.fake.stats().requests == len(answered)


def test_a_rule_score_exactly_at_the_threshold_passes(workspace: Workspace) -> None:
    judges = """
[[judges]]
name = "overlap"
type = "token_f1"
threshold = 0.75
[judges.columns]
output = "answer"
expected = "reference"
"""
    rows = [{"id": 1, "answer": "paris is capital of france", "reference": "capital of france"}]
    output = workspace.root / "out.parquet"
    result = workspace.score(
        workspace.write_rows(rows), workspace.write_config(judges=judges), output
    )
    assert result.exit_code == 0, result.stderr
    [row] = workspace.read_rows(output)
    assert (row["overlap_score"], row["overlap_passed"]) == (0.75, True)


def test_integers_beyond_64_bits_stay_exact_from_input_to_output(workspace: Workspace) -> None:
    judges = EXACT_JUDGE
    data = workspace.root / "big.jsonl"
    data.write_text(
        '{"id": 18446744073709551617, "answer": 18446744073709551617,'
        ' "reference": 18446744073709551617}\n'
        '{"id": 18446744073709551618, "answer": 18446744073709551618,'
        ' "reference": 18446744073709551617}\n'
    )
    config = workspace.write_config(judges=judges)
    parquet, jsonl = workspace.root / "out.parquet", workspace.root / "out.jsonl"
    assert workspace.score(data, config, parquet).exit_code == 0
    rows = workspace.read_rows(parquet)
    assert [r["id"] for r in rows] == ["18446744073709551617", "18446744073709551618"]
    assert [r["same_score"] for r in rows] == [1.0, 0.0]  # a rounded float would say 1.0, 1.0
    assert workspace.score(data, config, jsonl).exit_code == 0
    lines = jsonl.read_text().splitlines()
    assert [line.split(',"same_score"')[0] for line in lines] == [
        '{"id":18446744073709551617,"answer":18446744073709551617,"reference":18446744073709551617',
        '{"id":18446744073709551618,"answer":18446744073709551618,"reference":18446744073709551617',
    ]


def test_an_empty_answer_is_judged_not_an_error(workspace: Workspace) -> None:
    # Null, absent, empty and blank answers are answers: each goes to the judge as an empty
    # <output> block and gets the judge's score; none is bad_request, none counts against
    # max_error_rate (0.02 by default: one error in five rows would fail the run).
    rows = workspace.qa_rows(5)
    rows[0]["answer"] = None
    del rows[1]["answer"]
    rows[2]["answer"] = ""
    rows[3]["answer"] = "   "
    data = workspace.write_rows(rows)
    output = workspace.root / "out.parquet"
    result = workspace.score(data, workspace.write_config(), output)
    assert result.exit_code == 0, result.stderr
    scored = workspace.read_rows(output)
    assert [r["correctness_error"] for r in scored] == [None] * 5
    assert [r["correctness_score"] for r in scored] == [0.0, 0.0, 0.0, 0.0, 1.0]
    assert [r["correctness_passed"] for r in scored] == [False, False, False, False, True]
    assert workspace.fake.stats().requests == 5
    blocks = {}
    for request in workspace.fake.requests:
        user = request.body["messages"][-1]["content"]
        row = next(i for i, r in enumerate(rows) if r["question"] in user)
        blocks[row] = re.findall(r"<output>\n(.*?)\n</output>", user, re.DOTALL)[-1]
    assert blocks == {0: "", 1: "", 2: "", 3: "   ", 4: rows[4]["answer"]}


def test_parquet_input_keeps_its_column_types(workspace: Workspace) -> None:
    n = 3
    source = pa.table(
        {
            "i32": pa.array(range(n), pa.int32()),
            "f32": pa.array([1.5] * n, pa.float32()),
            "ts": pa.array([datetime(2024, 1, 1, tzinfo=UTC)] * n, pa.timestamp("ms", tz="UTC")),
            "dec": pa.array([Decimal("1.23")] * n, pa.decimal128(5, 2)),
            "cat": pa.array(["a", "b", "a"]).dictionary_encode(),
            "question": ["q"] * n,
            "answer": [f"the answer {i}" for i in range(n)],
            "reference": [f"the answer {i}" for i in range(n)],
        }
    )
    data = workspace.root / "in.parquet"
    pq.write_table(source, data)
    output = workspace.root / "nested" / "dir" / "out.parquet"  # directories are created
    assert workspace.score(data, workspace.write_config(), output).exit_code == 0
    scored = pq.read_table(output)
    assert scored.select(source.column_names).equals(source)
    assert scored.column("correctness_error").null_count == n


def test_parquet_input_in_many_row_groups_is_scored_in_order(workspace: Workspace) -> None:
    # Windows never span a row group (7 rows here): calls of several groups are in flight
    # at once, and the output still has every row once, in input order.
    n = 30
    source = pa.table(
        {
            "id": [f"r{i}" for i in range(n)],
            "question": ["q"] * n,
            "answer": [f"the answer {i}" for i in range(n)],
            "reference": [f"the answer {i}" for i in range(n)],
        }
    )
    data = workspace.root / "in.parquet"
    pq.write_table(source, data, row_group_size=7)
    output = workspace.root / "out.parquet"
    assert workspace.score(data, workspace.write_config(), output).exit_code == 0
    scored = pq.read_table(output)
    assert scored.select(source.column_names).equals(source)
    assert scored.column("correctness_error").null_count == n
    assert scored.column("correctness_score").null_count == 0


# -- dry run -------------------------------------------------------------------------------


def _dry_run(ws: Workspace, data: Path, config: Path, *extra: str) -> dict[str, str]:
    output = ws.root / "dry.parquet"
    result = ws.score(data, config, output, "--dry-run", *extra)
    assert (result.exit_code, result.stdout) == (0, "")  # on stderr, as a run's summary
    assert result.stderr.splitlines()[0].strip() == "dry run: nothing was called"
    assert not output.exists()
    return {row[0]: row[1] for row in ws.table(result.stderr)}


def test_dry_run_calls_nothing_and_counts_calls_cost_and_budget(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = workspace.write_rows(workspace.qa_rows(4))
    config = workspace.write_config(judges=TWO_JUDGES)
    monkeypatch.delenv(workspace.key_env)  # a dry run needs no key
    figures = _dry_run(workspace, data, config)
    assert {k: figures[k] for k in ("rows", "judges", "calls needed", "calls already cached")} == {
        "rows": "4",
        "judges": "2",
        "calls needed": "8",
        "calls already cached": "0",
    }
    assert "budget" not in figures
    worst = float(figures["worst-case cost"].removeprefix("$"))
    # Each call may cost at most its input plus max_output_tokens (512) of output.
    assert worst >= 8 * 512 * OUT_USD_PER_TOKEN
    roomy, tight = f"{worst * 2:.3g}", f"{worst / 2:.3g}"
    covered = _dry_run(workspace, data, config, "--budget-usd", roomy)
    assert covered["budget"] == f"${roomy} (covers worst case: yes)"
    short = _dry_run(workspace, data, config, "--budget-usd", tight)
    assert short["budget"] == (
        f"${tight} (covers worst case: NO: the run would stop with budget_exhausted)"
    )
    assert {k: short[k] for k in figures} == figures
    assert workspace.fake.stats().requests == 0


def test_dry_run_warns_when_refused_calls_alone_would_fail_the_run(workspace: Workspace) -> None:
    rows = workspace.qa_rows(4)
    for row in rows[:2]:
        row["reference"] = ""  # correctness needs it: those two calls are refused
    data, config = workspace.write_rows(rows), workspace.write_config()
    out = workspace.root / "o.parquet"
    result = workspace.score(data, config, out, "--dry-run", "--max-error-rate", "0.4")
    assert result.exit_code == 0
    assert result.stderr.splitlines()[-1] == (
        "warning: 2 of 4 LLM judgements are refused before any call (50%, above "
        "max_error_rate 40%): the run would exit 1 (a required field empty on those rows, a "
        "prompt over max_input_tokens or a call over max_cost_usd_per_call); map other "
        "columns, or raise [run] max_error_rate"
    )
    allowed = workspace.score(data, config, out, "--dry-run", "--max-error-rate", "0.5")
    assert "warning" not in allowed.stderr
    assert workspace.fake.stats().requests == 0


def test_dry_run_creates_no_file(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    data = workspace.write_rows(workspace.qa_rows(2))
    config = workspace.write_config()
    monkeypatch.setenv("XDG_CACHE_HOME", str(workspace.root / "xdg"))
    before = sorted(workspace.root.rglob("*"))
    output = workspace.root / "new" / "dir" / "out.parquet"
    result = workspace.invoke("score", str(data), "-c", str(config), "-o", str(output), "--dry-run")
    assert result.exit_code == 0
    assert sorted(workspace.root.rglob("*")) == before  # no cache, no directory, no output
    explicit = workspace.score(data, config, output, "--dry-run")
    assert explicit.exit_code == 0
    assert sorted(workspace.root.rglob("*")) == before  # --cache PATH is not created either


def test_dry_run_after_a_run_counts_cached_calls(workspace: Workspace) -> None:
    data = workspace.write_rows(workspace.qa_rows(4))
    config = workspace.write_config()
    assert (
        workspace.score(data, config, workspace.root / "o.parquet", "--limit", "3").exit_code == 0
    )
    figures = _dry_run(workspace, data, config)
    assert (figures["calls needed"], figures["calls already cached"]) == ("1", "3")
    assert workspace.fake.stats().requests == 3


def test_an_unknown_price_shows_as_unknown_never_as_zero(workspace: Workspace) -> None:
    data = workspace.write_rows(workspace.qa_rows(3))
    config = workspace.write_config(prices=False)  # 'fake-judge' is in no price table
    figures = _dry_run(workspace, data, config)
    assert figures["worst-case cost"] == (
        "unknown (no price for 'fake-judge': set input_usd_per_mtok, output_usd_per_mtok)"
    )
    result = workspace.score(data, config, workspace.root / "out.parquet")
    assert result.exit_code == 0
    spent = dict(row[:2] for row in workspace.table(result.stderr))["spent"]
    assert spent == "$0.0000 + unknown (3 replies of models without a price)"
    rows = workspace.read_rows(workspace.root / "out.parquet")
    assert [r["correctness_cost_usd"] for r in rows] == [None, None, None]


# -- the installed executable --------------------------------------------------------------


def test_installed_judgekit_scores_the_demo_and_reports_agreement(workspace: Workspace) -> None:
    """The one subprocess run of the real entry point: score + agreement on the demo."""
    output = workspace.root / "demo.parquet"
    summary = workspace.root / "summary.json"
    config = str(REPO / "configs" / "demo.toml")
    env = workspace.environ() | {"JUDGEKIT_FAKE_URL": workspace.fake.url}
    dataset = str(REPO / "datasets" / "demo.jsonl")
    paths = ["-o", str(output), "--cache", str(workspace.cache), "--summary-json", str(summary)]
    score = _run([workspace.executable(), "score", dataset, "-c", config, *paths], env)
    assert (score.returncode, score.stdout) == (0, ""), score.stderr
    assert "Traceback" not in score.stderr
    table = pq.read_table(output)
    assert table.num_rows == 77
    for judge in ("correctness", "helpfulness", "mentions_reference"):
        assert table.column(f"{judge}_error").null_count == 77
    figures = json.loads(summary.read_text())
    assert figures["requests"] == workspace.fake.stats().requests == 154  # 2 LLM judges x 77
    options = ["-c", config, "--format", "json"]
    report = _run([workspace.executable(), "agreement", str(output), *options], env)
    assert (report.returncode, report.stderr) == (0, "")
    judges = json.loads(report.stdout)["judges"]
    assert [j["judge"] for j in judges] == ["correctness", "mentions_reference"]
    for judge in judges:
        assert (judge["rows"], judge["excluded_judge_error"]) == (77, 0)
        assert judge["compared"] == judge["labelled"] - judge["excluded_unsure"]


def _run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
