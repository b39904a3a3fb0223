"""The API key never appears in an output, the cache, the summary, stdout/stderr or an error
message, and it is no part of the cache key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow.parquet as pq
import pytest

if TYPE_CHECKING:
    from conftest import Workspace


def assert_no_key(ws: Workspace, *texts: str, files: tuple[Path, ...] = ()) -> None:
    """Neither the key nor its distinctive tail is in any text or file byte."""
    needles = (ws.key, ws.key[-11:])  # "SECRET-1234": catches a masked "sk-...SECRET-1234"
    for text in texts:
        for needle in needles:
            assert needle not in text
    for file in files:
        data = file.read_bytes()
        for needle in needles:
            assert needle.encode() not in data, file.name


def cache_files(ws: Workspace) -> tuple[Path, ...]:
    """The cache database and its WAL companions, whichever exist."""
    return tuple(p for p in ws.root.iterdir() if p.name.startswith(ws.cache.name))


@pytest.fixture
def checked_key(workspace: Workspace) -> Workspace:
    """The fake accepts only the workspace's key, so every 200 proves the key was sent."""
    workspace.fake.settings.api_key = workspace.key
    return workspace


def test_a_run_stores_and_prints_no_key(checked_key: Workspace) -> None:
    ws = checked_key
    data = ws.write_rows(ws.qa_rows(4))
    config = ws.write_config()
    summary = ws.root / "summary.json"
    jsonl, parquet = ws.root / "out.jsonl", ws.root / "out.parquet"
    first = ws.score(data, config, jsonl, "--summary-json", str(summary), "-v")
    second = ws.score(data, config, parquet)
    assert (first.exit_code, second.exit_code) == (0, 0)
    assert ws.fake.stats().by_status == {200: 4}
    assert {r.headers["authorization"] for r in ws.fake.requests} == {f"Bearer {ws.key}"}
    table_text = json.dumps(pq.read_table(parquet).to_pylist(), default=str)
    metadata = json.dumps(
        {k.decode(): v.decode() for k, v in pq.read_metadata(parquet).metadata.items()}
    )
    assert_no_key(
        ws,
        first.stdout,
        first.stderr,
        second.stdout,
        second.stderr,
        table_text,
        metadata,
        files=(jsonl, parquet, summary, *cache_files(ws)),
    )
    assert len(cache_files(ws)) >= 1


def test_a_rejected_key_is_not_in_the_message(checked_key: Workspace) -> None:
    ws = checked_key
    ws.fake.settings.api_key = "sk-the-server-wants-this-one"
    data = ws.write_rows(ws.qa_rows(2))
    output = ws.root / "out.parquet"
    summary = ws.root / "summary.json"
    config = ws.write_config(run="concurrency = 1")
    result = ws.score(data, config, output, "--summary-json", str(summary), "-v")
    assert result.exit_code == 2
    assert ws.fake.stats().by_status == {401: 1}
    assert "JUDGEKIT_TEST_API_KEY" in result.stderr
    assert_no_key(ws, result.stdout, result.stderr, files=cache_files(ws))
    assert not output.exists()
    assert not summary.exists()


@pytest.mark.parametrize(
    "command",
    [["validate"], ["score", "--dry-run"]],
    ids=["validate", "dry-run"],
)
def test_commands_that_call_nothing_print_no_key(
    checked_key: Workspace, command: list[str]
) -> None:
    ws = checked_key
    data = ws.write_rows(ws.qa_rows(2))
    config = ws.write_config()
    if command[0] == "validate":
        result = ws.invoke("validate", "-c", str(config), str(data))
    else:
        result = ws.score(data, config, ws.root / "out.parquet", "--dry-run")
    assert result.exit_code == 0
    assert_no_key(ws, result.stdout, result.stderr)
    assert ws.fake.stats().requests == 0


def test_the_key_is_no_part_of_the_cache_key(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = workspace.write_rows(workspace.qa_rows(3))
    config = workspace.write_config()
    output = workspace.root / "out.parquet"
    assert workspace.score(data, config, output).exit_code == 0
    monkeypatch.setenv(workspace.key_env, "sk-test-ROTATED-5678")
    assert workspace.score(data, config, output).exit_code == 0
    assert workspace.fake.stats().requests == 3


@pytest.mark.parametrize(
    "pasted", ["{key}\n", "  {key}\r\n", "\t{key} "], ids=["newline", "crlf", "tab-space"]
)
def test_whitespace_around_a_pasted_key_is_trimmed(
    checked_key: Workspace, monkeypatch: pytest.MonkeyPatch, pasted: str
) -> None:
    ws = checked_key
    monkeypatch.setenv(ws.key_env, pasted.format(key=ws.key))
    data = ws.write_rows(ws.qa_rows(2))
    result = ws.score(data, ws.write_config(), ws.root / "out.parquet")
    assert result.exit_code == 0, result.stderr
    assert {r.headers["authorization"] for r in ws.fake.requests} == {f"Bearer {ws.key}"}


@pytest.mark.parametrize(
    "pasted",
    ["{key}\nsk-second-key", "{key} extra", "{key}\x7fx"],
    ids=["two-lines", "space", "control"],
)
def test_a_key_with_whitespace_inside_is_refused_in_one_line(
    checked_key: Workspace, monkeypatch: pytest.MonkeyPatch, pasted: str
) -> None:
    ws = checked_key
    monkeypatch.setenv(ws.key_env, pasted.format(key=ws.key))
    data = ws.write_rows(ws.qa_rows(2))
    output = ws.root / "out.parquet"
    result = ws.score(data, ws.write_config(), output)
    assert (result.exit_code, result.stdout, result.stderr) == (
        2,
        "",
        "error: connection 'fake': environment variable JUDGEKIT_TEST_API_KEY holds a space, "
        "line break or control character inside the key; set it to the key alone\n",
    )
    assert ws.fake.stats().requests == 0
    assert not output.exists()
