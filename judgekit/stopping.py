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


_claimed: list[bool] = []
"""One entry per ``stop_signals_interrupt`` block the main thread is in."""
_last_signal: list[str] = []
"""The name of the last stop signal ``stop_signals_interrupt`` turned into an interrupt."""


def _raise_interrupt(signum: int, _frame: FrameType | None) -> None:
    _last_signal[:] = [signal.Signals(signum).name]
    raise KeyboardInterrupt


def interrupting_signal() -> str:
    """The name of the signal behind the ``KeyboardInterrupt`` being handled: SIGTERM or
    SIGHUP when ``stop_signals_interrupt`` raised it, else SIGINT (Ctrl-C)."""
    return _last_signal[0] if _last_signal else "SIGINT"


@contextmanager
def stop_signals_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP raise ``KeyboardInterrupt`` inside the block (SIGINT already
    does); the previous handlers come back after it.  A no-op off the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, _raise_interrupt) for signum in STOP_SIGNALS[1:]}
    _last_signal.clear()
    _claimed.append(True)
    try:
        yield
    finally:
        _claimed.pop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def claim_stop_signals() -> None:
    """Inside ``stop_signals_interrupt``: take SIGTERM and SIGHUP back from a library that
    set its own handlers meanwhile (``ray.init`` makes SIGTERM exit with code 15, without
    a word).  A no-op outside that block or off the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in STOP_SIGNALS[1:]:
        if _claimed and signal.getsignal(signum) is not _raise_interrupt:
            signal.signal(signum, _raise_interrupt)


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
