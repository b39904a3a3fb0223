"""Shared fixtures: a clean environment for every test and the loopback fake provider."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner, Result

# rich fixes a console's width when it is created if COLUMNS is set (pytest-xdist sets it to
# 80), and judgekit.cli creates its consoles on import: drop it first, so that each test's
# COLUMNS is read when the console prints.
os.environ.pop("COLUMNS", None)

from judgekit.cli import app
from judgekit.presets import ENVIRONMENT_VARIABLES
from judgekit.testing.fake_provider import FakeProvider
from judgekit.testing.fake_tls import Certificates, make_certificates, openssl_available

_PROXY_VARIABLES = frozenset(
    {"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "SSL_CERT_FILE", "SSL_CERT_DIR"}
)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No real API key, proxy, CA bundle or provider setting leaks into a test; caches go
    under tmp_path, not $HOME."""
    for name in list(os.environ):
        if (
            name.endswith("_API_KEY")
            or name.upper() in _PROXY_VARIABLES
            or name in ENVIRONMENT_VARIABLES
        ):
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


def stored_keys(path: Path) -> list[str]:
    """The keys committed to a cache file's SQLite, sorted, as another process sees them."""
    reader = sqlite3.connect(path)
    try:
        return sorted(row[0] for row in reader.execute("SELECT key FROM answers"))
    finally:
        reader.close()


# -- end-to-end runs of the CLI against the fake ---------------------------------------------

SPEC_RESULT_TYPES: list[tuple[str, pa.DataType]] = [
    ("score", pa.float64()),
    ("passed", pa.bool_()),
    ("reasoning", pa.string()),
    ("confidence", pa.float64()),
    ("error", pa.string()),
    ("input_tokens", pa.int64()),
    ("output_tokens", pa.int64()),
    ("cost_usd", pa.float64()),
    ("latency_ms", pa.float64()),
    ("model", pa.string()),
    ("response_id", pa.string()),
]
"""SPEC section 6 per judge, in order, without ``criteria`` (which follows ``confidence``
when set).  Written out here, not taken from judgekit.output: tests pin the contract."""

DEFAULT_JUDGES = """
[[judges]]
name = "correctness"
connection = "fake"
template = "correctness"
threshold = 0.5
[judges.columns]
input = "question"
output = "answer"
expected = "reference"
"""
"""One LLM judge on the fake: token F1 of ``answer`` against ``reference``, pass at 0.5."""

EXACT_JUDGE = """
[[judges]]
name = "same"
type = "exact"
[judges.columns]
output = "answer"
expected = "reference"
"""
"""One free rule judge: ``same`` = answer equals reference."""


@dataclass
class Workspace:
    """A temp directory with datasets and configs aimed at the fake, and the CLI to run."""

    root: Path
    fake: FakeProvider
    judges: ClassVar[str] = DEFAULT_JUDGES
    key_env: str = "JUDGEKIT_TEST_API_KEY"
    key: str = "sk-test-SECRET-1234"
    """A recognisable key: tests grep every output for it."""

    @property
    def cache(self) -> Path:
        """The cache file ``score`` uses here unless told otherwise."""
        return self.root / "cache.sqlite3"

    @staticmethod
    def qa_rows(n: int) -> list[dict[str, Any]]:
        """``n`` question/answer rows; even rows answer like their reference, odd ones do not."""
        rows = []
        for i in range(n):
            reference = f"The answer to question {i} is {i * 7} apples."
            answer = reference if i % 2 == 0 else f"I think it is {i + 1000} bananas, maybe."
            question = f"How many apples in basket {i}?"
            rows.append(
                {
                    "id": f"row-{i:03d}",
                    "question": question,
                    "answer": answer,
                    "reference": reference,
                }
            )
        return rows

    def write_rows(self, rows: Sequence[Mapping[str, Any]], name: str = "data.jsonl") -> Path:
        """Write ``rows`` as JSONL and return the path."""
        path = self.root / name
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
        return path

    def write_config(
        self,
        *,
        run: str = "",
        connection: str = "",
        judges: str = DEFAULT_JUDGES,
        prices: bool = True,
        name: str = "judges.toml",
    ) -> Path:
        """A config with one chat_completions connection ``fake`` (priced unless told not)
        plus the extra ``run``, ``connection`` and ``judges`` TOML."""
        price_lines = "input_usd_per_mtok = 0.15\noutput_usd_per_mtok = 0.60\n" if prices else ""
        text = (
            f"[run]\n{run}\n"
            "[connections.fake]\n"
            'protocol = "chat_completions"\n'
            f'base_url = "{self.fake.openai_base_url}"\n'
            'model = "fake-judge"\n'
            f'api_key_env = "{self.key_env}"\n'
            f"{price_lines}{connection}\n{judges}"
        )
        path = self.root / name
        path.write_text(text, encoding="utf-8")
        return path

    def invoke(self, *args: str) -> Result:
        """Run ``judgekit ARGS`` in-process."""
        return CliRunner().invoke(app, list(args))

    def score_args(self, dataset: Path, config: Path, output: Path, *extra: str) -> list[str]:
        """The arguments of ``judgekit score`` with this workspace's cache."""
        paths = [str(dataset), "-c", str(config), "-o", str(output), "--cache", str(self.cache)]
        return ["score", *paths, *extra]

    def score(self, dataset: Path, config: Path, output: Path, *extra: str) -> Result:
        """Run ``judgekit score`` in-process with this workspace's cache."""
        return self.invoke(*self.score_args(dataset, config, output, *extra))

    def environ(self) -> dict[str, str]:
        """The environment for a ``judgekit`` subprocess (the key set, nothing else leaked)."""
        return dict(os.environ)

    @staticmethod
    def read_rows(path: Path) -> list[dict[str, Any]]:
        """The rows of a Parquet output, as dicts."""
        rows: list[dict[str, Any]] = pq.read_table(path).to_pylist()
        return rows

    def sent_bodies(self) -> list[str]:
        """The bodies the fake received so far, in arrival order, as canonical JSON."""
        return [json.dumps(r.body, sort_keys=True) for r in self.fake.requests]

    @staticmethod
    def table(text: str) -> list[list[str]]:
        """The body rows of the rich tables in ``text``, as lists of stripped cells."""
        return [
            [cell.strip() for cell in line.strip().strip("│").split("│")]
            for line in text.splitlines()
            if line.strip().startswith("│")
        ]

    @staticmethod
    def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
        """Poll ``condition`` until it holds; fail the test (never hang) when it does not."""
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}")
            time.sleep(0.005)

    @staticmethod
    def executable() -> str:
        """The installed ``judgekit`` script next to this interpreter."""
        return str(Path(sys.executable).with_name("judgekit"))


@pytest.fixture
def workspace(fake: FakeProvider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """A workspace whose connection's key is set; wide columns so rich never wraps a line."""
    ws = Workspace(tmp_path, fake)
    monkeypatch.setenv(ws.key_env, ws.key)
    monkeypatch.setenv("COLUMNS", "250")
    return ws


@pytest.fixture(scope="module")
def module_workspace(
    _fake_server: FakeProvider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Workspace]:
    """A workspace for one run shared by a module's tests (they read its files only);
    the fake is reset around it."""
    ws = Workspace(tmp_path_factory.mktemp("shared"), _fake_server)
    _fake_server.reset()
    with pytest.MonkeyPatch.context() as env:
        env.setenv(ws.key_env, ws.key)
        yield ws
    _fake_server.reset()


# -- TLS: a private CA and the fake on https://127.0.0.1 ---------------------------------------


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A private CA and a certificate it signs for 127.0.0.1 (made with the openssl command)."""
    if not openssl_available():
        pytest.skip("needs the openssl command")
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def tls_fake(certificates: Certificates) -> Iterator[FakeProvider]:
    """The fake provider on https://127.0.0.1, its certificate signed by ``certificates``: a
    client trusts it only with ``SSL_CERT_FILE`` naming ``certificates.ca``."""
    with FakeProvider(ssl_context=certificates.server_context()) as server:
        yield server
