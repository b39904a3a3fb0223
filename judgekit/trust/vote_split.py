"""Split votes of a self-consistency judge (``samples`` > 1), as ``judgekit agreement``
reports them: how often the samples of a row did not all agree.

A row's vote is split when ``J_vote_share`` < 1 (some sample voted against the
majority).  Counted over the rows of the scored file that have a vote share (failed
rows have none), whether or not a human labelled them.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

VOTE_SHARE = "vote_share"
"""Column suffix read (``J_vote_share``)."""


@dataclass(frozen=True, slots=True)
class SplitVotes:
    """How many sampled rows had a split vote."""

    sampled: int
    """Rows with a vote share."""
    split: int
    """Rows with a vote share below 1."""

    @property
    def share(self) -> float | None:
        """``split / sampled``; None when no row was sampled."""
        return self.split / self.sampled if self.sampled else None

    def line(self) -> str:
        """``split votes: 1 of 5 sampled rows (0.200)`` for the report."""
        share = "—" if self.share is None else f"{self.share:.3f}"
        return f"split votes: {self.split} of {self.sampled} sampled rows ({share})"

    def as_dict(self) -> dict[str, float | int | None]:
        """The ``split_votes`` object of the JSON report."""
        return {"sampled": self.sampled, "split": self.split, "share": self.share}


def split_votes(frame: pl.DataFrame, judge: str) -> SplitVotes | None:
    """The judge's split votes, or None when the frame has no ``J_vote_share`` column (a
    judge without ``samples``)."""
    column = f"{judge}_{VOTE_SHARE}"
    if column not in frame.columns:
        return None
    shares = frame[column].cast(pl.Float64, strict=False).drop_nulls().fill_nan(None).drop_nulls()
    return SplitVotes(sampled=shares.len(), split=int((shares < 1.0).sum()))
