"""Every command's --help, pinned word for word (tests/help/*.txt), and complete.

The help text is rendered by typer (pinned in pyproject.toml); an upgrade that
changes it fails here instead of reaching users.  After a deliberate change,
rewrite the files with ``JUDGEKIT_WRITE_HELP=1 pytest tests/test_cli_help.py``
and read the diff.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from judgekit.cli import app
from judgekit.testing import fake_server

HELP = Path(__file__).resolve().parent / "help"
WIDTH = "120"  # wide enough that no usage line wraps; fixed so the text is stable


def _help(command: str) -> str:
    args = [command, "--help"] if command else ["--help"]
    result = CliRunner().invoke(app, args, env={"COLUMNS": WIDTH, "TERMINAL_WIDTH": WIDTH})
    assert result.exit_code == 0, result.output
    return "\n".join(line.rstrip() for line in result.stdout.splitlines()).strip("\n") + "\n"


def _compare(name: str, text: str) -> None:
    golden = HELP / f"{name}.txt"
    if os.environ.get("JUDGEKIT_WRITE_HELP"):
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


def _command_names() -> list[str]:
    """ "" (the app itself) and every registered command: a new command is pinned too."""
    group = typer.main.get_command(app)
    return ["", *getattr(group, "commands", {})]


COMMANDS = _command_names()


@pytest.mark.parametrize("command", COMMANDS, ids=[c or "judgekit" for c in COMMANDS])
def test_help_text_is_pinned(command: str) -> None:
    _compare(command or "judgekit", _help(command))


def test_score_help_reads_like_the_tool() -> None:
    text = _help("score")
    assert "Usage: judgekit score [OPTIONS] DATASET" in text
    assert "<bool>" not in text and "{dataset}" not in text
    assert "$JUDGEKIT_CACHE, else" in text and "$XDG_CACHE_HOME/judgekit/cache.sqlite3" in text


def _commands() -> list[Any]:
    """The click commands behind the app (typer vendors click: no import of its own)."""
    group = typer.main.get_command(app)
    return [group, *getattr(group, "commands", {}).values()]


@pytest.mark.parametrize("command", _commands(), ids=lambda c: c.name or "judgekit")
def test_every_argument_and_option_has_help(command: Any) -> None:
    missing = [p.name for p in command.params if not getattr(p, "help", None)]
    assert missing == []


def test_fake_server_help_is_pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", WIDTH)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as stopped:
        fake_server.main(["--help"])
    assert stopped.value.code == 0
    _compare("judgekit-fake", out.getvalue())
