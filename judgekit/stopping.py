"""Stop signals outside the engine: SIGTERM and SIGHUP end judgekit as Ctrl-C does.

While a run judges, the engine's own watcher turns SIGINT, SIGTERM and SIGHUP (an SSH
session or terminal that went away) into a graceful stop.  Before it starts (reading
the dataset, opening the cache) and after it ends (writing OUT), the same signals raise
``KeyboardInterrupt`` here, so the temp output is removed, the cache closed, and the
process exits 130 with one line, instead of dying where it stood.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
"""Signals that stop judgekit gracefully, and exit 130."""

_Handler = Callable[[int, FrameType | None], object] | int | None


def _raise_interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextmanager
def stop_signals_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP raise ``KeyboardInterrupt`` inside the block (SIGINT already
    does); the previous handlers come back after it.  A no-op off the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, _raise_interrupt) for signum in STOP_SIGNALS[1:]}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def signal_handlers_kept() -> Iterator[None]:
    """Restore the handlers of ``STOP_SIGNALS`` after the block: an asyncio loop that
    listened for a signal leaves it at the default action (death) when it stops."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved: dict[signal.Signals, _Handler] = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in saved.items():
            if handler is not None:  # None: set outside Python; nothing to restore
                signal.signal(signum, handler)
