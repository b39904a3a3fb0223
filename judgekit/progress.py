"""What a person (or a cron log) sees while a run goes and when it ends.

On a terminal: a live rich bar counting judgements (one judge on one row),
left at 100% when the run completes.  Without one, or on a terminal that
cannot redraw (``TERM=dumb``): a plain status line to stderr every few seconds,
so a cron log shows progress without control characters.  ``--quiet`` keeps
only warnings, errors and nothing else.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from judgekit.engine.stats import Snapshot
from judgekit.terminal import can_redraw

PLAIN_INTERVAL_S = 5.0
"""Seconds between status lines in a file, a pipe or a cron log."""
DUMB_TERMINAL_INTERVAL_S = 1.0
"""Seconds between status lines on a terminal that cannot redraw: someone is watching."""


def status_line(s: Snapshot) -> str:
    """One plain line: rows, judgements, rate, tokens, spend, errors, ETA."""
    spend = f"${s.spent_usd:.4f}" + ("" if s.spend_known else " + unknown")
    spend += f"/${s.budget_usd:g}" if s.budget_usd is not None else ""
    eta = f"{s.eta_s:.0f}s" if s.eta_s is not None else "?"
    return (
        f"rows {s.rows_done}/{s.rows_total} · judgements {s.judgements_done}/{s.judgements_total}"
        f" · {s.requests_per_s:.1f} req/s · tokens {s.input_tokens + s.output_tokens:,}"
        f" · spend {spend} · cached {s.cache_hits} · errors {s.error_count} · eta {eta}"
    )


class ProgressDisplay:
    """Receives snapshots and notices from the engine; a context manager."""

    def __init__(self, console: Console, *, quiet: bool = False) -> None:
        self.console = console
        self.quiet = quiet
        self.live = can_redraw(console) and not quiet
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._last_plain = time.monotonic()

    @property
    def interval_s(self) -> float:
        """How often the engine should send a snapshot."""
        if self.live:
            return 0.25
        return DUMB_TERMINAL_INTERVAL_S if self.console.is_terminal else PLAIN_INTERVAL_S

    def __enter__(self) -> ProgressDisplay:
        if self.live:
            self._bar = Progress(
                TextColumn("[bold]judging"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("judgements · {task.fields[status]}"),
                TimeRemainingColumn(),
                console=self.console,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task("judging", total=None, status="")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.__exit__(exc_type, exc, tb)
            self._bar = None

    def update(self, snapshot: Snapshot) -> None:
        """Show the current state."""
        if self.quiet:
            return
        if self._bar is not None and self._task is not None:
            spend = f"${snapshot.spent_usd:.4f}"
            if not snapshot.spend_known:
                spend += " + unknown"
            if snapshot.budget_usd is not None:
                spend += f"/${snapshot.budget_usd:g}"
            self._bar.update(
                self._task,
                total=snapshot.judgements_total,
                completed=snapshot.judgements_done,
                status=(
                    f"{snapshot.requests_per_s:.1f} req/s · "
                    f"{snapshot.input_tokens + snapshot.output_tokens:,} tok · {spend} · "
                    f"errors {snapshot.error_count}"
                ),
            )
        else:
            # One line per interval, whoever sends snapshots (the Ray driver sends one per
            # batch); a tenth of slack keeps the engine's own ticks from being skipped.
            now = time.monotonic()
            if now - self._last_plain < 0.9 * self.interval_s:
                return
            self._last_plain = now
            self.console.print(status_line(snapshot), markup=False, highlight=False, soft_wrap=True)

    def finish(self, snapshot: Snapshot) -> None:
        """Show the final state (a completed run's bar at 100%) before the summary."""
        if self._bar is not None:
            self.update(snapshot)

    def notice(self, message: str) -> None:
        """A warning worth a line even under --quiet."""
        self.console.print(f"judgekit: {message}", markup=False, highlight=False, soft_wrap=True)


def spent_text(s: Snapshot) -> str:
    """The summary's spend: "unknown" for replies of unknown cost (never shown as $0)."""
    budget = f" of ${s.budget_usd:g} budget" if s.budget_usd is not None else ""
    if s.spend_known:
        return f"${s.spent_usd:.4f}{budget}"
    reasons = []
    if s.calls_without_usage:
        reasons.append(
            f"{s.calls_without_usage} replies reported no usage; their worst case, "
            f"${s.charged_without_usage_usd:.4f}, is charged to the budget"
        )
    if s.calls_without_price:
        reasons.append(f"{s.calls_without_price} replies of models without a price")
    return f"${s.spent_usd:.4f} + unknown ({'; '.join(reasons)}){budget}"


def summary_table(
    s: Snapshot,
    output: str | None,
    exit_reason: str | None,
    skipped: Mapping[str, str] | None = None,
    judge_rows: Sequence[tuple[str, str]] = (),
) -> Table:
    """The end-of-run summary: rows, calls, errors by kind, tokens, cost, wall time, the
    judges ``--local-only`` skipped (name -> why it could cost money), and ``judge_rows``
    (per-judge figures such as a pairwise judge's win rate: (what, value))."""
    table = Table(title="judgekit summary", show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("rows", f"{s.rows_done}/{s.rows_total}")
    table.add_row("judgements", f"{s.judgements_done}/{s.judgements_total}")
    table.add_row("requests", f"{s.requests} ({s.retries} retries, {s.rate_limited} rate-limited)")
    table.add_row("cache hits", f"{s.cache_hits} (saved ${s.saved_usd:.4f})")
    errors = ", ".join(f"{k} {v}" for k, v in sorted(s.errors.items())) or "none"
    table.add_row("errors", errors)
    tokens = f"{s.input_tokens:,} in · {s.output_tokens:,} out"
    if s.calls_without_usage:
        tokens += f" + unknown ({s.calls_without_usage} replies reported no usage)"
    table.add_row("tokens", tokens)
    table.add_row("spent", spent_text(s))
    table.add_row("wall time", f"{s.elapsed_s:.2f} s")
    for name, reason in (skipped or {}).items():
        table.add_row("skipped (local only)", f"{name}: {reason}")
    for what, value in judge_rows:
        table.add_row(what, value)
    if output:
        table.add_row("output", output)
    if exit_reason:
        table.add_row("result", exit_reason)
    return table
