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
    previous[signal.SIGINT] = signal.getsignal(signal.SIGINT)  # claim_stop_signals may set it
    _last_signal.clear()
    _claimed.append(True)
    try:
        yield
    finally:
        _claimed.pop()
        for signum, handler in previous.items():
            if handler is not None:  # None: set outside Python; nothing to restore
                signal.signal(signum, handler)


def claim_stop_signals() -> None:
    """Inside ``stop_signals_interrupt``: take SIGTERM and SIGHUP back from a library that
    set its own handlers meanwhile (``ray.init`` makes SIGTERM exit with code 15, without
    a word).  A no-op outside that block or off the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return
    # SIGINT too: a shell without job control starts a background job with SIGINT ignored,
    # and the local engine (which listens for it itself) stops on it all the same.
    for signum in STOP_SIGNALS:
        if _claimed and signal.getsignal(signum) is not _raise_interrupt:
            signal.signal(signum, _raise_interrupt)


@contextmanager
def stop_signals_held() -> Iterator[None]:
    """Inside the block, a stop signal is only noted; as the block ends, it raises
    ``KeyboardInterrupt`` (as ``stop_signals_interrupt`` would have).  For a library
    start-up that an exception half-way would break (``ray.init``).  Handlers, unlike a
    blocked signal mask, are not inherited by the processes started meanwhile.  A no-op
    off the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    came: list[str] = []

    def note(signum: int, _frame: FrameType | None) -> None:
        came.append(signal.Signals(signum).name)

    previous = {signum: signal.signal(signum, note) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            if signal.getsignal(signum) is note:  # the library may have set its own
                signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
    if came:
        _last_signal[:] = [came[0]]
        raise KeyboardInterrupt


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
