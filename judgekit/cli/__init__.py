"""The command line: parse flags, call one function, map errors to exit codes.

Each command lives with its concern (``score``; ``setup``: validate, templates, try,
init; ``trust``: agreement, report, align); they are registered here, in the order
``judgekit --help`` lists them.  ``app.py`` turns judgekit's errors into one line and
an exit code.
"""

from __future__ import annotations

from typing import Annotated

import typer

from judgekit import __version__, terminal
from judgekit.cli import score, setup, trust
from judgekit.cli.app import app, stdout
from judgekit.memory import claim_process, hand_back_large_blocks, use_system_allocator

__all__ = ["app", "main"]

app.command()(score.score)
app.command()(setup.validate)
app.command()(setup.templates)
app.command("try")(setup.try_)
app.command()(trust.agreement)
app.command()(setup.init)
app.command()(trust.report)
app.command()(trust.align)


def _version(value: bool) -> None:
    if value:
        stdout.print(f"judgekit {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Score datasets with LLM judges, and measure how far to trust them."""


def main() -> None:
    """Console-script entry point."""
    terminal.prepare_streams()
    use_system_allocator()
    hand_back_large_blocks()
    claim_process()
    app()
