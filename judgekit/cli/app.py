"""The Typer app, the two consoles, and how judgekit's errors become one line and an exit
code: every ``JudgekitError`` is one line on stderr and its exit code; Ctrl-C exits 130.
Anything else is a bug and keeps its traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from judgekit import terminal
from judgekit.errors import EXIT_INTERRUPTED, JudgekitError

app = typer.Typer(
    name="judgekit",
    help="Score datasets with LLM judges, and measure how far to trust them.",
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    add_completion=False,
)
stderr = terminal.console(stderr=True)
stdout = terminal.console()

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="TOML config: judges, connections, run settings.")
]


@contextmanager
def handled() -> Iterator[None]:
    """Turn judgekit's errors into one line and an exit code."""
    try:
        yield
    except JudgekitError as exc:
        stderr.print(f"error: {exc}", markup=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        stderr.print("interrupted", markup=False)
        raise typer.Exit(EXIT_INTERRUPTED) from None
