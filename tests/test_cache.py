"""The answer cache: what its key hashes, what it stores, where it lives, how it fails."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from judgekit.cache import AnswerCache, CachedAnswer, NoCache, default_cache_path, request_key
from judgekit.errors import UsageError
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
        f"{tmp_path}: cannot open the cache (unable to open database file); "
        "use --cache PATH or --no-cache"
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
        f"{tmp_cache}: cannot open the cache (file is not a database); "
        "use --cache PATH or --no-cache"
    )


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
