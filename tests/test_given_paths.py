"""judgekit.given_paths: a path on the command line that the OS refuses to look at (a name
over 255 bytes, a symbolic-link loop, a file where a directory must be made) is one line,
exit 2, before anything is read, called or written, for every command and every path."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Workspace

LONG = "x" * 300


def _too_long(shown: str, name: str) -> str:
    return (
        f"error: {shown}: File name too long (a name in a path is at most 255 bytes, this one"
        f" has {len(name)}); give a shorter name\n"
    )


Command = Callable[["Workspace", Path], tuple[list[str], str]]
"""A command line with one path too long, and the line it must print."""


def _score_output(ws: Workspace, long: Path) -> tuple[list[str], str]:
    path = long.with_suffix(".parquet")
    args = ws.score_args(ws.write_rows(ws.qa_rows(2)), ws.write_config(), path)
    return args, _too_long(f"-o {path}", path.name)


def _score_output_in_a_long_directory(ws: Workspace, long: Path) -> tuple[list[str], str]:
    path = long / "ok.parquet"
    args = ws.score_args(ws.write_rows(ws.qa_rows(2)), ws.write_config(), path)
    return args, _too_long(f"-o {path}", long.name)


def _score_output_under_a_missing_directory(ws: Workspace, long: Path) -> tuple[list[str], str]:
    path = long.parent / "missing" / long.name / "ok.parquet"
    args = ws.score_args(ws.write_rows(ws.qa_rows(2)), ws.write_config(), path)
    return args, _too_long(f"-o {path}", long.name)


def _score_dataset(ws: Workspace, long: Path) -> tuple[list[str], str]:
    path = long.with_suffix(".jsonl")
    args = ws.score_args(path, ws.write_config(), ws.root / "out.parquet")
    return args, _too_long(str(path), path.name)


def _score_summary(ws: Workspace, long: Path) -> tuple[list[str], str]:
    path = long.with_suffix(".json")
    args = ws.score_args(ws.write_rows(ws.qa_rows(2)), ws.write_config(), ws.root / "o.parquet")
    return [*args, "--summary-json", str(path)], _too_long(f"--summary-json {path}", path.name)


def _score_cache(ws: Workspace, long: Path) -> tuple[list[str], str]:
    path = long.with_suffix(".sqlite3")
    args = ["score", str(ws.write_rows(ws.qa_rows(2))), "-c", str(ws.write_config())]
    args += ["-o", str(ws.root / "o.parquet"), "--cache", str(path)]
    return args, _too_long(f"--cache {path}", path.name)


def _score_dry_run(ws: Workspace, long: Path) -> tuple[list[str], str]:
    args, line = _score_output(ws, long)
    return [*args, "--dry-run"], line


def _validate_output(ws: Workspace, long: Path) -> tuple[list[str], str]:
    path = long.with_suffix(".parquet")
    args = ["validate", "-c", str(ws.write_config()), "-o", str(path)]
    return args, _too_long(f"-o {path}", path.name)


def _validate_dataset(ws: Workspace, long: Path) -> tuple[list[str], str]:
    path = long.with_suffix(".jsonl")
    return ["validate", "-c", str(ws.write_config()), str(path)], _too_long(str(path), path.name)


def _try_row(ws: Workspace, long: Path) -> tuple[list[str], str]:
    path = long.with_suffix(".jsonl")
    args = ["try", "-c", str(ws.write_config()), "--judge", "correctness"]
    return [*args, "--row", "row-000", str(path)], _too_long(f"--row {path}", path.name)


def _try_cache(ws: Workspace, long: Path) -> tuple[list[str], str]:
    path = long.with_suffix(".sqlite3")
    args = ["try", "-c", str(ws.write_config()), "--judge", "correctness", "--output", "a"]
    return [*args, "--cache", str(path)], _too_long(f"--cache {path}", path.name)


def _init_output(ws: Workspace, long: Path) -> tuple[list[str], str]:
    path = long.with_suffix(".toml")
    args = ["init", str(ws.write_rows(ws.qa_rows(2))), "-o", str(path)]
    return args, _too_long(f"-o {path}", path.name)


def _init_dataset(ws: Workspace, long: Path) -> tuple[list[str], str]:
    path = long.with_suffix(".jsonl")
    args = ["init", str(path), "-o", str(ws.root / "j.toml")]
    return args, _too_long(str(path), path.name)


def _agreement_scored(ws: Workspace, long: Path) -> tuple[list[str], str]:
    path = long.with_suffix(".parquet")
    return ["agreement", str(path)], _too_long(str(path), path.name)


def _agreement_output(ws: Workspace, long: Path) -> tuple[list[str], str]:
    path = long.with_suffix(".json")
    args = ["agreement", str(ws.root / "scored.parquet"), "--output", str(path)]
    return args, _too_long(f"--output {path}", path.name)


def _report_output(ws: Workspace, long: Path) -> tuple[list[str], str]:
    path = long.with_suffix(".html")
    args = ["report", str(ws.root / "scored.parquet"), "-o", str(path)]
    return args, _too_long(f"-o {path}", path.name)


def _report_scored(ws: Workspace, long: Path) -> tuple[list[str], str]:
    path = long.with_suffix(".parquet")
    args = ["report", str(path), "-o", str(ws.root / "r.html")]
    return args, _too_long(str(path), path.name)


def _align(flag: str, suffix: str) -> Command:
    def make(ws: Workspace, long: Path) -> tuple[list[str], str]:
        path = long.with_suffix(suffix)
        paths = {
            "DATASET": ws.root / "data.jsonl",
            "-o": ws.root / "aligned.toml",
            "--cache": ws.root / "c.sqlite3",
        }
        paths[flag] = path
        args = ["align", str(paths["DATASET"]), "-c", str(ws.write_config())]
        args += ["--judge", "correctness", "-o", str(paths["-o"])]
        args += ["--cache", str(paths["--cache"])]
        shown = str(path) if flag == "DATASET" else f"{flag} {path}"
        return args, _too_long(shown, path.name)

    return make


COMMANDS: list[tuple[str, Command]] = [
    ("score-output", _score_output),
    ("score-output-in-a-long-directory", _score_output_in_a_long_directory),
    ("score-output-under-a-missing-directory", _score_output_under_a_missing_directory),
    ("score-dataset", _score_dataset),
    ("score-summary-json", _score_summary),
    ("score-cache", _score_cache),
    ("score-dry-run", _score_dry_run),
    ("validate-output", _validate_output),
    ("validate-dataset", _validate_dataset),
    ("try-row", _try_row),
    ("try-cache", _try_cache),
    ("init-output", _init_output),
    ("init-dataset", _init_dataset),
    ("agreement-scored", _agreement_scored),
    ("agreement-output", _agreement_output),
    ("report-output", _report_output),
    ("report-scored", _report_scored),
    ("align-dataset", _align("DATASET", ".jsonl")),
    ("align-output", _align("-o", ".toml")),
    ("align-cache", _align("--cache", ".sqlite3")),
]


@pytest.mark.parametrize("command", [c[1] for c in COMMANDS], ids=[c[0] for c in COMMANDS])
def test_a_name_over_255_bytes_is_one_line_before_anything_is_done(
    workspace: Workspace, command: Command
) -> None:
    args, line = command(workspace, workspace.root / LONG)
    before = sorted(workspace.root.iterdir())
    result = workspace.invoke(*args)
    assert (result.exit_code, result.stderr) == (2, line)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert sorted(workspace.root.iterdir()) == before  # no output, temp file, cache
    assert workspace.fake.requests == ()


def test_a_symbolic_link_loop_is_one_line(workspace: Workspace) -> None:
    loop = workspace.root / "loop"
    os.symlink(loop, loop)
    output = loop / "out.parquet"
    data, config = workspace.write_rows(workspace.qa_rows(2)), workspace.write_config()
    result = workspace.score(data, config, output)
    assert (result.exit_code, result.stderr) == (
        2,
        f"error: -o {output}: Too many levels of symbolic links (a symbolic link in it leads"
        " back to itself); fix or remove the link, or give another path\n",
    )
    assert not workspace.cache.exists()


def test_an_output_under_a_file_names_the_file_for_every_writer(workspace: Workspace) -> None:
    """report -o and agreement --output under a file: the words every output uses (they
    gave a traceback, and 'Not a directory')."""
    blocker = workspace.root / "notes.txt"
    blocker.write_text("", encoding="utf-8")
    for args, output in (
        (["report", str(workspace.root / "s.parquet"), "-o"], blocker / "r.html"),
        (["agreement", str(workspace.root / "s.parquet"), "--output"], blocker / "a.json"),
    ):
        result = workspace.invoke(*args, str(output))
        assert (result.exit_code, result.stderr) == (
            2,
            f"error: {output}: cannot create directory {blocker} ({blocker} is a file)\n",
        )
