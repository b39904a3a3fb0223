"""README.md stays true: its configs parse, its flags exist, its columns are the output's."""

from __future__ import annotations

import os
import re
import shlex
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from judgekit.cli import app
from judgekit.config import parse_config
from judgekit.output import judge_fields
from judgekit.testing.fake_provider import FakeProvider

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
TOML_BLOCKS = re.findall(r"```toml\n(.*?)```", README, flags=re.DOTALL)


def test_readme_shows_the_two_commands_first() -> None:
    head = README[: README.index("## What it looks like")]
    assert "make demo" in head
    assert "make test" in head


@pytest.mark.parametrize("block", TOML_BLOCKS, ids=[f"toml-{i}" for i in range(len(TOML_BLOCKS))])
def test_readme_toml_examples_are_valid(block: str) -> None:
    raw = tomllib.loads(block)
    if "judges" not in raw:  # a fragment: a connection table alone
        raw["judges"] = [{"name": "j", "type": "exact"}]
    parse_config(raw, "README.md")


def _flags(command: str) -> set[str]:
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return set(re.findall(r"--[a-z][a-z-]+", result.output))


@pytest.mark.parametrize(
    "command", ["score", "agreement", "validate", "templates", "init", "try", "report"]
)
def test_readme_flags_exist(command: str) -> None:
    section = README.split(f"### `judgekit {command}")[1].split("\n### ")[0].split("\n## ")[0]
    mentioned = set(re.findall(r"`(--[a-z][a-z-]+)", section))
    assert mentioned <= _flags(command), mentioned - _flags(command)


def test_readme_output_columns_match_the_writer() -> None:
    table = README.split("Output: every input column")[1].split("Parquet key-value")[0]
    documented = re.findall(r"`J_([a-z_]+)`", table)
    actual = [f.name.removeprefix("J_") for f in judge_fields("J", ["accuracy"])]
    assert documented == actual


def test_readme_continuation_columns_match_the_writer() -> None:
    paragraph = README.split("A judge with `continue_conversation = true` adds")[1].split("\n\n")[0]
    documented = re.findall(r"`J_([a-z_]+)`", paragraph)
    every = judge_fields("J", [], continuation=True)
    assert documented == [f.name.removeprefix("J_") for f in every[len(judge_fields("J", [])) :]]


def test_readme_sampling_columns_match_the_writer() -> None:
    paragraph = README.split("A judge with `samples` above 1 adds")[1].split("\n\n")[0]
    documented = re.findall(r"`J_([a-z_]+)`", paragraph)
    every = judge_fields("J", [], sampling=True)
    assert documented == [f.name.removeprefix("J_") for f in every[len(judge_fields("J", [])) :]]


def test_readme_pairwise_columns_match_the_writer() -> None:
    paragraph = README.split("A judge with the `pairwise` template adds")[1].split("\n\n")[0]
    documented = re.findall(r"`J_([a-z_]+)`", paragraph)
    every = judge_fields("J", [], pairwise=True)
    assert documented == [f.name.removeprefix("J_") for f in every[len(judge_fields("J", [])) :]]


# -- every `$ judgekit ...` command runs as shown ----------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
WIDTH = "250"  # wide enough that no README table wraps (what a wide terminal, or a file, shows)
ELLIPSIS = "..."
"""A README output line of its own that stands for any number of lines left out."""
_STATUS = re.compile(r"^rows \d+/\d+ · judgements ")  # the non-TTY progress line, every 5 s
_WALL_TIME = re.compile(r"(│ wall time +│ )\d+\.\d+ s +│")


@dataclass(frozen=True)
class Shown:
    """One `$ ...` line of a README code block and the output shown under it."""

    command: str
    output: list[str]
    index: int


def code_blocks(readme: str = README) -> list[tuple[str, list[str]]]:
    """(language, lines) of every fenced code block, in order."""
    blocks: list[tuple[str, list[str]]] = []
    current: list[str] | None = None
    for line in readme.splitlines():
        if line.startswith("```"):
            if current is None:
                current = []
                blocks.append((line[3:].strip(), current))
            else:
                current = None
        elif current is not None:
            current.append(line)
    return blocks


_RUNNABLE = re.compile(r"(?:export |echo \$\?$|(?:[A-Z_]+=\S+ )*judgekit )")
"""`judgekit ...` (maybe after VAR=value words), `export VAR=value ...` and `echo $?`."""


def shown_commands(readme: str = README) -> list[Shown]:
    """Every `$ judgekit ...`, `$ export ...` and `$ echo $?` of the README's plain code
    blocks, in order."""
    commands: list[Shown] = []
    for language, lines in code_blocks(readme):
        if language:
            continue
        current: Shown | None = None
        for line in lines:
            if line.startswith("$ "):
                current = None
                if _RUNNABLE.match(line[2:]):
                    current = Shown(line[2:], [], len(commands))
                    commands.append(current)
            elif current is not None:
                current.output.append(line)
    return commands


def normalise(text: str) -> list[str]:
    """Lines without trailing blanks, status lines or the run's wall time; no blank tail."""
    lines = [_WALL_TIME.sub(r"\g<1>N s │", line.rstrip()) for line in text.splitlines()]
    lines = [line for line in lines if not _STATUS.match(line)]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def matches(shown: list[str], actual: list[str]) -> bool:
    """Whether ``actual`` is ``shown``, where a line ``...`` stands for any lines."""
    pattern = "".join(
        r"(?:.*\n)*?" if line == ELLIPSIS else re.escape(line) + r"\n"
        for line in normalise_shown(shown)
    )
    return re.fullmatch(pattern, "".join(f"{line}\n" for line in actual)) is not None


def normalise_shown(shown: list[str]) -> list[str]:
    """The README's output lines, normalised like the actual ones (``...`` kept)."""
    return normalise("\n".join(shown))


@dataclass
class Session:
    """The README's commands run in order in one directory, as a reader would."""

    workdir: Path
    results: dict[int, tuple[int, str]] = field(default_factory=dict)


@pytest.fixture(scope="module")
def session(
    _fake_server: FakeProvider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Session]:
    """Run every README command against the fake, in a directory holding datasets/ and
    configs/ (links to the project's), with a fresh cache; keep each exit code and output
    (stdout and stderr interleaved, as a terminal shows them)."""
    workdir = tmp_path_factory.mktemp("readme")
    for name in ("datasets", "configs"):
        (workdir / name).symlink_to(ROOT / name)
    env: dict[str, str | None] = {key: None for key in os.environ if key.endswith("_API_KEY")}
    env |= {
        "JUDGEKIT_FAKE_URL": _fake_server.url,
        "JUDGEKIT_CACHE": str(workdir / "cache.sqlite3"),
        "COLUMNS": WIDTH,
    }
    _fake_server.reset()
    session = Session(workdir)
    last = 0
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)
        for shown in shown_commands():
            if shown.command == "echo $?":
                session.results[shown.index] = (0, f"{last}\n")
                continue
            words = shlex.split(shown.command, comments=True)
            assignments = _assignments(words, env)
            if words[0] == "export":
                env |= assignments
                session.results[shown.index] = (0, "")
                continue
            command = words[len(assignments) :]
            result = CliRunner().invoke(app, command[1:], env=env | assignments)
            last = result.exit_code
            session.results[shown.index] = (result.exit_code, result.output)
    _fake_server.reset()
    yield session


def _assignments(words: list[str], env: dict[str, str | None]) -> dict[str, str | None]:
    """The VAR=value words (after ``export``, or before the command), ``$VAR`` expanded."""
    found: dict[str, str | None] = {}
    for word in words[1:] if words[0] == "export" else words:
        name, equals, value = word.partition("=")
        if not equals or not re.fullmatch(r"[A-Z_][A-Z0-9_]*", name):
            break
        found[name] = re.sub(r"\$(\w+)", lambda m: env.get(m.group(1)) or "", value)
    return found


def _expects_failure(shown: Shown) -> bool:
    following = [c for c in shown_commands() if c.index == shown.index + 1]
    return bool(following) and following[0].command == "echo $?"


@pytest.mark.parametrize("shown", shown_commands(), ids=lambda s: f"{s.index}:{s.command[:60]}")
def test_readme_command_runs_as_shown(session: Session, shown: Shown) -> None:
    code, output = session.results[shown.index]
    if not _expects_failure(shown):
        assert code == 0, output
    actual = normalise(output)
    assert matches(shown.output, actual), "\n".join(actual)


def test_readme_shows_the_start_of_the_config_init_writes(session: Session) -> None:
    written = (session.workdir / "out" / "starter.toml").read_text(encoding="utf-8")
    (shown,) = [
        "\n".join(lines) + "\n"
        for language, lines in code_blocks()
        if language == "toml" and lines[0].startswith("# judgekit config written by")
    ]
    assert written.startswith(shown)


def test_readme_shows_commands() -> None:
    commands = [shown.command for shown in shown_commands()]
    assert (
        commands[0] == "judgekit score datasets/demo.jsonl -c configs/demo.toml -o out/demo.parquet"
    )
    assert any(command.startswith("judgekit init ") for command in commands)


def test_matches_treats_an_ellipsis_as_any_lines() -> None:
    assert matches(["a", "...", "d"], ["a", "b", "c", "d"])
    assert matches(["a", "...", "d"], ["a", "d"])
    assert not matches(["a", "...", "d"], ["a", "b"])
    assert not matches(["a", "b"], ["a", "b", "c"])


# -- every file the README names exists ------------------------------------------------------

_PATH = re.compile(
    r"(?<![\w./$~-])"
    r"((?:configs|datasets|judgekit|tests|benchmarks|out|\.venv)/[\w./*-]*"
    r"|[\w-]+(?:/[\w-]+)*\.(?:py|toml|jsonl|ndjson|json|parquet|csv|md|txt|gz)"
    r"|LICENSE|Makefile)"
    r"(?![\w/-])"
)
MADE_BY_THE_README = ("out/", ".venv/")
"""Prefixes of files the README's own commands (and make) create."""
NOT_IN_THE_PROJECT = {
    "data.jsonl": "the reader's own dataset, in examples",
    "configs/x.toml": "a config file name inside an example error message",
    "judgekit.toml": "the file `judgekit init` writes by default",
    "pyarrow.parquet": "a Python module, not a file",
    "part-00000.parquet": "a part's name inside a directory of parts that --engine ray writes",
    "part-00001.parquet": "a part's name inside a directory of parts that --engine ray writes",
}


def path_names(readme: str = README) -> set[str]:
    """Path-like names in the README (URLs left out), without a trailing full stop."""
    text = re.sub(r"https?://\S+", "", readme)
    return {match.rstrip(".") for match in _PATH.findall(text)}


def _in_project(name: str) -> bool:
    if name in NOT_IN_THE_PROJECT or name.startswith(MADE_BY_THE_README):
        return True
    # The layout paragraph names modules relative to the package.
    return any((base / name).exists() for base in (ROOT, ROOT / "judgekit"))


def test_readme_names_no_file_that_is_not_in_the_project() -> None:
    names = path_names()
    assert {"LICENSE", "configs/demo.toml", "judgekit/testing/fake_provider.py"} <= names
    assert sorted(name for name in names if not _in_project(name)) == []


def test_path_names_finds_what_a_reader_would_open() -> None:
    text = "see `SPEC.md`, `configs/demo.toml`. Run https://x.org/a.py and `providers/wire.py`"
    assert path_names(text) == {"SPEC.md", "configs/demo.toml", "providers/wire.py"}
    assert not _in_project("SPEC.md")


def test_the_first_error_a_reader_can_meet_is_in_troubleshooting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("JUDGEKIT_FAKE_URL", raising=False)
    monkeypatch.chdir(ROOT)
    first = shown_commands()[0].command
    result = CliRunner().invoke(app, shlex.split(first)[1:])
    assert result.exit_code == 2
    troubleshooting = README.split("## Troubleshooting")[1]
    assert f"| `{result.stderr.strip()}` |" in troubleshooting
