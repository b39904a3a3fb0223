"""The Typer app, the two consoles, and how judgekit's errors become one line and an exit
code: every ``JudgekitError`` is one line on stderr and its exit code; Ctrl-C exits 130.
Anything else is a bug and keeps its traceback."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from judgekit import terminal
from judgekit.errors import EXIT_INTERRUPTED, JudgekitError, UsageError


class _OneLineUsageErrors(TyperGroup):
    """Typer's command group, whose usage errors (a missing option, a value out of range, an
    unknown command) are one line on stderr, exit 2, like every other error: Typer's own
    are a usage line, a hint and a box of several lines."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command line; with ``standalone_mode`` (the console script), exit with
        its code, a usage error said in one line (``usage_error_line``)."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except Exception as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # bare `judgekit`: help was shown
                sys.exit(getattr(exc, "exit_code", USAGE_EXIT))
            line = usage_error_line(exc)
            if line is None:
                raise
            stderr.print(line, markup=False, soft_wrap=True)
            sys.exit(USAGE_EXIT)
        sys.exit(code if isinstance(code, int) else 0)


USAGE_EXIT = 2


def usage_error_line(exc: BaseException) -> str | None:
    """``error: judgekit score: missing option '--config' / '-c' (see 'judgekit score
    --help')`` for a command-line usage error (click's ``UsageError``, which Typer vendors:
    told apart by its ``format_message`` and ``ctx``); None for anything else."""
    format_message = getattr(exc, "format_message", None)
    if not callable(format_message) or not hasattr(exc, "ctx"):
        return None
    message = str(format_message()).strip().rstrip(".").replace(". Did you mean", "; did you mean")
    message = message[:1].lower() + message[1:]
    ctx = getattr(exc, "ctx", None)
    path = getattr(ctx, "command_path", "") or "judgekit"
    return f"error: {path}: {message} (see '{path} --help')"


app = typer.Typer(
    name="judgekit",
    cls=_OneLineUsageErrors,
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


def check_toml_name(path: Path, command: str) -> None:
    """Raise UsageError unless ``path`` (a config that ``command`` writes) ends in .toml:
    ``-o judgekit.yaml`` would hold TOML under another format's name."""
    if path.suffix.lower() != ".toml" and not path.is_dir():  # a directory: its own line
        raise UsageError(f"{path}: judgekit {command} writes a TOML config; name it .toml")
