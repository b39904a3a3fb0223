"""A server that is not there stops the run (exit 2, naming the connection, the URL and the
fix), as a 401 does; a connection that answered keeps retrying drops (engine.connections)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from judgekit.presets import default_base_url
from judgekit.testing.fake_provider import FakeProvider

if TYPE_CHECKING:
    from conftest import Workspace


def aimed_at(ws: Workspace, base_url: str, *, protocol: str = "chat_completions") -> Path:
    """The workspace's config with its connection's base_url (and protocol) replaced."""
    config = ws.write_config(run="max_error_rate = 1.0", connection="max_retries = 3")
    text = config.read_text().replace(ws.fake.openai_base_url, base_url)
    config.write_text(text.replace('"chat_completions"', f'"{protocol}"'))
    return config


def stops(ws: Workspace, config: Path, rows: int = 4) -> str:
    """Run ``score``; check it stopped with exit 2 and wrote nothing; its error line."""
    output = ws.root / "out.parquet"
    result = ws.score(ws.write_rows(ws.qa_rows(rows)), config, output)
    assert result.exit_code == 2, result.stderr
    assert not output.exists()
    assert "Traceback" not in result.stderr
    line: str = result.stderr.splitlines()[-1]
    return line


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_nothing_listening_stops_the_run(workspace: Workspace) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    assert stops(workspace, aimed_at(workspace, url), rows=20) == (
        f"error: connection 'fake': nothing answers at {url} (connection refused); "
        "is the server running? check the port in base_url"
    )


def test_an_unknown_host_stops_the_run(workspace: Workspace) -> None:
    # .invalid never resolves (RFC 6761): the resolver fails without asking the network.
    url = "http://judge.nowhere.invalid/v1"
    assert stops(workspace, aimed_at(workspace, url)) == (
        f"error: connection 'fake': cannot resolve the host of {url} (host name could not be "
        "resolved); check base_url (and the network or VPN)"
    )


NO_API = {
    "no /v1 (the server's own 404)": ("", "chat_completions", 0),
    "404 page": ("/v1", "chat_completions", 404),
    "405 page": ("/v1", "responses", 405),
    "anthropic 404": ("", "anthropic", 404),
}


@pytest.mark.parametrize(("path", "protocol", "status"), NO_API.values(), ids=NO_API.keys())
def test_no_api_at_the_url_stops_the_run(
    workspace: Workspace, path: str, protocol: str, status: int
) -> None:
    workspace.fake.settings.no_api_status = status
    url = workspace.fake.url + path
    line = stops(workspace, aimed_at(workspace, url, protocol=protocol), rows=100)
    endpoint = {
        "chat_completions": "/chat/completions",
        "responses": "/responses",
        "anthropic": "/v1/messages",
    }[protocol]
    answered = "HTTP 405 Method Not Allowed" if status == 405 else "HTTP 404 Not Found"
    fix = {
        "": f'did you mean base_url = "{workspace.fake.url}/v1"?',
        "/v1": f'check base_url and protocol = "{protocol}"',
    }[path]
    if protocol == "anthropic":
        fix = f"check base_url (the API root, e.g. {default_base_url('anthropic')})"
    assert line == (
        f"error: connection 'fake': no API at {url}: POST {path}{endpoint} answered "
        f"{answered}; {fix}"
    )
    # Stopped at the first answers: one concurrency's worth (32), not one per row, no retry.
    # (Counted by path: under load, a request the previous case sent as it stopped can
    # reach the shared fake after the reset between tests.)
    assert workspace.fake.stats().by_path.get(f"{path}{endpoint}", 0) <= 32


def test_a_redirect_stops_the_run_and_names_where_it_points(workspace: Workspace) -> None:
    # http:// for a server that wants https://: every request answered 301.
    secure = workspace.fake.url.replace("http://", "https://")
    workspace.fake.settings.redirect_to = secure
    url = workspace.fake.openai_base_url
    assert stops(workspace, aimed_at(workspace, url)) == (
        f"error: connection 'fake': POST /v1/chat/completions at {url} redirects to "
        f"{secure}/v1/chat/completions (HTTP 301 Moved Permanently); judgekit follows no "
        f'redirect: set base_url to where the API is (did you mean base_url = "{secure}/v1"?)'
    )


def test_an_untrusted_certificate_stops_the_run(
    workspace: Workspace, tls_fake: FakeProvider
) -> None:
    url = tls_fake.openai_base_url
    assert stops(workspace, aimed_at(workspace, url)) == (
        f"error: connection 'fake': {url}: the server's TLS certificate is not trusted "
        "(unable to get local issuer certificate); if a private CA or a corporate proxy "
        "signs it, set SSL_CERT_FILE to a PEM bundle holding that CA"
    )


def test_dropped_connections_are_retried_not_taken_for_a_missing_server(
    workspace: Workspace,
) -> None:
    # Something listens and drops the connection: a flaky network, not a wrong URL.
    workspace.fake.settings.drop_first_n = 3
    config = workspace.write_config(run="concurrency = 2", connection="max_retries = 3")
    output = workspace.root / "out.parquet"
    result = workspace.score(workspace.write_rows(workspace.qa_rows(6)), config, output)
    assert result.exit_code == 0, result.stderr
    assert [r["correctness_error"] for r in workspace.read_rows(output)] == [None] * 6
    assert workspace.fake.stats().requests == 9


def test_a_drop_in_the_middle_of_a_healthy_run_is_retried(workspace: Workspace) -> None:
    # The server answered, then went away for a moment: the rows are retried, not lost.
    data = workspace.write_rows(workspace.qa_rows(8))
    config = workspace.write_config(run="concurrency = 1", connection="max_retries = 3")
    output = workspace.root / "out.parquet"
    assert workspace.score(data, config, output, "--limit", "4").exit_code == 0
    workspace.fake.settings.drop_first_n = 2
    result = workspace.score(data, config, output)
    assert result.exit_code == 0, result.stderr
    assert [r["correctness_error"] for r in workspace.read_rows(output)] == [None] * 8
    assert workspace.fake.stats().requests == 4 + 4 + 2
