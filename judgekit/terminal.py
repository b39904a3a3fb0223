"""Where judgekit's text goes: the consoles, closed pipes and encodings.

Every console of the CLI comes from ``console()``; the console script calls
``prepare_streams()`` once before anything is printed.

* Not a terminal (a file, a pipe, cron): lines are never wrapped or cut, whatever
  the size of the terminal that started the command or ``COLUMNS`` say; a table
  takes the width it needs.  On a terminal, rich's width: table cells wrap.
* A table wider than a terminal can show without breaking words is shown as
  one block per row, ``header: value`` a line (``fit``).
* ``TERM=dumb``: a terminal that cannot redraw a line; ``can_redraw`` is false
  there and progress falls back to plain status lines.
* A closed pipe (``judgekit agreement ... | head -1``): the first write that
  fails points that stream at ``os.devnull``; the command goes on (a paid run
  finishes and writes its output and cache) and exits with its own code.
* An encoding that cannot hold a character (Latin-1, ASCII): the standard
  streams write an ASCII stand-in (``·`` as ``-``, ``…`` as ``...``, ``é`` as
  ``e``) or ``?`` instead of raising ``UnicodeEncodeError``.  rich draws its
  table borders in ASCII by itself there.
"""

from __future__ import annotations

import codecs
import io
import os
import re
import sys
import unicodedata
from collections.abc import Iterable
from typing import IO, Any, TextIO, cast

from rich.console import Console, ConsoleDimensions, Group, RenderableType
from rich.measure import Measurement
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

UNWRAPPED_WIDTH = 100_000
"""The width of a console that does not write to a terminal: no line is that long."""

ASCII_FALLBACK = "judgekit-ascii"
"""Name of the codec error handler that writes ASCII stand-ins."""

_STAND_INS = {
    "·": "-",
    "…": "...",
    "—": "--",
    "\u2013": "-",
    "→": "->",
    "←": "<-",
    "≥": ">=",
    "≤": "<=",
    "≠": "!=",
    "≈": "~",
    "±": "+/-",
    "\u00d7": "x",
    "•": "*",
    "\u201c": '"',
    "\u201d": '"',
    "\u2018": "'",
    "\u2019": "'",
    "\u00a0": " ",
}


def ascii_stand_in(char: str) -> str:
    """An ASCII spelling of one character: a known stand-in, the letter without its
    accent, or ``?``."""
    if char in _STAND_INS:
        return _STAND_INS[char]
    stripped = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode("ascii")
    return stripped or "?"


def _ascii_fallback(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    text = error.object[error.start : error.end]
    return "".join(ascii_stand_in(char) for char in text), error.end


codecs.register_error(ASCII_FALLBACK, _ascii_fallback)


class _Console(Console):
    """A rich console that never wraps what it writes to a file or a pipe."""

    @property
    def size(self) -> ConsoleDimensions:
        """The terminal's size; a width no line reaches when not on a terminal."""
        size = super().size
        if self.is_terminal:
            return size
        return ConsoleDimensions(UNWRAPPED_WIDTH, size.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._width, self._height = new_size

    def _render_buffer(self, buffer: Iterable[Segment]) -> str:
        """What is written; off a terminal, without the blanks Rich pads a table's title
        and cells with at the end of a line (noise in a cron log, a diff, a grep)."""
        rendered = super()._render_buffer(buffer)
        if self.is_terminal or " \n" not in rendered:
            return rendered
        return _TRAILING_BLANKS.sub("\n", rendered)


_TRAILING_BLANKS = re.compile(r" +\n")


def console(*, stderr: bool = False) -> Console:
    """A console on stdout (or stderr), read at each print: no wrapping off a terminal,
    no markup guessing, no highlighting."""
    return _Console(stderr=stderr, highlight=False)


def can_redraw(target: Console) -> bool:
    """Whether ``target`` is a terminal that can redraw a line (a live bar): not
    ``TERM=dumb``, not a file or a pipe."""
    return target.is_terminal and not target.is_dumb_terminal


def fit(table: Table, target: Console) -> RenderableType:
    """``table`` as it is when ``target`` can show it without breaking a word (always
    off a terminal); else one block per row, ``header: value`` a line."""
    if not target.is_terminal:
        return table
    unbounded = target.options.update_width(UNWRAPPED_WIDTH)
    if Measurement.get(target, unbounded, table).minimum <= target.width:
        return table
    lines: list[RenderableType] = []
    if table.title:
        lines.append(Text(str(table.title), style="italic"))
    headers = [str(column.header) for column in table.columns]
    rows = zip(*(list(column.cells) for column in table.columns), strict=True)
    for cells in rows:
        texts = [cell if isinstance(cell, Text) else Text(str(cell)) for cell in cells]
        if not table.show_header:  # a what/value table: one line per row
            lines.append(Text.assemble((texts[0].plain, "bold"), ": ", *texts[1:]))
            continue
        lines.append(Text(texts[0].plain, style="bold"))
        for header, text in zip(headers[1:], texts[1:], strict=True):
            lines.append(Text.assemble("  ", (header, "bold"), ": ", text))
    return Group(*lines)


class PipeSafeStream(io.TextIOBase):
    """A standard stream that survives its reader going away.

    The first write or flush that meets a closed pipe points the underlying file
    descriptor at ``os.devnull``; later writes are dropped.  Everything else is
    the wrapped stream's.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.pipe_closed = False
        """Whether the reader went away."""

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    @property
    def encoding(self) -> str:  # type: ignore[override]  # TextIOBase types it Any
        """The wrapped stream's encoding."""
        return self._stream.encoding

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        """The wrapped stream's error handler."""
        return self._stream.errors

    @property
    def closed(self) -> bool:
        """Whether the wrapped stream is closed."""
        return self._stream.closed

    def isatty(self) -> bool:
        """Whether the wrapped stream is a terminal."""
        return self._stream.isatty()

    def fileno(self) -> int:
        """The wrapped stream's file descriptor."""
        return self._stream.fileno()

    def writable(self) -> bool:
        """Always true."""
        return True

    def write(self, text: str) -> int:
        """Write ``text``; drop it once the reader has gone."""
        if not self.pipe_closed:
            try:
                self._stream.write(text)
            except BrokenPipeError:
                self._to_devnull()
        return len(text)

    def flush(self) -> None:
        """Flush; a closed pipe is not an error."""
        if not self.pipe_closed:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._to_devnull()

    def _to_devnull(self) -> None:
        self.pipe_closed = True
        # What is still buffered goes to /dev/null when Python flushes at exit,
        # instead of a second BrokenPipeError and exit code 120.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, self._stream.fileno())
            finally:
                os.close(devnull)
        except (OSError, ValueError, io.UnsupportedOperation):
            pass


def prepare_streams() -> None:
    """Make ``sys.stdout`` and ``sys.stderr`` survive a closed pipe and an encoding that
    cannot hold a character (see the module docstring).  Call once, at start-up."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None or isinstance(stream, PipeSafeStream):
            continue
        if isinstance(stream, io.TextIOWrapper):  # UTF-8 too: a lone surrogate from a file name
            stream.reconfigure(errors=ASCII_FALLBACK)
        setattr(sys, name, cast(IO[str], PipeSafeStream(stream)))
