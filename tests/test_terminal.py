"""What reaches the user's screen, file or pipe: no wrapping off a terminal, tables on a
narrow terminal, closed pipes, ``TERM=dumb`` and encodings that cannot hold a character.

These run the installed ``judgekit`` as a subprocess: pipes, terminals and encodings are
properties of a real process's standard streams."""

from __future__ import annotations

import os
import pty
import re
import select
import sqlite3
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow.parquet as pq
import pytest
from rich.console import Console
from rich.table import Table

from judgekit.templates import TEMPLATES, describe
from judgekit.terminal import ascii_stand_in, fit

if TYPE_CHECKING:
    from conftest import Workspace

LABELLED_JUDGE = """
[[judges]]
name = "correctness"
connection = "fake"
template = "correctness"
threshold = 0.5
human_label = "human"
[judges.columns]
input = "question"
output = "answer"
expected = "reference"
"""

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
"""A terminal control sequence (colour, cursor)."""

NO_PRICE_NOTICE = (
    "judgekit: judge 'correctness': no known price for model 'fake-judge'; "
    "correctness_cost_usd will be null (set input_usd_per_mtok and output_usd_per_mtok "
    "on its connection)"
)


def run(ws: Workspace, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``judgekit ARGS`` with stdout and stderr to pipes (not a terminal), COLUMNS=80."""
    return subprocess.run(
        [ws.executable(), *args],
        env=ws.environ() | {"COLUMNS": "80"} | env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def labelled_rows(ws: Workspace, n: int) -> Path:
    """``n`` QA rows with a human label that agrees with the fake on even rows."""
    rows = [row | {"human": "pass" if i % 4 else "fail"} for i, row in enumerate(ws.qa_rows(n))]
    return ws.write_rows(rows)


# -- 9.3: output that is not a terminal is never wrapped -----------------------------------


def test_templates_name_redirected_is_the_prompt_exactly(workspace: Workspace) -> None:
    result = run(workspace, "templates", "correctness")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == describe(TEMPLATES["correctness"]) + "\n"
    assert max(len(line) for line in result.stdout.splitlines()) > 200  # the system prompt


def test_templates_table_redirected_keeps_each_row_on_one_line(workspace: Workspace) -> None:
    result = run(workspace, "templates")
    assert result.returncode == 0
    rows = workspace.table(result.stdout)
    assert [row[0] for row in rows] == list(TEMPLATES)
    assert [row[4] for row in rows] == [t.description for t in TEMPLATES.values()]


def test_score_warnings_retries_and_summary_redirected_keep_lines_whole(
    workspace: Workspace,
) -> None:
    workspace.fake.settings.fail_5xx_first_n = 1  # one retry line (a 429 is a wait line)
    data = workspace.write_rows(workspace.qa_rows(2))
    config = workspace.write_config(prices=False)
    deep = workspace.root / ("a-directory-with-a-long-name-" * 3) / "scored-output.parquet"
    result = run(workspace, *workspace.score_args(data, config, deep, "-v"))
    assert (result.returncode, result.stdout) == (0, "")
    lines = result.stderr.splitlines()
    assert lines[0] == NO_PRICE_NOTICE
    retries = [line for line in lines if line.startswith("judgekit: connection 'fake'")]
    assert len(retries) == 1
    assert retries[0].endswith("; retry 1/5")
    assert f"│ output     │ {deep} │" in lines
    # Rich pads a table's title to the table's width: off a terminal, no line ends in blanks.
    assert "judgekit summary" in lines
    assert [line for line in lines if line.endswith(" ")] == []


def test_status_lines_under_cron_are_whole_lines(workspace: Workspace) -> None:
    """Not a terminal: one status line every 5 s, never wrapped at COLUMNS=80."""
    workspace.fake.settings.hang_first_n = 1  # the run waits until a status line is out
    data = workspace.write_rows(workspace.qa_rows(3))
    config = workspace.write_config(run="budget_usd = 2.5")
    args = workspace.score_args(data, config, workspace.root / "o.parquet")
    with subprocess.Popen(
        [workspace.executable(), *args],
        env=workspace.environ() | {"COLUMNS": "80"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stderr is not None
        first = process.stderr.readline()
        workspace.fake.reset()  # release the hung request: its retry finishes the run
        rest = process.stderr.read()
        assert process.wait(timeout=60) == 0
    status = re.compile(
        r"rows [0-3]/3 · judgements [0-3]/3 · [0-9.]+ req/s · tokens [0-9,]+ · "
        r"spend \$[0-9.]+/\$2\.5 · cached 0 · errors 0 · eta \S+\n"
    )
    assert status.fullmatch(first), first
    assert len(first) > 80
    assert "judgekit summary" in rest


def test_a_narrow_terminal_shows_a_wide_table_as_blocks() -> None:
    table = Table(title="built-in templates")
    for header in ("name", "needs", "what it judges"):
        table.add_column(header)
    table.add_row("faithfulness", "output, context", "Is every claim supported by the context?")
    console = Console(width=30, force_terminal=True, color_system=None, record=True)
    console.print(fit(table, console))
    assert [line.rstrip() for line in console.export_text().splitlines()] == [
        "built-in templates",
        "faithfulness",
        "  needs: output, context",
        "  what it judges: Is every",
        "claim supported by the",
        "context?",
    ]
    wide = Console(width=120, force_terminal=True)
    assert fit(table, wide) is table
    redirected = Console(width=30, force_terminal=False)
    assert fit(table, redirected) is table


def test_a_narrow_terminal_shows_the_summary_as_lines(workspace: Workspace) -> None:
    data = workspace.write_rows(workspace.qa_rows(2))
    config = workspace.write_config()
    output = workspace.root / "o.parquet"
    code, screen = in_terminal(workspace, *workspace.score_args(data, config, output), COLUMNS="30")
    assert code == 0
    text = ANSI.sub("", screen)
    assert "rows: 2/2" in text.splitlines()
    assert f"output: {output}" in text.replace("\n", "")


# -- 10.3: a closed pipe never aborts a run and never becomes a silent exit 1 ----------------


def closed_pipe_run(ws: Workspace, args: list[str], *, merge_stderr: bool) -> tuple[int, str]:
    """Run with stdout (and stderr too when ``merge_stderr``, as ``2>&1 | head``) to a pipe
    whose reader has gone; return the exit code and whatever reached stderr otherwise."""
    process = subprocess.Popen(
        [ws.executable(), *args],
        env=ws.environ(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    process.stdout.close()  # the reader goes away before judgekit writes a byte
    _, stderr = process.communicate(timeout=120)
    return process.returncode, stderr or ""


@pytest.mark.parametrize(
    ("fail_under", "code"), [("0", 0), ("1", 1)], ids=["passes", "fails-under"]
)
def test_agreement_into_a_closed_pipe_exits_with_its_own_code(
    workspace: Workspace, fail_under: str, code: int
) -> None:
    data = labelled_rows(workspace, 8)
    config = workspace.write_config(judges=LABELLED_JUDGE)
    scored = workspace.root / "scored.parquet"
    assert workspace.score(data, config, scored).exit_code == 0
    args = ["agreement", str(scored), "-c", str(config), "--fail-under", fail_under]
    exit_code, stderr = closed_pipe_run(workspace, args, merge_stderr=False)
    assert exit_code == code
    assert "Traceback" not in stderr
    assert "BrokenPipeError" not in stderr


def test_score_into_a_closed_pipe_finishes_the_paid_run(workspace: Workspace) -> None:
    """``judgekit score ... -v 2>&1 | head`` where head has gone: the notices written
    mid-run, the summary and the run itself survive."""
    workspace.fake.settings.rate_limit_first_n = 2
    workspace.fake.settings.retry_after_s = 0.01
    data = workspace.write_rows(workspace.qa_rows(6))
    config = workspace.write_config(prices=False)  # a notice before the first call
    output = workspace.root / "scored.parquet"
    args = workspace.score_args(data, config, output, "-v")
    exit_code, _ = closed_pipe_run(workspace, args, merge_stderr=True)
    assert exit_code == 0
    assert pq.read_table(output).column("correctness_score").null_count == 0
    with sqlite3.connect(workspace.cache) as db:
        assert db.execute("SELECT count(*) FROM answers").fetchone() == (6,)
    assert workspace.fake.stats().requests == 8  # 6 answers + 2 rate-limited


# -- 10.4: TERM=dumb and encodings that cannot hold a character -----------------------------


def in_terminal(ws: Workspace, *args: str, until: str | None = None, **env: str) -> tuple[int, str]:
    """Run ``judgekit ARGS`` on a pseudo-terminal; return its exit code and screen text.
    With ``until``, reset the fake (releasing a hung request) once that text has shown."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [ws.executable(), *args],
        env=ws.environ() | {"TERM": "xterm"} | env,
        stdin=follower,
        stdout=follower,
        stderr=follower,
        close_fds=True,
    )
    os.close(follower)
    screen = b""
    try:
        while True:
            ready, _, _ = select.select([leader], [], [], 60)
            if not ready:
                pytest.fail(f"no output from judgekit for 60 s; so far: {screen!r}")
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the process closed the terminal
                break
            if not chunk:
                break
            screen += chunk
            if until is not None and until in screen.decode("utf-8", "replace"):
                ws.fake.reset()
                until = None
    finally:
        os.close(leader)
    return process.wait(timeout=60), screen.decode("utf-8", "replace").replace("\r\n", "\n")


def test_term_dumb_shows_plain_status_lines(workspace: Workspace) -> None:
    workspace.fake.settings.hang_first_n = 1  # the run waits until the status line shows
    data = workspace.write_rows(workspace.qa_rows(3))
    config = workspace.write_config()
    args = workspace.score_args(data, config, workspace.root / "o.parquet")
    code, screen = in_terminal(workspace, *args, until=" · eta ", TERM="dumb")
    assert code == 0
    status = re.compile(r"rows [0-3]/3 · judgements [0-3]/3 · .* · errors 0 · eta \S+$")
    assert any(status.match(line) for line in screen.splitlines()), screen
    assert "\x1b[" not in screen  # no cursor movement, no colours
    assert "judgekit summary" in screen


def test_a_terminal_shows_the_live_bar_ending_at_100_percent(workspace: Workspace) -> None:
    data = workspace.write_rows(workspace.qa_rows(3))
    config = workspace.write_config()
    args = workspace.score_args(data, config, workspace.root / "o.parquet")
    code, screen = in_terminal(workspace, *args, NO_COLOR="1", COLUMNS="200")
    assert code == 0
    bars = [ANSI.sub("", line.split("\r")[-1]) for line in screen.splitlines() if "judging" in line]
    assert "3/3 judgements · " in bars[-1]


@pytest.mark.parametrize(
    "environment",
    [
        {"PYTHONIOENCODING": "ascii"},
        {"PYTHONIOENCODING": "latin-1"},
        {"LC_ALL": "C", "LANG": "C"},
    ],
    ids=["ascii", "latin-1", "LANG=C"],
)
def test_no_command_crashes_on_a_character_the_locale_cannot_encode(
    workspace: Workspace, environment: dict[str, str]
) -> None:
    encoding = environment.get("PYTHONIOENCODING", "utf-8")
    data = labelled_rows(workspace, 4)
    config = workspace.write_config(judges=LABELLED_JUDGE)
    scored = workspace.root / "scored.parquet"
    commands = [
        ["templates"],
        ["templates", "correctness"],
        workspace.score_args(data, config, scored),
        ["agreement", str(scored), "-c", str(config)],
    ]
    for args in commands:
        result = subprocess.run(
            [workspace.executable(), *args],
            env=workspace.environ() | environment,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=False,
            timeout=120,
        )
        stdout, stderr = result.stdout.decode(encoding), result.stderr.decode(encoding)
        assert (result.returncode, "Traceback" in stderr) == (0, False), (args, stderr)
        if args[0] == "score" and encoding == "ascii":
            assert re.search(
                r"\n\| tokens +\| [0-9,]+ in - [0-9,]+ out +\|\n", stderr
            )  # "·" as "-"
        if args[0] == "agreement" and encoding == "ascii":
            assert f"Judge vs human agreement - {scored}" in stdout


@pytest.mark.parametrize(
    ("char", "stand_in"),
    [("·", "-"), ("…", "..."), ("—", "--"), ("→", "->"), ("≥", ">="), ("é", "e"), ("✓", "?")],
)
def test_ascii_stand_ins(char: str, stand_in: str) -> None:
    assert ascii_stand_in(char) == stand_in
