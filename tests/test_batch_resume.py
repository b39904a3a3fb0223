"""``score --batch`` killed with ``kill -9`` at every step: no request is ever paid twice."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest
from conftest import Workspace
from test_batch import ROWS, batch_config

CREATE = {"chat_completions": "POST /v1/batches", "anthropic": "POST /v1/messages/batches"}


def _killed_at(ws: Workspace, args: list[str], call: str) -> None:
    """Run ``judgekit ARGS`` in a subprocess and kill -9 it once the fake got ``call``."""
    process = subprocess.Popen(
        [ws.executable(), *args],
        env=ws.environ(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ws.wait_for(lambda: any(c.startswith(call) for c in ws.fake.batches.calls()), call)
    finally:
        process.kill()
        process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL
    ws.fake.settings.batch_hang_at = None


def _statuses(cache: Path) -> list[str]:
    with sqlite3.connect(cache) as db:
        return [str(row[0]) for row in db.execute("SELECT status FROM batches ORDER BY rowid")]


@pytest.mark.parametrize("protocol", ["chat_completions", "anthropic"])
def test_killed_before_the_batch_exists_submits_it_once_on_the_rerun(
    workspace: Workspace, protocol: str
) -> None:
    fake = workspace.fake
    fake.settings.batch_hang_at = "create_before"
    data = workspace.write_rows(workspace.qa_rows(ROWS))
    config, out = batch_config(workspace, protocol), workspace.root / "out.parquet"
    args = workspace.score_args(data, config, out)
    _killed_at(workspace, args, CREATE[protocol])
    assert _statuses(workspace.cache) == ["intent"]  # recorded before the batch was asked for
    assert fake.batches.submitted() == {}
    assert workspace.invoke(*args).exit_code == 3  # no such batch: the intent is abandoned
    assert _statuses(workspace.cache) == ["abandoned", "submitted"]
    assert workspace.invoke(*args).exit_code == 0
    assert set(fake.batches.submitted().values()) == {1}
    assert len(fake.batches.submitted()) == ROWS


@pytest.mark.parametrize("protocol", ["chat_completions", "anthropic"])
def test_killed_after_the_batch_was_created_finds_it_and_submits_nothing(
    workspace: Workspace, protocol: str
) -> None:
    fake = workspace.fake
    fake.settings.batch_hang_at = "create_after"
    data = workspace.write_rows(workspace.qa_rows(ROWS))
    config, out = batch_config(workspace, protocol), workspace.root / "out.parquet"
    args = workspace.score_args(data, config, out)
    _killed_at(workspace, args, CREATE[protocol])
    assert _statuses(workspace.cache) == ["intent"]
    assert len(fake.batches.submitted()) == ROWS  # the provider has it; we never heard back
    rerun = workspace.invoke(*args)
    assert rerun.exit_code == 0, rerun.stderr
    assert "created by a run that stopped before recording it; not submitted again" in (
        rerun.stderr
    )
    assert set(fake.batches.submitted().values()) == {1}
    assert _statuses(workspace.cache) == ["collected"]
    assert all(row["correctness_error"] is None for row in workspace.read_rows(out))


@pytest.mark.parametrize("protocol", ["chat_completions", "anthropic"])
def test_killed_while_collecting_collects_on_the_rerun(workspace: Workspace, protocol: str) -> None:
    fake = workspace.fake
    data = workspace.write_rows(workspace.qa_rows(ROWS))
    config, out = batch_config(workspace, protocol), workspace.root / "out.parquet"
    args = workspace.score_args(data, config, out)
    assert workspace.invoke(*args).exit_code == 3
    fake.settings.batch_hang_at = "results"
    results = (
        "GET /v1/files/"
        if protocol != "anthropic"
        else "GET /v1/messages/batches/msgbatch_000001/results"
    )
    _killed_at(workspace, args, results)
    assert not out.exists()
    rerun = workspace.invoke(*args)
    assert rerun.exit_code == 0, rerun.stderr
    assert set(fake.batches.submitted().values()) == {1}
    assert len(fake.batches.submitted()) == ROWS
