"""The answer cache: what its key hashes, what it stores, where it lives, how it fails:
a held lock, a damaged page, older layouts, no home."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType

import httpx
import pytest
from conftest import stored_keys

from judgekit.cache import (
    WAITING_MAX,
    AnswerCache,
    CachedAnswer,
    CountingCache,
    NoCache,
    default_cache_path,
    request_key,
)
from judgekit.cache_file import LAYOUT_VERSION
from judgekit.errors import CacheError, UsageError
from judgekit.providers.wire import encode_body
from judgekit.records import Reply, Usage

URL = "http://127.0.0.1:8000/v1/chat/completions"
BODY = b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}'

ANSWER = CachedAnswer(
    reply=Reply(
        text='{"score": 0.5}',
        usage=Usage(
            input_tokens=120,
            output_tokens=30,
            cached_input_tokens=64,
            cache_write_tokens=7,
            reasoning_tokens=11,
        ),
        model="judge-2025-01-01",
        response_id="chatcmpl-abc",
    ),
    cost_usd=0.000123,
    latency_ms=45.5,
)


def request(
    method: str = "POST", url: str = URL, body: bytes = BODY, headers: dict[str, str] | None = None
) -> httpx.Request:
    """A request like a provider module builds."""
    return httpx.Request(method, url, content=body, headers=headers)


@pytest.fixture
def cache(tmp_cache: Path) -> Iterator[AnswerCache]:
    """An open cache in a fresh file."""
    store = AnswerCache(tmp_cache)
    yield store
    store.close()


# -- the key -------------------------------------------------------------------------------


def test_the_key_is_a_sha256_hex_digest() -> None:
    key = request_key(request())
    assert len(key) == 64
    assert int(key, 16) >= 0


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer sk-one"},
        {"x-api-key": "sk-ant-two", "anthropic-version": "2023-06-01"},
        {"User-Agent": "judgekit/9", "X-Request-Id": "42"},
    ],
    ids=["bearer", "anthropic-key", "other-headers"],
)
def test_headers_and_keys_never_change_the_key(headers: dict[str, str]) -> None:
    assert request_key(request(headers=headers)) == request_key(request())


@pytest.mark.parametrize(
    "changed",
    [
        request(body=BODY.replace(b"hi", b"hello")),
        request(body=BODY.replace(b'"m"', b'"m2"')),
        request(url=URL.replace("8000", "8001")),
        request(url=URL.replace("chat/completions", "responses")),
        request(method="PUT"),
    ],
    ids=["prompt", "model", "port", "endpoint", "method"],
)
def test_what_changes_the_answer_changes_the_key(changed: httpx.Request) -> None:
    assert request_key(changed) != request_key(request())


@pytest.mark.parametrize(
    "value",
    [
        "plain",
        'caf\u00e9 \u2028 \U0001f600 \x00\x1f\x7f "quoted" back\\slash\n\t',
        0.0,
        -0.0,
        0.7,
        1e-4,
        1e-05,  # Python prints an exponent here, orjson would not
        123456789.125,
        1e16,
        2**63 - 1,
        2**64,  # beyond orjson's integers
        True,
        None,
        MappingProxyType({"nested": [1, 2.5, {"deep": "x"}]}),  # not a dict
        ("a", "tuple"),
    ],
)
def test_request_bodies_are_the_bytes_json_writes_so_old_cache_keys_still_match(
    value: object,
) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "x": value}
    standard = json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=dict)
    assert encode_body(body) == standard.encode()
    schema = {"type": "object", "properties": {"score": {"minimum": 0, "x": value}}}
    body["schema"] = schema  # a judge's schema: the same object on every call
    standard = json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=dict)
    for _ in range(2):  # checked once, then known
        assert encode_body(body, fixed=(schema,)) == standard.encode()


def test_a_lone_surrogate_from_the_data_is_sent_as_u_fffd() -> None:
    # A JSON string in a field (tool calls, a history) may escape half a UTF-16 pair.
    body = {"model": "m", "messages": [{"role": "user", "content": "call \udc80 done \U0001f600"}]}
    assert (
        encode_body(body)
        == (
            '{"model":"m","messages":[{"role":"user","content":"call \ufffd done \U0001f600"}]}'
        ).encode()
    )


def test_a_cache_endpoint_stands_for_scheme_host_and_port() -> None:
    here, there = request(), request(url=URL.replace("8000", "8001"))
    assert request_key(here, "local") == request_key(there, "local")
    assert request_key(here, "local") != request_key(here, "other")
    assert request_key(here, "local") != request_key(here)
    moved = request(url=URL.replace("chat/completions", "responses"))
    assert request_key(moved, "local") != request_key(here, "local")  # the path still counts


# -- the store -----------------------------------------------------------------------------


def test_an_answer_round_trips_with_every_field(cache: AnswerCache) -> None:
    assert cache.get("k") is None
    assert not cache.contains("k")
    cache.put("k", ANSWER)
    assert cache.get("k") == ANSWER
    assert cache.contains("k")


def test_answers_survive_closing_and_are_seen_by_another_connection(tmp_cache: Path) -> None:
    writer = AnswerCache(tmp_cache)
    reader = AnswerCache(tmp_cache)
    try:
        writer.put("k", ANSWER)
        # Committed at once: a concurrent run (or the run after a kill -9) sees it.
        assert reader.get("k") == ANSWER
    finally:
        writer.close()
        reader.close()
    reopened = AnswerCache(tmp_cache)
    try:
        assert reopened.get("k") == ANSWER
    finally:
        reopened.close()


def test_putting_a_key_again_replaces_the_answer(cache: AnswerCache) -> None:
    cache.put("k", ANSWER)
    newer = CachedAnswer(ANSWER.reply, cost_usd=0.5, latency_ms=1.0)
    cache.put("k", newer)
    assert cache.get("k") == newer


def test_a_reply_without_response_id_round_trips(cache: AnswerCache) -> None:
    answer = CachedAnswer(Reply("{}", Usage(), "m", None), 0.0, 0.0)
    cache.put("k", answer)
    assert cache.get("k") == answer


def test_the_store_has_no_column_for_headers_or_keys(cache: AnswerCache, tmp_cache: Path) -> None:
    cache.put("k", ANSWER)
    with sqlite3.connect(tmp_cache) as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(answers)")]
    db.close()
    assert columns == [
        "key",
        "text",
        "model",
        "response_id",
        "input_tokens",
        "output_tokens",
        "cached_input_tokens",
        "cache_write_tokens",
        "reasoning_tokens",
        "cost_usd",
        "latency_ms",
        "created_at",
    ]


def test_missing_parent_directories_are_created(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "cache.sqlite3"
    AnswerCache(path).close()
    assert path.is_file()


def test_a_directory_in_place_of_the_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        AnswerCache(tmp_path)
    assert str(caught.value) == (
        f"{tmp_path}: is a directory, not a cache file; give a file name (e.g. --cache "
        f"{tmp_path / 'cache.sqlite3'}), or use --no-cache"
    )


def test_a_file_in_place_of_the_directory_is_a_usage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(UsageError) as caught:
        AnswerCache(blocker / "cache.sqlite3")
    assert str(caught.value) == (
        f"{blocker / 'cache.sqlite3'}: cannot open the cache "
        f"([Errno 17] File exists: '{blocker}'); use --cache PATH or --no-cache"
    )


def test_a_file_that_is_not_a_database_is_a_usage_error(tmp_cache: Path) -> None:
    tmp_cache.write_bytes(b"this is not sqlite " * 100)
    with pytest.raises(UsageError) as caught:
        AnswerCache(tmp_cache)
    assert str(caught.value) == (
        f"{tmp_cache}: not an answer cache (a cache is an SQLite file, this is not one); "
        "judgekit did not change it: give --cache a new path, or use --no-cache"
    )
    assert tmp_cache.read_bytes() == b"this is not sqlite " * 100


def test_no_cache_remembers_nothing() -> None:
    store = NoCache()
    store.put("k", ANSWER)
    assert store.get("k") is None
    assert not store.contains("k")
    assert store.path is None
    store.close()


# -- where it lives ------------------------------------------------------------------------


def test_judgekit_cache_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("JUDGEKIT_CACHE", str(tmp_path / "mine.db"))
    assert default_cache_path() == tmp_path / "mine.db"


def test_xdg_cache_home_is_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("JUDGEKIT_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_path() == tmp_path / "xdg" / "judgekit" / "cache.sqlite3"


def test_home_cache_is_the_fallback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("JUDGEKIT_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_cache_path() == tmp_path / ".cache" / "judgekit" / "cache.sqlite3"


def test_no_home_and_no_xdg_cache_home_is_an_error_saying_how_to_set_the_place(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("JUDGEKIT_CACHE", "XDG_CACHE_HOME", "HOME"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(CacheError) as caught:
        default_cache_path()
    assert str(caught.value) == (
        "no place for the answer cache: it goes to $XDG_CACHE_HOME/judgekit/cache.sqlite3 or "
        "~/.cache/judgekit/cache.sqlite3, and neither XDG_CACHE_HOME nor HOME is set; set "
        "JUDGEKIT_CACHE=/path/to/cache.sqlite3, or use --cache PATH or --no-cache"
    )


@pytest.mark.parametrize("value", ["soon", "-1", "nan"], ids=["word", "negative", "nan"])
def test_a_lock_wait_that_is_not_seconds_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_cache: Path, value: str
) -> None:
    monkeypatch.setenv("JUDGEKIT_CACHE_WAIT_S", value)
    with pytest.raises(CacheError) as caught:
        AnswerCache(tmp_cache)
    assert str(caught.value) == (
        f"JUDGEKIT_CACHE_WAIT_S={value!r}: not a number of seconds >= 0; unset it or fix it"
    )
    assert not tmp_cache.exists()


# -- another connection holds the write lock -------------------------------------------------


@contextmanager
def write_lock(path: Path) -> Iterator[sqlite3.Connection]:
    """Another connection with an exclusive transaction on ``path``; commit to release."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        yield holder
    finally:
        if holder.in_transaction:
            holder.execute("COMMIT")
        holder.close()


def test_an_answer_waits_in_memory_while_the_lock_is_held_and_is_stored_once_it_frees(
    tmp_cache: Path,
) -> None:
    notices: list[str] = []
    store = AnswerCache(tmp_cache, notices.append)
    with write_lock(tmp_cache) as holder:
        store.put("k", ANSWER)
        store.put("j", ANSWER)
        assert (store.waiting(), store.get("k")) == (2, ANSWER)  # served while it waits
        assert not store.store_waiting()
        holder.execute("COMMIT")
        assert store.store_waiting()
    assert store.waiting() == 0
    assert store.problem(output_written=True) is None
    store.close()
    assert AnswerCache(tmp_cache).get("j") == ANSWER
    assert notices == [
        f"cache {tmp_cache} is locked by another process; answers wait in memory and are "
        "stored when it frees",
        f"cache {tmp_cache}: the lock is free again; 2 answers were stored",
    ]


def test_answers_of_one_loop_turn_are_committed_together_at_the_next(tmp_cache: Path) -> None:
    async def main() -> tuple[list[str], list[str], CachedAnswer | None]:
        store = AnswerCache(tmp_cache)
        store.commit_in_groups(asyncio.get_running_loop().call_soon)
        for key in ("a", "b", "c"):
            store.put(key, ANSWER)
        before = stored_keys(tmp_cache)
        served = store.get("b")  # a pending answer is already an answer
        await asyncio.sleep(0)  # one turn of the loop
        after = stored_keys(tmp_cache)
        store.put("d", ANSWER)
        store.commit_in_groups(None)  # the run ends: what is pending is committed
        store.close()
        return before, after, served

    before, after, served = asyncio.run(main())
    assert (before, after, served) == ([], ["a", "b", "c"], ANSWER)
    assert stored_keys(tmp_cache) == ["a", "b", "c", "d"]


def test_a_group_that_meets_the_lock_waits_in_memory_and_is_stored_once_it_frees(
    tmp_cache: Path,
) -> None:
    async def main() -> int:
        store = AnswerCache(tmp_cache)
        store.commit_in_groups(asyncio.get_running_loop().call_soon)
        with write_lock(tmp_cache) as holder:
            store.put("a", ANSWER)
            store.put("b", ANSWER)
            await asyncio.sleep(0)
            held = store.waiting()
            holder.execute("COMMIT")
        assert store.store_waiting()
        store.commit_in_groups(None)
        store.close()
        return held

    assert asyncio.run(main()) == 2
    assert stored_keys(tmp_cache) == ["a", "b"]


def test_answers_waiting_for_the_lock_are_bounded(tmp_cache: Path) -> None:
    store = AnswerCache(tmp_cache)
    with write_lock(tmp_cache) as holder:
        for i in range(WAITING_MAX + 1):
            store.put(str(i), ANSWER)
        assert store.waiting() == WAITING_MAX
        holder.execute("COMMIT")
        assert store.store_waiting()
    assert store.problem(output_written=True) == (
        f"cache {tmp_cache}: more than {WAITING_MAX} answers waited for another process's write "
        "lock; 1 answer was not stored (they are in the output; a rerun pays for them again); "
        "rerun when that process is done, or use --cache PATH or --no-cache"
    )
    store.close()


def test_a_lock_held_too_long_drops_the_waiting_answers_with_a_problem(tmp_cache: Path) -> None:
    store = AnswerCache(tmp_cache)
    with write_lock(tmp_cache):
        store.put("k", ANSWER)
        store.give_up_waiting(30.0)
        store.put("j", ANSWER)  # storing has stopped: not even tried
    assert store.problem(output_written=False) == (
        f"cache {tmp_cache}: another process held its write lock for more than 30 s; "
        "2 answers were not stored (a rerun pays for them again); rerun when that process is "
        "done, or set JUDGEKIT_CACHE_WAIT_S higher, or use --cache PATH or --no-cache"
    )
    store.close()
    assert AnswerCache(tmp_cache).get("k") is None


def test_a_new_cache_that_stays_locked_is_an_error_before_any_call(
    tmp_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUDGEKIT_CACHE_WAIT_S", "0.1")
    with write_lock(tmp_cache), pytest.raises(CacheError) as caught:
        AnswerCache(tmp_cache)
    assert str(caught.value) == (
        f"{tmp_cache}: another process holds the cache's write lock (waited 0.1 s); "
        "rerun when it is done, or use --cache PATH or --no-cache"
    )


# -- a damaged file --------------------------------------------------------------------------


def test_a_damaged_page_turns_its_lookups_into_misses_and_stops_storing(
    tmp_cache: Path,
) -> None:
    store = AnswerCache(tmp_cache)
    for i in range(200):
        store.put(f"k{i:03d}", ANSWER)
    store.close()
    size = tmp_cache.stat().st_size
    with tmp_cache.open("r+b") as damage:
        damage.seek(size // 2)
        damage.write(b"\xff" * 2048)

    notices: list[str] = []
    store = AnswerCache(tmp_cache, notices.append)
    found = [store.get(f"k{i:03d}") for i in range(200)]
    misses = found.count(None)
    assert 0 < misses < 200
    assert set(found) == {None, ANSWER}  # what still reads, reads right
    for i in range(misses):  # the answers paid for again
        store.put(f"new{i}", ANSWER)
    assert store.get("new0") is None
    assert notices == [
        f"cache {tmp_cache}: the file is damaged (database disk image is malformed); answers "
        "from now on go to the output only; delete it, or use --cache PATH or --no-cache"
    ]
    assert store.problem(output_written=True) == (
        f"cache {tmp_cache}: the file is damaged (database disk image is malformed); "
        f"{misses} answers were not stored (they are in the output; a rerun pays for them "
        "again); delete it, or use --cache PATH or --no-cache"
    )
    store.close()


# -- layouts ---------------------------------------------------------------------------------


def _database(path: Path, *statements: str) -> None:
    with sqlite3.connect(path) as db:
        for statement in statements:
            db.execute(statement)
    db.close()


def test_a_new_cache_is_stamped_with_its_layout_version(
    cache: AnswerCache, tmp_cache: Path
) -> None:
    with sqlite3.connect(tmp_cache) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (LAYOUT_VERSION,)
    db.close()


def test_an_older_layout_is_upgraded_keeping_its_answers(tmp_cache: Path) -> None:
    _database(
        tmp_cache,
        "CREATE TABLE answers (key TEXT PRIMARY KEY, text TEXT NOT NULL, model TEXT NOT NULL,"
        " input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cost_usd REAL NOT NULL)",
        "INSERT INTO answers VALUES ('k', '{}', 'm', 10, 2, 0.5)",
    )
    notices: list[str] = []
    store = AnswerCache(tmp_cache, notices.append)
    assert store.get("k") == CachedAnswer(Reply("{}", Usage(10, 2), "m", None), 0.5, 0.0)
    store.put("j", ANSWER)
    assert store.get("j") == ANSWER
    store.close()
    assert notices == [
        f"cache {tmp_cache}: upgraded from an older layout (added response_id, "
        "cached_input_tokens, cache_write_tokens, reasoning_tokens, latency_ms, created_at); "
        "its answers are kept"
    ]
    notices.clear()
    AnswerCache(tmp_cache, notices.append).close()
    assert notices == []  # upgraded once


def test_unreadable_layouts_are_set_aside_one_after_another(tmp_cache: Path) -> None:
    for number, aside in enumerate(["cache.sqlite3.old", "cache.sqlite3.old-2"]):
        _database(tmp_cache, f"CREATE TABLE answers (key TEXT PRIMARY KEY, v{number} BLOB)")
        notices: list[str] = []
        AnswerCache(tmp_cache, notices.append).close()
        assert notices == [
            f"cache {tmp_cache}: written in a layout this judgekit cannot read (its answers "
            "table has no text, model, input_tokens, output_tokens, cost_usd); moved it to "
            f"{tmp_cache.with_name(aside)} and started a new cache"
        ]
        with sqlite3.connect(tmp_cache.with_name(aside)) as db:
            assert f"v{number}" in [row[1] for row in db.execute("PRAGMA table_info(answers)")]
        db.close()
        tmp_cache.unlink()


@pytest.mark.parametrize(
    ("statements", "message"),
    [
        (
            ["CREATE TABLE answers (key TEXT PRIMARY KEY)", "PRAGMA user_version = 7"],
            "written by a newer judgekit (cache layout 7; this one reads 1); upgrade judgekit, "
            "or use --cache PATH or --no-cache",
        ),
        (
            ["CREATE TABLE invoices (id INTEGER)", "CREATE TABLE clients (id INTEGER)"],
            "an SQLite database but not a judgekit cache (tables: clients, invoices); "
            "use --cache PATH or --no-cache",
        ),
    ],
    ids=["newer-judgekit", "another-program"],
)
def test_a_database_it_must_not_touch_is_an_error(
    tmp_cache: Path, statements: list[str], message: str
) -> None:
    _database(tmp_cache, *statements)
    before = tmp_cache.read_bytes()
    with pytest.raises(CacheError) as caught:
        AnswerCache(tmp_cache)
    assert str(caught.value) == f"{tmp_cache}: {message}"
    assert tmp_cache.read_bytes() == before


# -- the dry run's view ----------------------------------------------------------------------


def test_counting_never_creates_a_cache_and_reads_an_existing_one(tmp_cache: Path) -> None:
    view = CountingCache(tmp_cache)
    assert not view.contains("k")
    view.close()
    assert not tmp_cache.exists()
    assert not tmp_cache.parent.joinpath("cache.sqlite3-wal").exists()
    store = AnswerCache(tmp_cache)
    store.put("k", ANSWER)
    store.close()
    view = CountingCache(tmp_cache)
    assert (view.contains("k"), view.contains("j")) == (True, False)
    view.close()
