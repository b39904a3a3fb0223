"""The cache on hostile machines, end to end: a damaged file, an older layout, another
process holding the write lock, a full disk, no home directory.  Each situation is built
for real; each run writes its output, keeps what it can, and says in one line what to do."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from conftest import EXACT_JUDGE

from judgekit.cache import AnswerCache

if TYPE_CHECKING:
    from conftest import Workspace


HOLDER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("held", flush=True)
sys.stdin.readline()
db.execute("COMMIT")
"""
"""Another process: an exclusive transaction on the cache until it reads a line."""


@pytest.fixture(autouse=True)
def _wide(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """Notices are long (they hold a path): keep each on one line (after ``workspace``'s 250)."""
    monkeypatch.setenv("COLUMNS", "1000")


def answers_in(cache: Path) -> int:
    """How many answers a cache file holds."""
    with sqlite3.connect(cache) as db:
        count: int = db.execute("SELECT count(*) FROM answers").fetchone()[0]
    db.close()
    return count


@contextmanager
def write_lock_held(path: Path) -> Iterator[Callable[[], None]]:
    """Another process holds ``path``'s write lock until the yielded ``release()`` (or the
    end of the block)."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None and process.stdout is not None
    stdin = process.stdin

    def release() -> None:
        if process.poll() is None:
            stdin.write("\n")
            stdin.flush()
            process.wait(timeout=30)

    try:
        assert process.stdout.readline() == "held\n"
        yield release
        release()
    finally:
        process.kill()
        process.communicate(timeout=30)


@contextmanager
def mounted_tmpfs(where: Path, options: str) -> Iterator[Path]:
    """A real tmpfs at ``where`` (``mount -o OPTIONS``); skips when mounting is not allowed."""
    where.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CAP_SYS_ADMIN); this test runs as a user")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def scores(rows: list[dict[str, object]]) -> list[tuple[object, ...]]:
    """What a judgement decided, per row (latency and response ids differ between runs)."""
    return [(r["id"], r["correctness_score"], r["correctness_passed"]) for r in rows]


# -- a damaged file --------------------------------------------------------------------------


def test_a_damaged_page_costs_only_its_answers_and_the_run_writes_its_output(
    workspace: Workspace,
) -> None:
    data = workspace.write_rows(workspace.qa_rows(60))
    config = workspace.write_config(run="concurrency = 1")
    first, second = workspace.root / "first.parquet", workspace.root / "second.parquet"
    assert workspace.score(data, config, first).exit_code == 0
    size = workspace.cache.stat().st_size
    with workspace.cache.open("r+b") as damage:  # a page in the middle, not the header
        damage.seek(size // 2)
        damage.write(b"\xff" * 2048)

    result = workspace.score(data, config, second)
    paid = workspace.fake.stats().requests - 60
    assert result.exit_code == 1
    assert 0 < paid < 60  # the undamaged pages still answered
    cache = workspace.cache
    # Storing stops; the run's journal keeps every answer SQLite lacks, for the next run.
    (journal,) = cache.parent.glob(f"{cache.name}.answers-*.log")
    assert (
        f"judgekit: cache {cache}: the file is damaged (database disk image is malformed); "
        f"answers from now on go to the output and {journal}, which the next run stores; "
        "delete it, or use --cache PATH or --no-cache"
    ) in result.stderr.splitlines()
    assert result.stderr.splitlines()[-1] == (
        f"error: cache {cache}: the file is damaged (database disk image is malformed); "
        f"{paid} answers wait in {journal}, which the next run stores; "
        "delete it, or use --cache PATH or --no-cache"
    )
    assert "Traceback" not in result.stderr
    assert scores(workspace.read_rows(second)) == scores(workspace.read_rows(first))


# -- an older layout -------------------------------------------------------------------------


def test_a_cache_of_an_older_layout_is_upgraded_and_its_answers_serve(
    workspace: Workspace,
) -> None:
    data = workspace.write_rows(workspace.qa_rows(5))
    config = workspace.write_config()
    output = workspace.root / "out.parquet"
    assert workspace.score(data, config, output).exit_code == 0
    with sqlite3.connect(workspace.cache, isolation_level=None) as db:  # the layout of before
        db.executescript(
            """
            CREATE TABLE old AS SELECT key, text, model, response_id, input_tokens,
                output_tokens, cost_usd FROM answers;
            DROP TABLE answers;
            DROP TABLE quirks;
            CREATE TABLE answers (key TEXT PRIMARY KEY, text TEXT NOT NULL, model TEXT NOT NULL,
                response_id TEXT, input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
                cost_usd REAL NOT NULL);
            INSERT INTO answers SELECT * FROM old;
            DROP TABLE old;
            PRAGMA user_version = 0;
            """
        )
    db.close()

    result = workspace.score(data, config, output)
    assert result.exit_code == 0, result.stderr
    assert workspace.fake.stats().requests == 5  # every answer came from the upgraded file
    assert result.stderr.splitlines()[0] == (
        f"judgekit: cache {workspace.cache}: upgraded from an older layout (added "
        "cached_input_tokens, cache_write_tokens, reasoning_tokens, latency_ms, created_at); "
        "its answers are kept"
    )
    assert [r["correctness_error"] for r in workspace.read_rows(output)] == [None] * 5


def test_a_cache_in_a_layout_it_cannot_read_is_set_aside_and_a_new_one_started(
    workspace: Workspace,
) -> None:
    with sqlite3.connect(workspace.cache) as db:
        db.execute("CREATE TABLE answers (key TEXT PRIMARY KEY, reply BLOB)")
        db.execute("INSERT INTO answers VALUES ('k', x'00')")
    db.close()
    before = workspace.cache.read_bytes()
    data = workspace.write_rows(workspace.qa_rows(3))
    result = workspace.score(data, workspace.write_config(), workspace.root / "out.parquet")
    assert result.exit_code == 0, result.stderr
    aside = workspace.root / "cache.sqlite3.old"
    assert result.stderr.splitlines()[0] == (
        f"judgekit: cache {workspace.cache}: written in a layout this judgekit cannot read "
        "(its answers table has no text, model, input_tokens, output_tokens, cost_usd); "
        f"moved it to {aside} and started a new cache"
    )
    assert aside.read_bytes() == before
    assert answers_in(workspace.cache) == 3


# -- another process holds the write lock ----------------------------------------------------


def test_a_held_write_lock_stalls_nothing_and_every_answer_is_stored_once_it_frees(
    workspace: Workspace,
) -> None:
    fake = workspace.fake
    # 60 calls, 4 at a time, 100 ms each: ~1.5 s, past the journal's first flush into
    # SQLite (FLUSH_S), which meets the lock.
    fake.settings.latency_ms = 100
    data = workspace.write_rows(workspace.qa_rows(60))
    config = workspace.write_config(run="concurrency = 4")
    output = workspace.root / "out.parquet"
    AnswerCache(workspace.cache).close()  # the file of earlier runs
    made_every_call: list[bool] = []

    with write_lock_held(workspace.cache) as release:

        def release_once_every_call_is_made() -> None:
            deadline = time.monotonic() + 20  # a stalled run would stop making calls
            while fake.stats().requests < 60 and time.monotonic() < deadline:
                time.sleep(0.01)
            made_every_call.append(fake.stats().requests == 60)
            release()

        thread = threading.Thread(target=release_once_every_call_is_made, daemon=True)
        thread.start()
        result = workspace.score(data, config, output)
        thread.join(timeout=30)

    assert made_every_call == [True]
    assert result.exit_code == 0, result.stderr
    assert (
        f"judgekit: cache {workspace.cache} is locked by another process; answers wait in "
        "memory and are stored when it frees"
    ) in result.stderr.splitlines()
    assert re.search(r"the lock is free again; \d+ answers? (was|were) stored", result.stderr)
    assert answers_in(workspace.cache) == 60
    assert [r["correctness_error"] for r in workspace.read_rows(output)] == [None] * 60
    assert workspace.score(data, config, output).exit_code == 0
    assert fake.stats().requests == 60


def test_a_lock_held_past_the_wait_leaves_the_answers_in_the_output_and_exits_1(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUDGEKIT_CACHE_WAIT_S", "0.5")
    data = workspace.write_rows(workspace.qa_rows(6))
    config = workspace.write_config()
    output = workspace.root / "out.parquet"
    AnswerCache(workspace.cache).close()
    with write_lock_held(workspace.cache):
        result = workspace.score(data, config, output)
    assert result.exit_code == 1
    (journal,) = workspace.cache.parent.glob(f"{workspace.cache.name}.answers-*.log")
    assert result.stderr.splitlines()[-1] == (
        f"error: cache {workspace.cache}: another process held its write lock for more than "
        f"0.5 s; 6 answers wait in {journal}, which the next run stores; rerun when that "
        "process is done, or set JUDGEKIT_CACHE_WAIT_S higher, or use --cache PATH or --no-cache"
    )
    assert [r["correctness_error"] for r in workspace.read_rows(output)] == [None] * 6
    assert answers_in(workspace.cache) == 0
    assert workspace.score(data, config, output).exit_code == 0  # lock gone: stored now
    assert answers_in(workspace.cache) == 6
    assert workspace.fake.stats().requests == 6  # from the journal: none paid twice
    assert not journal.exists()


def test_a_signal_while_waiting_for_the_lock_gives_up_on_it_and_still_writes_the_output(
    workspace: Workspace,
) -> None:
    data = workspace.write_rows(workspace.qa_rows(4))
    output = workspace.root / "out.parquet"
    args = workspace.score_args(data, workspace.write_config(), output, "-q")
    AnswerCache(workspace.cache).close()
    with write_lock_held(workspace.cache):
        process = subprocess.Popen(
            [workspace.executable(), *args],
            env=workspace.environ() | {"COLUMNS": "1000"},
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stderr is not None
        try:
            lines = [process.stderr.readline(), process.stderr.readline()]
            assert lines[1] == (
                "judgekit: waiting up to 30 s for the cache lock to store 4 answers "
                "(a signal gives up)\n"
            )
            process.send_signal(signal.SIGHUP)
            _, rest = process.communicate(timeout=30)
        finally:
            process.kill()
    assert process.returncode == 1
    assert re.fullmatch(
        rf"error: cache {re.escape(str(workspace.cache))}: another process held its write lock "
        rf"for more than [0-9.]+ s; 4 answers wait in {re.escape(str(workspace.cache))}"
        r"\.answers-[0-9]+-[0-9a-f]{8}\.log, which the next run stores; rerun when that "
        r"process is done, or set JUDGEKIT_CACHE_WAIT_S higher, or use --cache PATH or "
        r"--no-cache\n",
        rest,
    )
    assert [r["correctness_error"] for r in workspace.read_rows(output)] == [None] * 4


# -- a full disk -----------------------------------------------------------------------------


ROWS_PAST_FULL = 200
"""Answers of ~1 KB each: more than a 128 KiB disk holds."""


def test_a_full_disk_stops_storing_but_not_the_run(workspace: Workspace, tmp_path: Path) -> None:
    with mounted_tmpfs(tmp_path / "small", "size=128k") as disk:
        cache = disk / "cache.sqlite3"
        # More answers than the disk holds, whether they go to SQLite one group at a time
        # or through the journal first.
        data = workspace.write_rows(workspace.qa_rows(ROWS_PAST_FULL))
        config = workspace.write_config(run="concurrency = 1")
        output = workspace.root / "out.parquet"
        args = [str(data), "-c", str(config), "-o", str(output), "--cache", str(cache)]
        result = workspace.invoke("score", *args)
        stored = answers_in(cache)
        journals = sorted(disk.glob(f"{cache.name}.answers-*.log"))
    assert result.exit_code == 1
    cause = f"cache {cache}: the disk is full (database or disk is full)"
    fix = "free some space, or use --cache PATH or --no-cache"
    # Whichever fills the disk first, SQLite or the journal, every answer is accounted for
    # once: stored, kept in the journal for the next run, or (beyond both) not stored.
    last = re.fullmatch(
        rf"error: {re.escape(cause)}(?:; (\d+) answers were not stored \(they are in the "
        r"output; a rerun pays for them again\))?(?:; (\d+) answers wait in (\S+), which the "
        rf"next run stores)?; {re.escape(fix)}",
        result.stderr.splitlines()[-1],
    )
    assert last is not None, result.stderr
    unstored, kept = int(last[1] or 0), int(last[2] or 0)
    assert 0 < stored < ROWS_PAST_FULL
    assert stored + kept + unstored == ROWS_PAST_FULL
    assert [str(j) for j in journals] == ([last[3]] if kept else [])
    notices = [line for line in result.stderr.splitlines() if line.startswith("judgekit: ")]
    assert notices[0].startswith(f"judgekit: {cause}; answers from now on go to the output")
    assert [r["correctness_error"] for r in workspace.read_rows(output)] == [None] * ROWS_PAST_FULL


# -- no home, and runs that need no cache ----------------------------------------------------


def _args(ws: Workspace, *extra: str, judges: str | None = None) -> list[str]:
    """``score`` arguments without ``--cache``: the default location decides."""
    data = ws.write_rows(ws.qa_rows(3))
    config = ws.write_config(judges=judges) if judges else ws.write_config()
    return ["score", str(data), "-c", str(config), "-o", str(ws.root / "out.parquet"), *extra]


def test_no_home_says_where_the_cache_goes_and_how_to_set_it_before_any_call(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HOME", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv("JUDGEKIT_CACHE", raising=False)
    result = workspace.invoke(*_args(workspace))
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        "error: no place for the answer cache: it goes to $XDG_CACHE_HOME/judgekit/cache.sqlite3"
        " or ~/.cache/judgekit/cache.sqlite3, and neither XDG_CACHE_HOME nor HOME is set; set "
        "JUDGEKIT_CACHE=/path/to/cache.sqlite3, or use --cache PATH or --no-cache\n"
    )
    assert workspace.fake.stats().requests == 0
    assert not (workspace.root / "out.parquet").exists()

    assert workspace.invoke(*_args(workspace, "--no-cache")).exit_code == 0
    monkeypatch.setenv("JUDGEKIT_CACHE", str(workspace.root / "set.sqlite3"))
    assert workspace.invoke(*_args(workspace)).exit_code == 0
    assert answers_in(workspace.root / "set.sqlite3") == 3


@contextmanager
def unwritable_home(where: Path) -> Iterator[tuple[Path, str]]:
    """A home directory nobody can write to, and why mkdir fails there: a read-only tmpfs
    for root (who ignores permission bits), a directory without write permission otherwise."""
    if os.geteuid() != 0:
        where.mkdir()
        where.chmod(0o555)
        try:
            yield where, "[Errno 13] Permission denied"
        finally:
            where.chmod(0o755)
        return
    with mounted_tmpfs(where, "ro,size=64k") as home:
        yield home, "[Errno 30] Read-only file system"


def test_an_unwritable_home_says_where_the_cache_would_go_before_any_call(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with unwritable_home(tmp_path / "home") as (home, why):
        monkeypatch.setenv("HOME", str(home))
        monkeypatch.delenv("XDG_CACHE_HOME")
        monkeypatch.delenv("JUDGEKIT_CACHE", raising=False)
        result = workspace.invoke(*_args(workspace))
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        f"error: cannot create the answer cache at {home}/.cache/judgekit/cache.sqlite3 "
        f"({why}: '{home}/.cache'); "
        "set JUDGEKIT_CACHE=/path/to/cache.sqlite3, or use --cache PATH or --no-cache\n"
    )
    assert workspace.fake.stats().requests == 0


@pytest.mark.parametrize(
    ("extra", "judges"),
    [((), EXACT_JUDGE), (("--dry-run",), None)],
    ids=["rule-judges-only", "dry-run"],
)
def test_a_run_that_calls_no_model_neither_opens_nor_needs_a_cache(
    workspace: Workspace,
    monkeypatch: pytest.MonkeyPatch,
    extra: tuple[str, ...],
    judges: str | None,
) -> None:
    cache = workspace.root / "never.sqlite3"
    result = workspace.invoke(*_args(workspace, *extra, "--cache", str(cache), judges=judges))
    assert result.exit_code == 0, result.stderr
    assert not cache.exists()
    monkeypatch.delenv("HOME", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME")
    result = workspace.invoke(*_args(workspace, *extra, judges=judges))
    assert result.exit_code == 0, result.stderr
    assert workspace.fake.stats().requests == 0
    assert [p.name for p in workspace.root.iterdir() if "sqlite" in p.name] == []


# -- a file that is not a cache ------------------------------------------------------------

NOT_A_CACHE = (
    "error: {path}: not an answer cache (a cache is an SQLite file, this is not one); judgekit"
    " did not change it: give --cache a new path, or use --no-cache\n"
)


@pytest.mark.parametrize("extra", [(), ("--dry-run",)], ids=["run", "dry-run"])
def test_a_dataset_given_as_cache_is_not_a_cache_and_is_left_as_it_was(
    workspace: Workspace, extra: tuple[str, ...]
) -> None:
    """It said 'if it is a damaged cache, delete it' of the user's data."""
    mine = workspace.write_rows(workspace.qa_rows(3), "mine.jsonl")
    before = mine.read_bytes()
    result = workspace.invoke(*_args(workspace, "--cache", str(mine), *extra))
    assert (result.exit_code, result.stderr) == (2, NOT_A_CACHE.format(path=mine))
    assert mine.read_bytes() == before
    assert sorted(p.name for p in workspace.root.iterdir()) == [
        "data.jsonl",
        "judges.toml",
        "mine.jsonl",
    ]  # no -wal, no -shm, no output
    assert workspace.fake.stats().requests == 0


def test_try_with_a_dataset_as_cache_is_refused_too(workspace: Workspace) -> None:
    mine = workspace.write_rows(workspace.qa_rows(3), "mine.jsonl")
    before = mine.read_bytes()
    config = workspace.write_config()
    args = ["try", "-c", str(config), "--judge", "correctness", "--row", "row-000", str(mine)]
    result = workspace.invoke(*args, "--cache", str(mine))
    assert (result.exit_code, result.stderr) == (2, NOT_A_CACHE.format(path=mine))
    assert mine.read_bytes() == before
    assert workspace.fake.stats().requests == 0


def test_an_sqlite_file_that_is_damaged_keeps_the_damaged_cache_advice(
    workspace: Workspace,
) -> None:
    damaged = workspace.root / "bad.sqlite3"
    damaged.write_bytes(b"SQLite format 3\x00" + b"overwritten " * 200)
    result = workspace.invoke(*_args(workspace, "--cache", str(damaged)))
    assert (result.exit_code, result.stderr) == (
        2,
        f"error: {damaged}: cannot open the cache (file is not a database): if it is a damaged"
        " cache, delete it; or use --cache PATH or --no-cache\n",
    )
    assert workspace.fake.stats().requests == 0


def test_an_empty_file_becomes_a_new_cache(workspace: Workspace) -> None:
    """``touch cache.sqlite3`` holds nothing to lose: SQLite takes an empty file as new."""
    empty = workspace.root / "empty.sqlite3"
    empty.touch()
    result = workspace.invoke(*_args(workspace, "--cache", str(empty)))
    assert result.exit_code == 0, result.stderr
    assert answers_in(empty) == 3
