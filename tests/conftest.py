"""Shared fixtures: a clean environment for every test and the loopback fake provider."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from judgekit.testing.fake_provider import FakeProvider

_PROXY_VARIABLES = frozenset({"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"})


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No real API key or proxy leaks into a test; caches go under tmp_path, not $HOME."""
    for name in list(os.environ):
        if name.endswith("_API_KEY") or name.upper() in _PROXY_VARIABLES:
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))


@pytest.fixture(scope="session")
def _fake_server() -> Iterator[FakeProvider]:
    """One server per test process (each pytest-xdist worker is its own process)."""
    with FakeProvider() as server:
        yield server


@pytest.fixture
def fake(_fake_server: FakeProvider) -> Iterator[FakeProvider]:
    """The running fake provider with default settings, zero counters, no recordings."""
    _fake_server.reset()
    yield _fake_server
    # Release anything a test left hanging before the next test starts.
    _fake_server.reset()


@pytest.fixture
def tmp_cache(tmp_path: Path) -> Path:
    """A path for a cache file under tmp_path (the file does not exist yet)."""
    return tmp_path / "cache.sqlite3"
