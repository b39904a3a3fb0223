"""Lookups made ahead (``engine.lookahead``): the producer builds and looks up the next
rows' first requests together; an answer stored since is never paid for again."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from judgekit.cache import AnswerCache, CachedAnswer
from judgekit.cache_journal import FLUSH_ANSWERS
from judgekit.records import Reply, Usage

if TYPE_CHECKING:
    from conftest import Workspace

ANSWER = CachedAnswer(Reply('{"score": 1}', Usage(5, 6, 0, 0, 0), "m", "r"), 0.25, 9.0)


def test_get_many_finds_the_stored_answers_of_many_keys_at_once(tmp_cache: Path) -> None:
    store = AnswerCache(tmp_cache)
    for i in range(0, 600, 2):
        store.put(f"k{i}", ANSWER)
    found = store.get_many([f"k{i}" for i in range(600)])  # more than one statement's keys
    assert sorted(found) == sorted(f"k{i}" for i in range(0, 600, 2))
    assert set(found.values()) == {ANSWER}
    assert store.get_many([]) == {}
    store.close()


def test_a_row_repeated_later_is_paid_once_across_flushes(workspace: Workspace) -> None:
    # Each prompt twice, FLUSH_ANSWERS + 88 rows apart: the repeat's lookup made ahead
    # predates the first answer, which by then is journaled, or flushed into SQLite.
    unique = workspace.qa_rows(FLUSH_ANSWERS + 88)
    repeats = [dict(row, id=f"again-{row['id']}") for row in unique]
    data = workspace.write_rows(unique + repeats)
    config = workspace.write_config(run="concurrency = 4")
    output = workspace.root / "out.parquet"
    result = workspace.score(data, config, output)
    assert result.exit_code == 0, result.stderr
    assert workspace.fake.stats().requests == len(unique)
    rows = workspace.read_rows(output)
    half = len(unique)
    assert [r["correctness_score"] for r in rows[half:]] == [
        r["correctness_score"] for r in rows[:half]
    ]


@pytest.mark.parametrize("at", [0, FLUSH_ANSWERS - 1], ids=["first", "at-the-flush"])
def test_a_row_repeated_next_to_itself_is_paid_once(workspace: Workspace, at: int) -> None:
    # Both copies are looked up together, before either is answered; at FLUSH_ANSWERS - 1
    # the first copy's answer is the one that fills the journal and goes to SQLite.
    unique = workspace.qa_rows(at + 10)
    rows = [*unique[: at + 1], dict(unique[at], id="again"), *unique[at + 1 :]]
    data = workspace.write_rows(rows)
    config = workspace.write_config(run="concurrency = 1")
    result = workspace.score(data, config, workspace.root / "out.parquet")
    assert result.exit_code == 0, result.stderr
    assert workspace.fake.stats().requests == len(unique)
