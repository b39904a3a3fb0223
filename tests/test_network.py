"""Corporate networks (engine.network): proxies from the environment or the connection, NO_PROXY
as curl reads it, and a custom CA bundle (SSL_CERT_FILE / SSL_CERT_DIR) for TLS."""

from __future__ import annotations

import base64
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from judgekit.engine.network import ProxyChoice, bypasses, choose_proxy, needs_tls, tls_context
from judgekit.errors import ConfigError
from judgekit.testing.fake_provider import FakeProvider
from judgekit.testing.fake_proxy import ForwardProxy
from judgekit.testing.fake_tls import Certificates

if TYPE_CHECKING:
    from conftest import Workspace

# -- choose_proxy: pure ----------------------------------------------------------------------

API = "https://api.example.com/v1"
CHOICES = [
    ("nothing set", API, None, {}, None),
    ("HTTPS_PROXY", API, None, {"HTTPS_PROXY": "http://p:3128"}, ("http://p:3128", "HTTPS_PROXY")),
    ("lowercase wins", API, None, {"https_proxy": "http://a:1", "HTTPS_PROXY": "http://b:2"},
     ("http://a:1", "https_proxy")),
    ("http target reads HTTP_PROXY", "http://h/v1", None,
     {"HTTP_PROXY": "http://p:1", "HTTPS_PROXY": "http://q:2"}, ("http://p:1", "HTTP_PROXY")),
    ("ALL_PROXY as fallback", API, None, {"ALL_PROXY": "http://p:9"}, ("http://p:9", "ALL_PROXY")),
    ("bare host:port is http", API, None, {"HTTPS_PROXY": "p:3128"},
     ("http://p:3128", "HTTPS_PROXY")),
    ("NO_PROXY domain", API, None, {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "example.com"}, None),
    ("NO_PROXY *", API, None, {"HTTPS_PROXY": "http://p:1", "no_proxy": "*"}, None),
    ("NO_PROXY other", API, None, {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "localhost,.corp"},
     ("http://p:1", "HTTPS_PROXY")),
    ("connection's own proxy wins", API, "http://mine:8080", {"HTTPS_PROXY": "http://p:1"},
     ("http://mine:8080", "connections.c.proxy")),
    ("connection says none", API, "", {"HTTPS_PROXY": "http://p:1"}, None),
    ("empty variable is unset", API, None, {"HTTPS_PROXY": " "}, None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("base_url", "configured", "environ", "expected"),
    [case[1:] for case in CHOICES],
    ids=[case[0] for case in CHOICES],
)
def test_choose_proxy(
    base_url: str, configured: str | None, environ: dict[str, str], expected: tuple[str, str]
) -> None:
    choice = choose_proxy("c", base_url, configured, environ)
    assert choice == (None if expected is None else ProxyChoice(*expected))


BYPASS = [
    ("exact host", "api.example.com", "api.example.com", None, True),
    ("parent domain", "example.com", "api.example.com", None, True),
    ("leading dot", ".example.com", "api.example.com", None, True),
    ("leading star-dot", "*.example.com", "api.example.com", None, True),
    ("not a suffix of a label", "ample.com", "api.example.com", None, False),
    ("ip", "10.1.2.3", "10.1.2.3", None, True),
    ("cidr", "10.0.0.0/8", "10.1.2.3", None, True),
    ("cidr miss", "192.168.0.0/16", "10.1.2.3", None, False),
    ("ipv6", "::1", "[::1]", None, True),
    ("port must match", "example.com:8443", "example.com", 443, False),
    ("port matches", "example.com:443", "example.com", 443, True),
    ("list with spaces", "a.com, example.com", "x.example.com", None, True),
    ("star", "*", "anything", None, True),
]


@pytest.mark.parametrize(
    ("no_proxy", "host", "port", "expected"),
    [case[1:] for case in BYPASS],
    ids=[case[0] for case in BYPASS],
)
def test_no_proxy_as_curl_reads_it(
    no_proxy: str, host: str, port: int | None, expected: bool
) -> None:
    assert bypasses(no_proxy, host, port) is expected


def test_a_socks_proxy_is_refused_not_bypassed() -> None:
    with pytest.raises(ConfigError) as caught:
        choose_proxy("c", API, None, {"ALL_PROXY": "socks5://user:pw@p:1080"})
    assert str(caught.value) == (
        "ALL_PROXY: judgekit goes through http:// and https:// proxies, not socks5:// ones; "
        'set connections.<name>.proxy to an HTTP proxy, or to "" to connect directly'
    )


def test_a_missing_ca_bundle_is_a_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    with pytest.raises(ConfigError) as caught:
        tls_context({"SSL_CERT_FILE": str(missing)})
    assert str(caught.value) == (
        f"SSL_CERT_FILE={missing}: no such file; point it at your CA bundle or unset it"
    )


# -- end to end through a forward proxy on 127.0.0.1 -----------------------------------------


@pytest.fixture
def proxy() -> Iterator[ForwardProxy]:
    """A forward proxy counting what passes through."""
    with ForwardProxy() as server:
        yield server


def score_ok(ws: Workspace, config: Path, rows: int = 3) -> None:
    output = ws.root / "out.parquet"
    result = ws.score(ws.write_rows(ws.qa_rows(rows)), config, output)
    assert result.exit_code == 0, result.stderr
    assert [r["correctness_error"] for r in ws.read_rows(output)] == [None] * rows


def test_http_proxy_from_the_environment_is_used(
    workspace: Workspace, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    score_ok(workspace, workspace.write_config(run="concurrency = 1"))
    target = f"POST {workspace.fake.openai_base_url}/chat/completions"
    assert proxy.seen == (target,) * 3
    assert workspace.fake.stats().requests == 3


def test_proxy_credentials_go_to_the_proxy_only(
    workspace: Workspace, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("http_proxy", proxy.url.replace("://", "://judge:s3cret@"))
    score_ok(workspace, workspace.write_config(run="concurrency = 1"), rows=1)
    sent = proxy.headers[0]["proxy-authorization"]
    assert base64.b64decode(sent.removeprefix("Basic ")) == b"judge:s3cret"
    assert "proxy-authorization" not in workspace.fake.requests[0].headers


def test_no_proxy_sends_a_host_direct(
    workspace: Workspace, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    score_ok(workspace, workspace.write_config())
    assert proxy.seen == ()


def test_a_connections_own_proxy_wins_over_the_environment(
    workspace: Workspace, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    score_ok(workspace, workspace.write_config(connection=f'proxy = "{proxy.url}"'))
    assert len(proxy.seen) == 3
    direct = workspace.write_config(connection='proxy = ""')
    score_ok(workspace, direct)
    assert len(proxy.seen) == 3  # nothing more went through it


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_a_proxy_that_is_not_there_stops_the_run_without_showing_its_password(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = closed_port()
    monkeypatch.setenv("HTTP_PROXY", f"http://judge:s3cret@127.0.0.1:{port}")
    output = workspace.root / "out.parquet"
    result = workspace.score(
        workspace.write_rows(workspace.qa_rows(5)), workspace.write_config(), output
    )
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: connection 'fake': cannot reach the proxy http://127.0.0.1:{port} (from "
        "HTTP_PROXY): connection refused; is the proxy running? check HTTP_PROXY\n"
    )
    assert not output.exists()


# -- TLS: a private CA in SSL_CERT_FILE, directly and through a CONNECT tunnel --------------


def tls_config(ws: Workspace, fake: FakeProvider) -> Path:
    config = ws.write_config(run="concurrency = 2")
    config.write_text(config.read_text().replace(ws.fake.openai_base_url, fake.openai_base_url))
    return config


def test_a_ca_bundle_in_ssl_cert_file_is_trusted(
    workspace: Workspace,
    tls_fake: FakeProvider,
    certificates: Certificates,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates.ca))
    tls_fake.reset()
    score_ok(workspace, tls_config(workspace, tls_fake))
    assert tls_fake.stats().by_status == {200: 3}


def test_a_ca_directory_in_ssl_cert_dir_is_trusted(
    workspace: Workspace,
    tls_fake: FakeProvider,
    certificates: Certificates,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # OpenSSL looks a CA up in a directory by its subject hash: <hash>.0
    import subprocess

    subject_hash = subprocess.run(
        ["openssl", "x509", "-hash", "-noout", "-in", str(certificates.ca)],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    directory = tmp_path / "certs"
    directory.mkdir()
    (directory / f"{subject_hash}.0").write_bytes(certificates.ca.read_bytes())
    monkeypatch.setenv("SSL_CERT_DIR", str(directory))
    score_ok(workspace, tls_config(workspace, tls_fake), rows=1)


def test_https_goes_through_the_proxy_in_a_tunnel(
    workspace: Workspace,
    tls_fake: FakeProvider,
    certificates: Certificates,
    proxy: ForwardProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates.ca))
    monkeypatch.setenv("HTTPS_PROXY", proxy.url.replace("://", "://judge:s3cret@"))
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")  # not for https
    score_ok(workspace, tls_config(workspace, tls_fake))
    host = tls_fake.url.removeprefix("https://")
    assert set(proxy.seen) == {f"CONNECT {host}"}
    basic = "Basic " + base64.b64encode(b"judge:s3cret").decode()
    assert {h["proxy-authorization"] for h in proxy.headers} == {basic}


@pytest.mark.parametrize(
    ("urls", "expected"),
    [
        (["http://127.0.0.1:8000/v1", "HTTP://proxy:3128"], False),
        (["http://127.0.0.1:8000/v1", "https://judge.example/v1"], True),
        (["http://127.0.0.1:8000/v1", "socks5://proxy:1080"], True),
        ([], False),
    ],
    ids=["all-plain-http", "one-https", "other-scheme", "none"],
)
def test_needs_tls_only_when_a_url_is_not_plain_http(urls: list[str], expected: bool) -> None:
    # Plain-http runs skip loading the CA bundle (a fixed ~0.1-0.4 s of CPU per run).
    assert needs_tls(urls) is expected
