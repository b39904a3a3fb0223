"""The answer journal: a run's answers are durable from the turn after they arrive, reach
SQLite in groups, and a killed run's journal is stored by the next opening of the cache."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import stored_keys

from judgekit.cache import AnswerCache, CachedAnswer, CountingCache
from judgekit.cache_journal import FLUSH_ANSWERS, FLUSH_S, journal_keys, journals_of
from judgekit.records import Reply, Usage

ANSWER = CachedAnswer(
    reply=Reply(
        text='{"score": 0.5, "note": "a lone \udc80 surrogate"}',
        usage=Usage(120, 30, 64, 7, 11),
        model="judge-2025-01-01",
        response_id=None,
    ),
    cost_usd=0.000123,
    latency_ms=45.5,
)
UNBILLED = CachedAnswer(
    Reply(text="x", usage=None, model="m", response_id=None), cost_usd=None, latency_ms=1.0
)


_CHILD = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from pathlib import Path
    from judgekit.cache import AnswerCache, CachedAnswer
    from judgekit.records import Reply, Usage

    path, how = Path(sys.argv[1]), sys.argv[2]
    answer = CachedAnswer(Reply('{"score": 1}', Usage(1, 2, 0, 0, 0), "m", "r1"), 0.5, 3.0)

    async def main():
        store = AnswerCache(path, journal=True)
        store.commit_in_groups(asyncio.get_running_loop().call_soon)
        for key in ("a", "b", "c"):
            store.put(key, answer)
        await asyncio.sleep(0)  # one turn: journaled
        print("journaled", flush=True)
        if how == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        sys.stdin.readline()  # live until told
        store.commit_in_groups(None)
        store.close()

    asyncio.run(main())
    """
)


def _child(path: Path, how: str) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(path), how],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline() == "journaled\n"
    return child


def test_a_killed_runs_journal_is_stored_by_the_next_opening(tmp_cache: Path) -> None:
    child = _child(tmp_cache, "kill")
    child.communicate(timeout=30)
    assert child.returncode == -9
    assert stored_keys(tmp_cache) == []  # never committed: the journal holds them
    assert len(journals_of(tmp_cache)) == 1
    assert CountingCache(tmp_cache).contains("b")  # --dry-run counts them as cached

    notices: list[str] = []
    store = AnswerCache(tmp_cache, notices.append)
    assert notices == [f"cache {tmp_cache}: stored 3 answers a stopped run had kept in its journal"]
    assert store.get("b") == CachedAnswer(
        Reply('{"score": 1}', Usage(1, 2, 0, 0, 0), "m", "r1"), 0.5, 3.0
    )
    store.close()
    assert stored_keys(tmp_cache) == ["a", "b", "c"]
    assert journals_of(tmp_cache) == []


def test_a_running_processs_journal_is_left_to_it(tmp_cache: Path) -> None:
    child = _child(tmp_cache, "live")
    try:
        AnswerCache(tmp_cache).close()  # another run opens the cache meanwhile
        assert len(journals_of(tmp_cache)) == 1
        assert stored_keys(tmp_cache) == []
    finally:
        child.communicate("go\n", timeout=30)
    assert child.returncode == 0
    assert stored_keys(tmp_cache) == ["a", "b", "c"]
    assert journals_of(tmp_cache) == []


def test_a_torn_last_record_is_ignored_and_the_whole_ones_are_stored(tmp_cache: Path) -> None:
    child = _child(tmp_cache, "kill")
    child.communicate(timeout=30)
    (journal,) = journals_of(tmp_cache)
    whole = journal.read_bytes()
    with journal.open("ab") as file:
        file.write(whole[: len(whole) // 3 + 5])  # a record cut short, as a crash leaves it
    AnswerCache(tmp_cache).close()
    assert stored_keys(tmp_cache) == ["a", "b", "c"]
    assert journals_of(tmp_cache) == []


def test_journaled_answers_reach_sqlite_after_flush_s_and_every_value_round_trips(
    tmp_cache: Path,
) -> None:
    async def main() -> tuple[list[str], int, list[str], int]:
        store = AnswerCache(tmp_cache, journal=True)
        store.commit_in_groups(asyncio.get_running_loop().call_soon)
        store.put("a", ANSWER)
        store.put("u", UNBILLED)
        await asyncio.sleep(0)
        (journal,) = journals_of(tmp_cache)
        journaled = (stored_keys(tmp_cache), journal.stat().st_size)
        await asyncio.sleep(FLUSH_S + 0.05)
        assert store.waiting() == 0  # the engine asks every 0.2 s: a due flush happens
        flushed = (stored_keys(tmp_cache), len(journal_keys(tmp_cache)))
        store.commit_in_groups(None)
        store.close()
        return (*journaled, *flushed)

    before, journal_size, after, left = asyncio.run(main())
    assert (before, after, left) == ([], ["a", "u"], 0)
    assert journal_size > 0
    assert journals_of(tmp_cache) == []
    store = AnswerCache(tmp_cache)
    # SQLite's text is UTF-8: the lone surrogate is stored as U+FFFD, all else exactly.
    stored = replace(ANSWER.reply, text='{"score": 0.5, "note": "a lone \ufffd surrogate"}')
    assert (store.get("a"), store.get("u")) == (replace(ANSWER, reply=stored), UNBILLED)
    store.close()


def test_a_full_group_is_flushed_without_waiting_for_flush_s(tmp_cache: Path) -> None:
    async def main() -> int:
        store = AnswerCache(tmp_cache, journal=True)
        store.commit_in_groups(asyncio.get_running_loop().call_soon)
        for i in range(FLUSH_ANSWERS):
            store.put(str(i), ANSWER)
        await asyncio.sleep(0)
        stored = len(stored_keys(tmp_cache))
        store.commit_in_groups(None)
        store.close()
        return stored

    assert asyncio.run(main()) == FLUSH_ANSWERS


def test_journaled_answers_are_served_before_they_reach_sqlite(tmp_cache: Path) -> None:
    async def main() -> CachedAnswer | None:
        store = AnswerCache(tmp_cache, journal=True)
        store.commit_in_groups(asyncio.get_running_loop().call_soon)
        store.put("k", ANSWER)
        await asyncio.sleep(0)
        served = store.get("k")
        store.commit_in_groups(None)
        store.close()
        return served

    assert asyncio.run(main()) == ANSWER


@pytest.mark.parametrize("journal", [False, True], ids=["without", "with"])
def test_a_cache_outside_a_run_keeps_no_journal(tmp_cache: Path, journal: bool) -> None:
    store = AnswerCache(tmp_cache, journal=journal)
    store.put("k", ANSWER)  # a batch collection, a library caller: committed at once
    assert journals_of(tmp_cache) == []
    assert stored_keys(tmp_cache) == ["k"]
    store.close()


def test_a_journal_that_cannot_be_stored_now_is_answered_from_and_kept(tmp_cache: Path) -> None:
    child = _child(tmp_cache, "kill")
    child.communicate(timeout=30)
    holder = sqlite3.connect(tmp_cache, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        store = AnswerCache(tmp_cache)
        assert store.get("c") is not None  # not paid again
        assert store.held("c") is not None  # nor by a lookup made ahead
        store.close()
        assert len(journals_of(tmp_cache)) == 1
    finally:
        holder.execute("COMMIT")
        holder.close()
    AnswerCache(tmp_cache).close()
    assert stored_keys(tmp_cache) == ["a", "b", "c"]
    assert journals_of(tmp_cache) == []


def test_a_cache_given_through_a_symlink_journals_beside_its_file(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "links").mkdir()
    target = tmp_path / "real" / "cache.sqlite3"
    AnswerCache(target).close()
    link = tmp_path / "links" / "link.sqlite3"
    link.symlink_to(target)
    child = _child(link, "kill")
    child.communicate(timeout=30)
    assert len(journals_of(target)) == 1
    assert list((tmp_path / "links").iterdir()) == [link]
    assert CountingCache(target).contains("a")
    AnswerCache(target).close()  # the file's own path finds the journal
    assert stored_keys(target) == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("cache.sqlite3.answers-1-2.log", b"SQLite format 3\x00..."),  # not the journal name
        ("cache.sqlite3.answers-77-0123abcd.log", b"my own notes\n"),  # the name, not the file
    ],
    ids=["other-name", "not-a-journal"],
)
def test_a_file_that_only_looks_like_a_journal_is_left_as_it_is(
    tmp_cache: Path, name: str, content: bytes
) -> None:
    other = tmp_cache.with_name(name)
    other.write_bytes(content)
    AnswerCache(tmp_cache).close()
    assert not CountingCache(tmp_cache).contains("a")
    assert other.read_bytes() == content
