"""A pairwise judge's run in figures: A's win rate with a 95% Wilson interval, and the
share of rows whose two orders disagreed (``J_position_consistent`` false).

Counted over the rows the judge answered (``J_winner`` set); a tie is not a win, so
A's win rate is wins / answered rows, and B's wins and the ties are given beside it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from judgekit.records import JudgeResult


@dataclass(slots=True)
class PairwiseTally:
    """Running counts of one pairwise judge's answered rows."""

    rows: int = 0
    a_wins: int = 0
    b_wins: int = 0
    ties: int = 0
    inconsistent: int = 0
    """Rows whose two orders chose different winners."""

    def add(self, results: Sequence[JudgeResult]) -> None:
        """Count a window's results (rows without a winner, failed ones, are left out)."""
        for result in results:
            if result.winner is None:
                continue
            self.rows += 1
            self.a_wins += result.winner == "a"
            self.b_wins += result.winner == "b"
            self.ties += result.winner == "tie"
            self.inconsistent += result.position_consistent is False

    def as_dict(self) -> dict[str, Any]:
        """Figures for ``--summary-json``: counts, ``a_win_rate`` and its 95% Wilson
        ``a_win_rate_ci`` ([low, high]; null when no row was answered), and
        ``position_inconsistent_share`` (null when no row was answered)."""
        from judgekit.trust.stats import wilson_interval  # polars (~35 MB): only when needed

        interval = wilson_interval(self.a_wins, self.rows)
        return {
            "rows": self.rows,
            "a_wins": self.a_wins,
            "b_wins": self.b_wins,
            "ties": self.ties,
            "a_win_rate": round(self.a_wins / self.rows, 6) if self.rows else None,
            "a_win_rate_ci": (
                [round(interval.low, 6), round(interval.high, 6)] if interval else None
            ),
            "position_inconsistent": self.inconsistent,
            "position_inconsistent_share": (
                round(self.inconsistent / self.rows, 6) if self.rows else None
            ),
        }

    def summary_rows(self, judge: str) -> list[tuple[str, str]]:
        """The lines of the ``score`` summary table: A's win rate, position consistency."""
        if not self.rows:
            return [(f"{judge}: A wins", "no row answered")]
        from judgekit.trust.stats import wilson_interval  # polars (~35 MB): only when needed

        interval = wilson_interval(self.a_wins, self.rows)
        assert interval is not None
        rate = self.a_wins / self.rows
        return [
            (
                f"{judge}: A wins",
                f"{self.a_wins} of {self.rows} ({rate:.2f}, 95% CI {interval.low:.2f}-"
                f"{interval.high:.2f}); B wins {self.b_wins}, ties {self.ties}",
            ),
            (
                f"{judge}: position-inconsistent",
                f"{self.inconsistent} of {self.rows} ({self.inconsistent / self.rows:.2f})",
            ),
        ]


def summary_rows(tallies: Mapping[str, PairwiseTally]) -> list[tuple[str, str]]:
    """Every pairwise judge's summary lines, in judge order."""
    return [row for judge, tally in tallies.items() for row in tally.summary_rows(judge)]
