"""`judgekit-fake`: the fake provider as a command, for trying judgekit by hand."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from judgekit.testing.fake_server import DEFAULT_PORT, banner

EXECUTABLE = str(Path(sys.executable).with_name("judgekit-fake"))
README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_it_prints_its_url_and_the_export_line_serves_and_stops_on_ctrl_c() -> None:
    process = subprocess.Popen(
        [EXECUTABLE, "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().rstrip("\n") for _ in range(4)]
        url = lines[2].removeprefix("export JUDGEKIT_FAKE_URL=")
        assert url.startswith("http://127.0.0.1:")
        assert lines == banner(url)
        assert lines[1] == f"listening on {url} (OpenAI: {url}/v1, Anthropic: {url})"
        with urllib.request.urlopen(f"{url}/_stats", timeout=10) as reply:  # loopback only
            assert json.load(reply)["requests"] == 0
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert (process.returncode, out, err) == (0, "stopped\n", "")


def test_a_port_in_use_is_one_line_and_exit_2() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = subprocess.run(
            [EXECUTABLE, "--port", str(port)], capture_output=True, text=True, timeout=30
        )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"error: port {port} on 127.0.0.1 is in use (another judgekit-fake?); stop it, "
        "or pick another port with --port N (0: any free port)\n"
    )


@pytest.mark.parametrize("port", ["-1", "70000"])
def test_a_port_out_of_range_is_refused(port: str) -> None:
    result = subprocess.run([EXECUTABLE, "--port", port], capture_output=True, text=True)
    assert (result.returncode, result.stderr) == (
        2,
        f"error: --port must be between 0 and 65535, got {port}\n",
    )


def test_the_readme_shows_what_it_prints() -> None:
    url = f"http://127.0.0.1:{DEFAULT_PORT}"
    assert "\n".join(["$ judgekit-fake", *banner(url)]) in README
