"""`agreement` uses one threshold for every figure: the one the file was scored with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from judgekit.output import read_thresholds, thresholds_metadata

if TYPE_CHECKING:
    from conftest import Workspace

JUDGES = """
[[judges]]
name = "correctness"
connection = "fake"
template = "correctness"
threshold = {threshold}
human_label = "human"
[judges.columns]
input = "question"
output = "answer"
expected = "reference"
"""


def rows(n: int) -> list[dict[str, Any]]:
    """Three kinds of rows: exact answers (score 1), half answers (score between 0.5 and
    0.7) and wrong ones; humans call the first two correct, the third incorrect, except
    for row 0, an exact answer they call incorrect (a disagreement at any threshold)."""
    out = []
    for i in range(n):
        reference = f"The answer to question {i} is {i * 7} apples."
        answer = [reference, f"answer is {i * 7}", f"Perhaps {i + 1000} bananas."][i % 3]
        human = "incorrect" if i % 3 == 2 or i == 0 else "correct"
        out.append({"id": f"r{i}", "question": f"Basket {i}?", "answer": answer})
        out[-1] |= {"reference": reference, "human": human}
    return out


def score(ws: Workspace, suffix: str = ".parquet") -> tuple[Path, Path]:
    """Score 12 rows at threshold 0.5; return (output, a config that says 0.7)."""
    data = ws.write_rows(rows(12))
    scored_with = ws.write_config(judges=JUDGES.format(threshold=0.5), name="at05.toml")
    output = ws.root / f"scored{suffix}"
    result = ws.score(data, scored_with, output, "-q")
    assert result.exit_code == 0, result.output
    return output, ws.write_config(judges=JUDGES.format(threshold=0.7), name="at07.toml")


def test_the_threshold_is_recorded_in_the_parquet_metadata(workspace: Workspace) -> None:
    output, _ = score(workspace)
    assert read_thresholds(output) == {"correctness": 0.5}


def test_a_config_that_differs_is_said_in_one_line_and_the_file_wins(
    workspace: Workspace,
) -> None:
    output, at07 = score(workspace)
    result = workspace.invoke("agreement", str(output), "-c", str(at07), "--format", "json")
    assert (result.exit_code, result.stderr) == (
        0,
        f"note: 'correctness' was scored with threshold 0.5 (recorded in {output}), the config"
        " says 0.7; the report uses 0.5 (the 'config' row shows 0.7)\n",
    )
    (judge,) = json.loads(result.stdout)["judges"]
    threshold = judge["threshold"]
    assert (threshold["configured"], threshold["source"]) == (0.5, "file")
    assert (judge["agreement"], judge["kappa"]) == (
        threshold["configured_agreement"],
        threshold["configured_kappa"],
    )
    assert threshold["mismatched"] == 0
    assert judge["agreement"] == pytest.approx(11 / 12)
    assert threshold["config_threshold"] == 0.7
    assert threshold["config_agreement"] == pytest.approx(7 / 12)


def test_fail_under_names_the_threshold_it_judged(workspace: Workspace) -> None:
    output, at07 = score(workspace)
    args = ("agreement", str(output), "-c", str(at07), "--format", "json", "--fail-under", "0.95")
    result = workspace.invoke(*args)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        "agreement of 'correctness' is 0.92 (threshold 0.5, as scored), below --fail-under 0.95"
    )
    assert workspace.invoke(*args[:-1], "0.9").exit_code == 0  # 11/12 at 0.5, 7/12 at 0.7


def test_without_a_config_the_recorded_threshold_is_used(workspace: Workspace) -> None:
    output, _ = score(workspace)
    result = workspace.invoke(
        "agreement", str(output), "--judge", "correctness", "--human", "human", "--format", "json"
    )
    assert (result.exit_code, result.stderr) == (0, "")
    (judge,) = json.loads(result.stdout)["judges"]
    assert (judge["threshold"]["configured"], judge["threshold"]["source"]) == (0.5, "file")
    assert judge["agreement"] == judge["threshold"]["configured_agreement"]


def test_the_table_says_which_threshold_each_figure_uses(workspace: Workspace) -> None:
    output, at07 = score(workspace)
    result = workspace.invoke("agreement", str(output), "-c", str(at07), "--bootstrap", "0")
    lines = [line.strip() for line in result.stdout.splitlines()]
    assert "correctness vs human · threshold 0.5, as scored" in lines
    assert "as scored              0.5       0.917   0.824" in lines
    assert "config                 0.7       0.583   0.211" in lines


def test_a_jsonl_output_falls_back_to_the_config_and_says_when_it_does_not_fit(
    workspace: Workspace,
) -> None:
    output, at07 = score(workspace, ".jsonl")
    assert read_thresholds(output) == {}
    result = workspace.invoke("agreement", str(output), "-c", str(at07), "--bootstrap", "0")
    assert (result.exit_code, result.stderr) == (0, "")
    lines = [line.strip() for line in result.stdout.splitlines()]
    assert "correctness vs human · threshold unknown (the file does not record it)" in lines
    assert (
        "threshold: 0.7 does not reproduce J_passed on 4 of 12 rows: the file was scored "
        "with another threshold, which it does not record (Parquet outputs do)"
    ) in lines
    assert "config                 0.7       0.583   0.211" in lines
    failing = workspace.invoke("agreement", str(output), "-c", str(at07), "--fail-under", "0.95")
    assert failing.stderr.splitlines()[-1] == (
        "agreement of 'correctness' is 0.92 (threshold not recorded), below --fail-under 0.95"
    )


def test_a_jsonl_output_scored_with_the_config_threshold_names_it(
    workspace: Workspace,
) -> None:
    output, _ = score(workspace, ".jsonl")
    at05 = workspace.root / "at05.toml"
    result = workspace.invoke("agreement", str(output), "-c", str(at05), "--format", "json")
    (judge,) = json.loads(result.stdout)["judges"]
    assert (judge["threshold"]["source"], judge["threshold"]["mismatched"]) == ("config", 0)
    markdown = workspace.invoke("agreement", str(output), "-c", str(at05), "--format", "markdown")
    assert (
        "### `correctness` vs `human` · threshold 0.5, from the config "
        "(the file does not record one)\n"
    ) in markdown.stdout


def test_read_thresholds_ignores_what_it_cannot_use(tmp_path: Path) -> None:
    table = pa.table({"j_passed": [True]})
    good, bad, csv = tmp_path / "good.parquet", tmp_path / "bad.parquet", tmp_path / "x.csv"
    pq.write_table(table.replace_schema_metadata(thresholds_metadata({"j": 0.6})), good)
    pq.write_table(table.replace_schema_metadata({"judgekit.thresholds": "not json"}), bad)
    csv.write_text("j_passed\ntrue\n", encoding="utf-8")
    assert read_thresholds(good) == {"j": 0.6}
    assert read_thresholds(bad) == read_thresholds(csv) == read_thresholds(tmp_path / "no") == {}
