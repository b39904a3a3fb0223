"""A run's window bookkeeping: open windows, the job queue, and writing finished windows in order.

Each window holds its rows' values and one result slot per row and judge;
``_flush`` hands every complete window that is next in input order to the sink and
frees its slot (at most ``WINDOWS_IN_FLIGHT`` windows are open, ``engine.run``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio
import pyarrow as pa
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from judgekit.engine.judging import PreparedCall
from judgekit.engine.lookahead import FirstRequest
from judgekit.engine.plan import JudgePlan
from judgekit.errors import JudgekitError
from judgekit.records import JudgeResult


class Sink(Protocol):
    """Where finished windows go, in input order (an ``OutputWriter``)."""

    def write(self, window: pa.Table, results: Mapping[str, Sequence[JudgeResult]]) -> None:
        """Take one finished window."""


@dataclass(slots=True)
class _Window:
    index: int
    table: pa.Table
    rows: list[dict[str, Any]]
    results: dict[str, list[JudgeResult | None]]
    pending_per_row: list[int]
    pending: int


@dataclass(slots=True)  # not frozen: the producer sets ``first`` once the lookup is made
class _Job:
    window: _Window
    row: int
    judge: JudgePlan
    prepared: PreparedCall | None = None
    """A one-call judge's call, prepared by the producer (``engine.lookahead``)."""
    first: FirstRequest | None = None
    """Its request, built and looked up in the cache with the next rows'."""


@dataclass(slots=True)
class _State:
    stopping: bool = False
    fatal: JudgekitError | None = None
    interrupted: bool = False
    signal_name: str = ""
    written: int = 0
    ready: dict[int, _Window] = field(default_factory=dict)

    def halted(self) -> bool:
        """Whether new calls must not start (a method: the flag changes across awaits)."""
        return self.stopping


# A send or receive that may go ahead at once does: ``send``/``receive`` always yield to
# the event loop first, a cost per job that is measurable at 64+ calls in flight.


async def _put(jobs: MemoryObjectSendStream[_Job], job: _Job) -> None:
    """Queue ``job``, waiting only when the queue is full."""
    try:
        jobs.send_nowait(job)
    except anyio.WouldBlock:
        await jobs.send(job)


async def _take(jobs: MemoryObjectReceiveStream[_Job]) -> _Job | None:
    """The next job (None once the producer is done), waiting only when none is queued."""
    try:
        return jobs.receive_nowait()
    except anyio.WouldBlock:
        pass
    except anyio.EndOfStream:
        return None
    try:
        return await jobs.receive()
    except anyio.EndOfStream:
        return None


def _open_window(index: int, table: pa.Table, judges: Sequence[JudgePlan]) -> _Window:
    columns = sorted({column for judge in judges for column in judge.fields.values()})
    rows: list[dict[str, Any]] = table.select(columns).to_pylist()
    n = len(rows)
    return _Window(
        index=index,
        table=table,
        rows=rows,
        results={judge.name: [None] * n for judge in judges},
        pending_per_row=[len(judges)] * n,
        pending=n * len(judges),
    )


def _flush(state: _State, sink: Sink, slots: anyio.Semaphore) -> None:
    """Write every finished window that is next in input order."""
    while state.written in state.ready and state.fatal is None:
        window = state.ready.pop(state.written)
        results = {name: [r or JudgeResult() for r in rs] for name, rs in window.results.items()}
        try:
            sink.write(window.table, results)
        except JudgekitError as exc:  # OutputError: OUT cannot be written, so call nothing more
            # Calls on the wire finish and reach the cache; the run then raises ``exc``.
            state.fatal, state.stopping = exc, True
            slots.release()  # the producer may be waiting for a slot: let it see the stop
            return
        state.written += 1
        slots.release()
