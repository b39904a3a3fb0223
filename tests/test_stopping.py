"""judgekit.stopping: stop signals outside the engine's own watcher (the Ray driver, the
steps before and after a run)."""

from __future__ import annotations

import os
import signal

import pytest

from judgekit.stopping import interrupting_signal, stop_signals_held, stop_signals_interrupt


def test_a_signal_during_a_held_start_up_stops_once_it_is_over() -> None:
    """``ray.init`` must not be cut half-way (it crashed with a segmentation fault): the
    signal is noted, the block runs to its end, then the run stops as it would have."""
    finished = []
    with stop_signals_interrupt(), pytest.raises(KeyboardInterrupt), stop_signals_held():
        os.kill(os.getpid(), signal.SIGTERM)
        finished.append(True)  # reached: the signal did not cut the block short
    assert finished == [True]
    assert interrupting_signal() == "SIGTERM"


def test_a_held_block_without_a_signal_changes_nothing() -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    with stop_signals_held():
        pass
    assert {s: signal.getsignal(s) for s in before} == before
