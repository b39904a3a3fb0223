"""``score --local-only`` and ``[run] local_only``: only judges that cannot cost money run; the
others are listed as skipped, call nothing, need no key, and write no columns."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pyarrow.parquet as pq
import pytest

if TYPE_CHECKING:
    from conftest import Workspace

COLUMNS = 'columns = { input = "question", output = "answer", expected = "reference" }'
JUDGES = f"""
[connections.cloud]
provider = "openai"

[connections.gateway]
base_url = "http://127.0.0.1:1/v1"
model = "gpt-4o-mini"
api_key_required = false

[[judges]]
name = "f1"
type = "token_f1"
columns = {{ output = "answer", expected = "reference" }}

[[judges]]
name = "local"
connection = "fake"
template = "correctness"
{COLUMNS}

[[judges]]
name = "paid"
connection = "cloud"
model = "gpt-4o-mini"
template = "correctness"
{COLUMNS}

[[judges]]
name = "proxy"
connection = "gateway"
template = "correctness"
{COLUMNS}
"""
SKIPPED = {
    "paid": "connection 'cloud': gpt-4o-mini costs $0.15/$0.6 per Mtok",
    "proxy": "connection 'gateway': gpt-4o-mini costs $0.15/$0.6 per Mtok",
}


@pytest.mark.parametrize("how", ["flag", "config"])
def test_only_free_judges_run(workspace: Workspace, how: str) -> None:
    ws = workspace
    config = ws.write_config(
        run="local_only = true" if how == "config" else "", judges=JUDGES, prices=False
    )
    output, summary = ws.root / "out.parquet", ws.root / "summary.json"
    flags = ["--summary-json", str(summary)] + (["--local-only"] if how == "flag" else [])
    result = ws.score(ws.write_rows(ws.qa_rows(3)), config, output, *flags)
    assert result.exit_code == 0, result.stderr
    assert ws.fake.stats().requests == 3  # the local judge only; OPENAI_API_KEY is not set
    assert {r.body["model"] for r in ws.fake.requests} == {"fake-judge"}
    names = pq.read_schema(output).names
    assert [n for n in names if n.endswith("_score")] == ["f1_score", "local_score"]
    assert not any(n.startswith(("paid_", "proxy_")) for n in names)
    assert json.loads(summary.read_text())["skipped"] == SKIPPED
    skipped_lines = [row for row in ws.table(result.stderr) if row[0] == "skipped (local only)"]
    assert skipped_lines == [["skipped (local only)", f"{k}: {v}"] for k, v in SKIPPED.items()]


def test_without_local_only_every_judge_runs(workspace: Workspace) -> None:
    ws = workspace
    config = ws.write_config(judges=JUDGES, prices=False)
    result = ws.score(ws.write_rows(ws.qa_rows(1)), config, ws.root / "out.parquet")
    assert result.exit_code == 2
    assert result.stderr == (
        "error: connection 'cloud': environment variable OPENAI_API_KEY is not set "
        "(export OPENAI_API_KEY=... before running)\n"
    )


def test_the_dry_run_lists_what_local_only_skips(workspace: Workspace) -> None:
    ws = workspace
    config = ws.write_config(judges=JUDGES, prices=False)
    data = ws.write_rows(ws.qa_rows(2))
    result = ws.score(data, config, ws.root / "out.parquet", "--dry-run", "--local-only")
    assert result.exit_code == 0, result.stderr
    rows = {tuple(r) for r in ws.table(result.stderr)}  # the dry run goes to stderr
    assert ("judges", "2") in rows
    assert ("calls needed", "2") in rows
    assert ("skipped (local only)", f"paid: {SKIPPED['paid']}") in rows
    assert ws.fake.stats().requests == 0


def test_a_local_server_with_a_price_is_not_free(workspace: Workspace) -> None:
    """The workspace's fake connection carries a price: a gateway to a paid API."""
    ws = workspace
    judges = JUDGES.split('[[judges]]\nname = "paid"')[0]
    config = ws.write_config(judges=judges, prices=True)
    result = ws.score(ws.write_rows(ws.qa_rows(2)), config, ws.root / "out.parquet", "--local-only")
    assert result.exit_code == 0, result.stderr
    assert ws.fake.stats().requests == 0
    assert "local: connection 'fake': fake-judge costs $0.15/$0.6 per Mtok" in result.stderr


def test_when_every_judge_costs_money_nothing_runs(workspace: Workspace) -> None:
    ws = workspace
    judges = '[[judges]]\nname = "paid"\nmodel = "claude-haiku-4-5"\ntemplate = "correctness"\n'
    config = ws.write_config(judges=judges)
    output = ws.root / "out.parquet"
    result = ws.score(ws.write_rows(ws.qa_rows(1)), config, output, "--local-only")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        f"error: {config}: local only: every judge can cost money: paid (connection "
        "'anthropic': claude-haiku-4-5 costs $1/$5 per Mtok)\n"
    )
    assert not output.exists()


HOST_CASES = [
    ("http://localhost:8000/v1", True),
    ("http://127.0.0.1:8000/v1", True),
    ("http://127.8.9.10/v1", True),
    ("http://[::1]:8000/v1", True),
    ("http://judge.localhost/v1", True),
    ("http://10.0.0.5:8000/v1", False),
    ("https://judge.example/v1", False),
]


@pytest.mark.parametrize(("base_url", "free"), HOST_CASES, ids=[h for h, _ in HOST_CASES])
def test_an_unpriced_connection_is_free_only_on_this_machine(
    workspace: Workspace, base_url: str, free: bool
) -> None:
    ws = workspace
    judges = (
        f'[connections.x]\nbase_url = "{base_url}"\nmodel = "llama3.1"\napi_key_required = false\n'
        f'[[judges]]\nname = "x"\nconnection = "x"\ntemplate = "correctness"\n{COLUMNS}\n'
        '[[judges]]\nname = "f1"\ntype = "token_f1"\n'
        'columns = { output = "answer", expected = "reference" }\n'
    )
    config = ws.write_config(judges=judges)
    data = ws.write_rows(ws.qa_rows(1))
    result = ws.score(data, config, ws.root / "out.parquet", "--dry-run", "--local-only")
    assert result.exit_code == 0, result.stderr
    rows = {tuple(r) for r in ws.table(result.stderr)}  # the dry run goes to stderr
    assert (("judges", "2") in rows) is free


def test_validate_local_only_checks_what_that_run_reads(workspace: Workspace) -> None:
    ws = workspace
    config = ws.write_config(judges=JUDGES, prices=False)
    data = ws.write_rows(ws.qa_rows(2))
    refused = ws.invoke("validate", "-c", str(config), str(data))
    assert refused.exit_code == 2
    assert "environment variable OPENAI_API_KEY is not set" in refused.stderr
    result = ws.invoke("validate", "-c", str(config), str(data), "--local-only")
    assert result.exit_code == 0, result.stderr
    skipped = [line for line in result.stdout.splitlines() if line.startswith("skipped")]
    assert skipped == [f"skipped (local only): {k}: {v}" for k, v in SKIPPED.items()]
    judged = [row[0] for row in ws.table(result.stdout) if row and row[0] != "judge"]
    assert judged == ["f1", "local"]
    assert result.stdout.splitlines()[-1].endswith(
        "(2 rows) are valid (1 warning above); no model was called"
    )
    assert ws.fake.stats().requests == 0
