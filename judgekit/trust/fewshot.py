"""The statistics behind ``judgekit align``: split, few-shot choice, McNemar.

Pure functions over plain lists, so that every choice is seeded, reproducible
and testable without a model:

* ``stratified_split`` -- train / held-out with both human classes in the
  same proportion in each part;
* ``choose_examples`` -- up to K few-shot examples from train: the judge's
  disagreements with humans first, both human classes alternating, varied
  (spread over the score range);
* ``mcnemar_exact`` -- McNemar's exact test on paired verdicts (McNemar 1947;
  the exact binomial form, as recommended for small discordant counts by
  Fagerland, Lydersen & Laake 2013, BMC Med Res Methodol 13:91).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LabelledRow:
    """One human-labelled row as ``align`` sees it.

    ``human_pass``: the human verdict (unsure rows never get here);
    ``score`` / ``judge_pass``: the judge's verdict before alignment (None on
    a judge error).
    """

    index: int
    human_pass: bool
    score: float | None = None
    judge_pass: bool | None = None


@dataclass(frozen=True, slots=True)
class Split:
    """Row indexes of the two parts, each in input order."""

    train: tuple[int, ...]
    holdout: tuple[int, ...]


def stratified_split(rows: Sequence[LabelledRow], holdout_share: float, seed: int) -> Split:
    """Seeded split keeping each human class's share in both parts.

    Each class is shuffled with ``random.Random(seed)`` and its first
    ``round(n * holdout_share)`` rows held out, at least one per class when the
    class has two rows or more, and never all of a class.  Raises ``ValueError``
    when ``holdout_share`` is not in (0, 1).
    """
    if not 0.0 < holdout_share < 1.0:
        raise ValueError(f"holdout share must be between 0 and 1, got {holdout_share:g}")
    rng = random.Random(seed)
    holdout: list[int] = []
    for human_pass in (True, False):
        members = [row.index for row in rows if row.human_pass is human_pass]
        rng.shuffle(members)
        take = round(len(members) * holdout_share)
        # At least one of a class held out, never all of it (a lone row trains).
        take = min(max(take, 1), len(members) - 1) if len(members) >= 2 else 0
        holdout += members[:take]
    held = set(holdout)
    return Split(
        train=tuple(row.index for row in rows if row.index not in held),
        holdout=tuple(row.index for row in rows if row.index in held),
    )


def choose_examples(rows: Sequence[LabelledRow], k: int, seed: int) -> list[LabelledRow]:
    """Up to ``k`` few-shot examples from ``rows`` (the train part).

    Order of preference: rows where the judge disagreed with the human (the
    lesson the judge most needs), then agreeing rows; within each, human pass
    and human fail alternate so both classes are shown; within a class, rows
    are taken spread over the score range (sorted by score, every n-th), with
    a seeded shuffle breaking ties.  Judge errors count as disagreements.
    Returns the chosen rows in the order they will be shown.
    """
    if k <= 0:
        return []
    rng = random.Random(seed)

    def spread(members: list[LabelledRow]) -> list[LabelledRow]:
        rng.shuffle(members)
        members.sort(key=lambda r: -1.0 if r.score is None else r.score)
        # Take from alternating ends and the middle, so scores vary.
        ordered: list[LabelledRow] = []
        lo, hi = 0, len(members) - 1
        while lo <= hi:
            ordered.append(members[lo])
            if lo != hi:
                ordered.append(members[hi])
            lo, hi = lo + 1, hi - 1
        return ordered

    chosen: list[LabelledRow] = []
    for disagree in (True, False):
        pools = []
        for human_pass in (False, True):  # a failing example first: it teaches most
            pool = [
                r
                for r in rows
                if r.human_pass is human_pass
                and (r.judge_pass is None or r.judge_pass != r.human_pass) is disagree
            ]
            pools.append(spread(pool))
        while any(pools) and len(chosen) < k:
            for pool in pools:
                if pool and len(chosen) < k:
                    chosen.append(pool.pop(0))
    return chosen


def mcnemar_exact(before_right_after_wrong: int, before_wrong_after_right: int) -> float:
    """Two-sided exact McNemar p-value from the two discordant counts.

    Under H0 (no change) the discordant pairs split Binomial(n, 1/2); the
    p-value is ``min(1, 2 * P(X <= min(b, c)))``.  1.0 when there is no
    discordant pair (nothing changed).
    """
    b, c = before_right_after_wrong, before_wrong_after_right
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1)) / float(2**n)
    return min(1.0, 2.0 * tail)
