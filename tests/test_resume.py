"""Cache and resume end to end: a rerun pays for nothing twice, also after ``kill -9``;
SIGTERM, SIGINT and SIGHUP stop a run with exit 130, keep every answer and write no output."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from judgekit.cache import AnswerCache

if TYPE_CHECKING:
    from conftest import Workspace

ROWS = 120
"""Rows of the interrupted runs: at 4 in flight and 50 ms a call, ~1.5 s of work."""


def answers_in(cache: Path) -> int:
    """How many answers a cache holds as the next run finds them: SQLite replays its WAL,
    and opening the cache stores what a killed run's journal holds."""
    AnswerCache(cache).close()
    with sqlite3.connect(cache) as db:
        count: int = db.execute("SELECT count(*) FROM answers").fetchone()[0]
    db.close()
    return count


# -- cache ---------------------------------------------------------------------------------


def test_a_second_identical_run_makes_no_request_and_writes_the_same_rows(
    workspace: Workspace,
) -> None:
    data = workspace.write_rows(workspace.qa_rows(8))
    config = workspace.write_config(run="concurrency = 4")
    first, second = workspace.root / "first.parquet", workspace.root / "second.parquet"
    assert workspace.score(data, config, first).exit_code == 0
    assert workspace.fake.stats().requests == 8
    summary = workspace.root / "summary.json"
    result = workspace.score(data, config, second, "--summary-json", str(summary))
    assert result.exit_code == 0
    assert workspace.fake.stats().requests == 8
    assert workspace.read_rows(second) == workspace.read_rows(first)
    figures = json.loads(summary.read_text())
    spent = sum(r["correctness_cost_usd"] for r in workspace.read_rows(first))
    assert (figures["requests"], figures["cache_hits"], figures["spent_usd"]) == (0, 8, 0.0)
    assert figures["saved_by_cache_usd"] == round(spent, 6)


def test_no_cache_calls_again_and_stores_nothing(workspace: Workspace) -> None:
    data = workspace.write_rows(workspace.qa_rows(4))
    config = workspace.write_config()
    output = workspace.root / "out.parquet"
    assert workspace.score(data, config, output).exit_code == 0
    stored = workspace.cache.read_bytes()
    args = [str(data), "-c", str(config), "-o", str(output)]
    assert workspace.invoke("score", *args, "--no-cache").exit_code == 0
    assert workspace.fake.stats().requests == 8
    assert workspace.invoke("score", *args, "--no-cache").exit_code == 0
    assert workspace.fake.stats().requests == 12
    assert workspace.cache.read_bytes() == stored
    assert not (workspace.root / "judgekit").exists()  # the default cache under XDG_CACHE_HOME


def test_cache_option_names_the_file(workspace: Workspace) -> None:
    data = workspace.write_rows(workspace.qa_rows(3))
    config = workspace.write_config()
    output = workspace.root / "out.parquet"
    elsewhere = workspace.root / "nested" / "dir" / "answers.db"
    args = [str(data), "-c", str(config), "-o", str(output), "--cache", str(elsewhere)]
    assert workspace.invoke("score", *args).exit_code == 0
    assert answers_in(elsewhere) == 3
    assert not (workspace.root / "judgekit").exists()
    assert workspace.invoke("score", *args).exit_code == 0
    assert workspace.fake.stats().requests == 3


@pytest.mark.parametrize("via", ["xdg", "judgekit-cache"])
def test_the_default_cache_is_shared_by_runs(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, via: str
) -> None:
    expected = workspace.root / "judgekit" / "cache.sqlite3"  # XDG_CACHE_HOME = tmp_path
    if via == "judgekit-cache":
        expected = workspace.root / "explicit.sqlite3"
        monkeypatch.setenv("JUDGEKIT_CACHE", str(expected))
    data = workspace.write_rows(workspace.qa_rows(3))
    config = workspace.write_config()
    args = [str(data), "-c", str(config), "-o", str(workspace.root / "out.csv")]
    assert workspace.invoke("score", *args).exit_code == 0
    assert workspace.invoke("score", *args).exit_code == 0
    assert answers_in(expected) == 3
    assert workspace.fake.stats().requests == 3


def test_a_changed_prompt_is_a_new_call_and_the_rest_stay_cached(workspace: Workspace) -> None:
    rows = workspace.qa_rows(4)
    config = workspace.write_config()
    output = workspace.root / "out.parquet"
    assert workspace.score(workspace.write_rows(rows), config, output).exit_code == 0
    rows[2]["answer"] = "A different answer now."
    assert workspace.score(workspace.write_rows(rows), config, output).exit_code == 0
    assert workspace.fake.stats().requests == 5
    assert "A different answer now." in workspace.sent_bodies()[-1]


# -- interrupted runs (subprocesses) -------------------------------------------------------


def _start(ws: Workspace, output: Path) -> tuple[subprocess.Popen[str], list[str], Path, Path]:
    """Start a slow ``judgekit score`` subprocess; return it, its args, dataset, config."""
    ws.fake.settings.latency_ms = 50
    data = ws.write_rows(ws.qa_rows(ROWS))
    config = ws.write_config(run="concurrency = 4")
    args = ws.score_args(data, config, output)
    process = subprocess.Popen(
        [ws.executable(), *args],
        env=ws.environ(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return process, args, data, config


def _journals(cache: Path) -> list[Path]:
    return sorted(cache.parent.glob(f"{cache.name}.answers-*.log"))


def test_kill_9_then_rerun_pays_only_for_what_was_not_answered(workspace: Workspace) -> None:
    fake = workspace.fake
    output = workspace.root / "out.parquet"
    process, args, _, _ = _start(workspace, output)
    try:
        workspace.wait_for(lambda: fake.stats().requests >= 12, "the run to make 12 requests")
    finally:
        process.kill()
        process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL
    workspace.wait_for(
        lambda: fake.stats().in_flight == 0, "the fake to finish the orphaned requests"
    )
    before = workspace.sent_bodies()
    # The killed run's journal is left (its flock died with it) and read by the next opening.
    assert len(_journals(workspace.cache)) == 1
    cached = answers_in(workspace.cache)
    assert _journals(workspace.cache) == []
    assert not output.exists()  # a killed run never leaves a truncated OUT
    assert 0 < cached <= len(before)
    # Unanswered at the kill: at most the 4 calls in flight.
    assert len(before) - cached <= 4

    fake.settings.latency_ms = 0
    rerun = workspace.invoke(*args)
    assert rerun.exit_code == 0, rerun.stderr
    after = workspace.sent_bodies()[len(before) :]
    assert len(after) == ROWS - cached
    assert len(set(before) | set(after)) == ROWS
    # Only the calls that were never answered (in flight at the kill) are sent twice.
    assert len(set(before) & set(after)) == len(before) - cached
    rows = workspace.read_rows(output)
    assert [r["correctness_error"] for r in rows] == [None] * ROWS


@pytest.mark.parametrize(
    "signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=["SIGTERM", "SIGINT", "SIGHUP"]
)
def test_a_signal_stops_with_130_keeps_every_answer_and_the_rerun_resumes(
    workspace: Workspace, signum: signal.Signals
) -> None:
    fake = workspace.fake
    output = workspace.root / "out.parquet"
    process, args, _, _ = _start(workspace, output)
    try:
        workspace.wait_for(lambda: fake.stats().requests >= 12, "the run to make 12 requests")
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=15)  # "within a few seconds"
    finally:
        process.kill()
    assert process.returncode == 130
    before = workspace.sent_bodies()
    assert stderr.splitlines()[-1] == (
        f"error: interrupted by {signum.name}: {len(before)} calls made, answers kept in the "
        "cache; rerun the same command to resume"
    )
    assert "Traceback" not in stderr
    assert len(before) < ROWS
    assert not output.exists()
    assert [p.name for p in workspace.root.iterdir() if p.name.startswith(".out")] == []
    # Every call that was made finished and was kept: nothing will be paid twice.
    assert answers_in(workspace.cache) == len(before)

    fake.settings.latency_ms = 0
    rerun = workspace.invoke(*args)
    assert rerun.exit_code == 0, rerun.stderr
    after = workspace.sent_bodies()[len(before) :]
    assert len(after) == ROWS - len(before)
    assert set(before).isdisjoint(after)
    assert [r["correctness_error"] for r in workspace.read_rows(output)] == [None] * ROWS


def test_after_a_signal_no_call_waiting_for_a_429_pause_is_sent(workspace: Workspace) -> None:
    fake = workspace.fake
    fake.settings.rate_limit_first_n = 4
    fake.settings.retry_after_s = 1.0
    data = workspace.write_rows(workspace.qa_rows(8))
    config = workspace.write_config(run="concurrency = 4")
    signalled: list[float] = []

    def interrupt() -> None:
        # Only once all four calls got their 429: the run is then paused for a second,
        # inside its signal handler's lifetime, so the signal cannot hit pytest itself.
        workspace.wait_for(lambda: fake.stats().rate_limited == 4, "four 429s")
        signalled.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=interrupt, daemon=True)
    thread.start()
    result = workspace.score(data, config, workspace.root / "out.parquet")
    thread.join(timeout=30)
    assert result.exit_code == 130
    assert [r.time_s for r in fake.requests if r.time_s > signalled[0]] == []


def test_sighup_before_the_run_starts_exits_130_and_leaves_nothing(workspace: Workspace) -> None:
    dataset = workspace.write_rows(workspace.qa_rows(2))
    config = workspace.root / "judges.toml"
    # judgekit blocks reading the config: a window before any call, held open.  (Not the
    # dataset: one that is not a regular file is refused before it is opened.)
    os.mkfifo(config)
    output = workspace.root / "out.parquet"
    args = workspace.score_args(dataset, config, output)
    process = subprocess.Popen(
        [workspace.executable(), *args],
        env=workspace.environ(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with config.open("w"):  # returns once judgekit has opened the config for reading
            process.send_signal(signal.SIGHUP)
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert (process.returncode, stderr) == (130, "interrupted\n")
    assert sorted(p.name for p in workspace.root.iterdir()) == ["data.jsonl", "judges.toml"]
    assert workspace.fake.stats().requests == 0
