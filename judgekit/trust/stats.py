"""Agreement statistics from a 2x2 confusion matrix: kappa, intervals, calibration.

Pass is the positive class and the human is the truth::

                    human pass   human fail
    judge pass          tp           fp
    judge fail          fn           tn

``None`` stands for "undefined": agreement with no row compared, kappa when
expected agreement is 1 (each rater gave one single class, or no rows), a
share whose denominator is 0.

Intervals (95%, ``agreement_intervals``): agreement is a binomial share, so its
interval is the Wilson score interval, which stays honest for tiny and perfect
samples (5 of 5 agreeing gives [0.566, 1], not the [1, 1] every resample of a
perfect sample gives).  Kappa's interval is a bootstrap percentile interval;
when every resample gives the same kappa (a sample without disagreement), that
zero width would be a lie, so the kappa interval is then the Wilson interval
of agreement put through kappa's formula at the observed chance agreement,
``(po - pe) / (1 - pe)``, clipped to [-1, 1].

Bootstrap: rows are resampled with replacement.  The statistics depend only on
the four counts, so a resample of n rows is exactly a multinomial draw of n
over the observed cell shares; we draw it as three chained binomials with an
exact sampler (``binomial``).  That costs O(resamples) whatever the number of
rows, and needs only ``random.Random(seed).random()``, whose sequence Python
guarantees across versions: a seed gives the same intervals everywhere.
Intervals are the 2.5th and 97.5th percentiles (linear interpolation, as
numpy's default); resamples in which kappa is undefined are left out of the
kappa interval (``None`` if all are).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from judgekit.records import PASS_TOLERANCE

NO_SCORES = "no scores among the rows compared"
ONE_HUMAN_CLASS = "humans gave a single class: no threshold has a kappa above 0"


@dataclass(frozen=True, slots=True)
class Confusion:
    """Counts of compared rows, pass as positive, human as truth."""

    tp: int
    fn: int
    fp: int
    tn: int

    @property
    def compared(self) -> int:
        """Rows compared."""
        return self.tp + self.fn + self.fp + self.tn


@dataclass(frozen=True, slots=True)
class Interval:
    """A 95% confidence interval."""

    low: float
    high: float


Z_95 = 1.959963984540054
"""The standard normal quantile of 0.975: two-sided 95%."""

WILSON = "wilson score"
BOOTSTRAP = "bootstrap percentile"
KAPPA_FROM_WILSON = (
    "every resample gave the same kappa (no disagreement in the sample), so its interval is"
    " the agreement's Wilson interval at the observed chance agreement"
)


@dataclass(frozen=True, slots=True)
class ThresholdPoint:
    """Agreement and kappa if ``passed = score >= threshold``."""

    threshold: float
    agreement: float
    kappa: float | None


@dataclass(frozen=True, slots=True)
class Calibration:
    """The configured threshold beside the ones that would fit humans best."""

    configured: float
    at_configured: ThresholdPoint | None
    best_agreement: ThresholdPoint | None
    best_kappa: ThresholdPoint | None
    scored: int
    note: str | None


def share(part: int, whole: int) -> float | None:
    """part / whole; None when whole is 0."""
    return part / whole if whole else None


def agreement_of(confusion: Confusion) -> float | None:
    """Share of agreeing rows; None when no row is compared."""
    return share(confusion.tp + confusion.tn, confusion.compared)


def cohen_kappa(confusion: Confusion) -> float | None:
    """Cohen's kappa; None when no row is compared or expected agreement is 1."""
    tp, fn, fp, tn = confusion.tp, confusion.fn, confusion.fp, confusion.tn
    # 2(ad - bc) / (row1*col2 + col1*row2): (po - pe) / (1 - pe) in exact integers.
    denominator = (tp + fp) * (fp + tn) + (tp + fn) * (fn + tn)
    return 2 * (tp * tn - fn * fp) / denominator if denominator else None


def calibrate(compared: pl.DataFrame, configured: float) -> Calibration:
    """Agreement at the configured threshold and at the best ones, in O(n log n).

    Over compared rows with a score (``code`` 1 or 0, ``score``).  Candidates:
    0 (all pass), each midpoint between adjacent distinct scores, and 1 (all
    fail) when every score is below 1.  Ties go to the threshold closest to the
    configured one, then the lowest.  ``note`` says why figures are None: no
    scores (all None), or humans gave one class (no best kappa).
    """
    scored = compared.filter(pl.col("score").is_not_null())
    if scored.height == 0:
        return Calibration(configured, None, None, None, 0, NO_SCORES)
    human_pass, score = pl.col("code") == 1, pl.col("score")
    above = score >= configured - PASS_TOLERANCE  # as J_passed is decided
    at = scored.select(
        tp=(human_pass & above).sum(),
        fn=(human_pass & ~above).sum(),
        fp=(~human_pass & above).sum(),
        tn=(~human_pass & ~above).sum(),
    ).row(0, named=True)
    by_score = (
        scored.group_by("score")
        .agg(hp=human_pass.sum().cast(pl.Int64), hf=(~human_pass).sum().cast(pl.Int64))
        .sort("score")
    )
    lowest, highest = by_score["score"].min(), by_score["score"].max()
    assert isinstance(lowest, float) and isinstance(highest, float)
    # Split i passes the rows scoring >= the i-th distinct score.
    splits = by_score.select(
        threshold=((score + score.shift(1)) / 2).fill_null(min(0.0, lowest)),
        fn=pl.col("hp").cum_sum().shift(1, fill_value=0),
        tn=pl.col("hf").cum_sum().shift(1, fill_value=0),
    )
    total_pass, total_fail = int(by_score["hp"].sum()), int(by_score["hf"].sum())
    if highest < 1.0:
        everyone_fails = {"threshold": [1.0], "fn": [total_pass], "tn": [total_fail]}
        splits = pl.concat([splits, pl.DataFrame(everyone_fails, schema=splits.schema)])
    fn, tn = pl.col("fn"), pl.col("tn")
    tp, fp = pl.lit(total_pass) - fn, pl.lit(total_fail) - tn
    denominator = (tp + fp) * (fp + tn) + (tp + fn) * (fn + tn)
    splits = splits.with_columns(
        tp=tp,
        fp=fp,
        agree=tp + tn,
        kappa=pl.when(denominator > 0).then(2 * (tp * tn - fn * fp) / denominator),
        distance=(pl.col("threshold") - configured).abs(),
    )
    order = [True, False, False]  # best first, then nearest the configured, then lowest
    best = splits.sort(["agree", "distance", "threshold"], descending=order).row(0, named=True)
    at_configured = _point({"threshold": configured, **at})
    if total_pass == 0 or total_fail == 0:
        # No threshold can beat chance against a single class: do not pretend one does.
        return Calibration(
            configured, at_configured, _point(best), None, scored.height, ONE_HUMAN_CLASS
        )
    # Humans gave both classes, so every split but "all pass" / "all fail" has a kappa.
    kappas = splits.filter(pl.col("kappa").is_not_null())
    best_kappa = kappas.sort(["kappa", "distance", "threshold"], descending=order).row(
        0, named=True
    )
    return Calibration(
        configured, at_configured, _point(best), _point(best_kappa), scored.height, None
    )


def _point(row: Mapping[str, Any]) -> ThresholdPoint:
    confusion = Confusion(int(row["tp"]), int(row["fn"]), int(row["fp"]), int(row["tn"]))
    agreement = agreement_of(confusion)
    assert agreement is not None  # only built from at least one scored row
    return ThresholdPoint(float(row["threshold"]), agreement, cohen_kappa(confusion))


def wilson_interval(successes: int, n: int) -> Interval | None:
    """95% Wilson score interval of ``successes / n``; None when n is 0.

    Never zero-width for n >= 1 (it is [0.566, 1] for 5 of 5); the bounds are exactly
    1 when every trial succeeds and 0 when none does."""
    if n <= 0:
        return None
    share_ = successes / n
    z2 = Z_95 * Z_95
    centre = (share_ + z2 / (2 * n)) / (1 + z2 / n)
    half = Z_95 * math.sqrt(share_ * (1 - share_) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return Interval(low, high)


def agreement_intervals(
    confusion: Confusion, resamples: int, seed: int
) -> tuple[Interval | None, Interval | None, str | None]:
    """(agreement, kappa) 95% intervals and a note on how kappa's was made (module docstring).

    Agreement: Wilson, None when no row is compared.  Kappa: bootstrap percentile, None
    with ``resamples == 0`` or when kappa is undefined in every resample; the note is
    ``KAPPA_FROM_WILSON`` when the bootstrap was degenerate, else None."""
    agreement = wilson_interval(confusion.tp + confusion.tn, confusion.compared)
    kappa = bootstrap_intervals(confusion, resamples, seed)[1]
    if kappa is None or kappa.low < kappa.high or agreement is None:
        return agreement, kappa, None
    mapped = _kappa_of_agreement(confusion, agreement)
    return agreement, mapped, KAPPA_FROM_WILSON if mapped else None


def _kappa_of_agreement(confusion: Confusion, agreement: Interval) -> Interval | None:
    """Kappa at each end of an agreement interval, chance agreement held as observed."""
    n = confusion.compared
    judge_pass, human_pass = confusion.tp + confusion.fp, confusion.tp + confusion.fn
    chance = (judge_pass * human_pass + (n - judge_pass) * (n - human_pass)) / (n * n)
    if chance >= 1.0:
        return None

    def kappa(po: float) -> float:
        return min(1.0, max(-1.0, (po - chance) / (1 - chance)))

    return Interval(kappa(agreement.low), kappa(agreement.high))


def bootstrap_intervals(
    confusion: Confusion, resamples: int, seed: int
) -> tuple[Interval | None, Interval | None]:
    """95% percentile intervals of (agreement, kappa); None when nothing to resample.

    The report uses ``agreement_intervals``: a percentile interval of agreement is
    zero-width on a perfect sample."""
    n = confusion.compared
    if resamples <= 0 or n == 0:
        return None, None
    rng = random.Random(seed)
    agreements: list[float] = []
    kappas: list[float] = []
    for _ in range(resamples):
        sample = resample_confusion(rng, confusion)
        agreements.append((sample.tp + sample.tn) / n)
        kappa = cohen_kappa(sample)
        if kappa is not None:
            kappas.append(kappa)
    return _interval(agreements), _interval(kappas)


def _interval(values: list[float]) -> Interval | None:
    if not values:
        return None
    values.sort()
    return Interval(percentile(values, 2.5), percentile(values, 97.5))


def percentile(ordered: Sequence[float], q: float) -> float:
    """The q-th percentile of sorted values, interpolating linearly (numpy's default)."""
    position = q / 100 * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def resample_confusion(rng: random.Random, confusion: Confusion) -> Confusion:
    """The counts of n rows drawn with replacement: a multinomial, as chained binomials."""
    left, pool = confusion.compared, confusion.compared
    drawn: list[int] = []
    for count in (confusion.tp, confusion.fn, confusion.fp):
        # Conditional on the cells drawn so far, the next one is binomial.
        k = binomial(rng, left, count / pool) if pool else 0
        drawn.append(k)
        left, pool = left - k, pool - count
    return Confusion(drawn[0], drawn[1], drawn[2], left)


def binomial(rng: random.Random, n: int, p: float) -> int:
    """An exact Binomial(n, p) draw: waiting times when np < 10, else BTRS."""
    if n <= 0 or p <= 0.0:
        return 0
    if p >= 1.0:
        return n
    if p > 0.5:
        return n - binomial(rng, n, 1.0 - p)
    if n * p < 10.0:
        return _binomial_waiting(rng, n, p)
    return _binomial_btrs(rng, n, p)


def _binomial_waiting(rng: random.Random, n: int, p: float) -> int:
    """Count successes by jumping geometric gaps between them (Devroye, 1986)."""
    log_q = math.log1p(-p)
    successes, trials = 0, 0
    while True:
        trials += math.floor(math.log(1.0 - rng.random()) / log_q) + 1
        if trials > n:
            return successes
        successes += 1


def _binomial_btrs(rng: random.Random, n: int, p: float) -> int:
    """Hörmann's (1993) transformed rejection with squeeze; needs np >= 10, p <= 0.5."""
    spread = math.sqrt(n * p * (1.0 - p))
    b = 1.15 + 2.53 * spread
    a = -0.0873 + 0.0248 * b + 0.01 * p
    c = n * p + 0.5
    squeeze = 0.92 - 4.2 / b
    alpha = (2.83 + 5.1 / b) * spread
    log_odds = math.log(p / (1.0 - p))
    mode = math.floor((n + 1) * p)
    log_peak = math.lgamma(mode + 1) + math.lgamma(n - mode + 1)
    while True:
        u = rng.random() - 0.5
        v = rng.random()
        us = 0.5 - abs(u)
        if us <= 0.0:
            continue  # u == -0.5 exactly: the hat is unbounded there
        k = math.floor((2.0 * a / us + b) * u + c)
        if k < 0 or k > n:
            continue
        if us >= 0.07 and v <= squeeze:
            return k
        # Accept when v under the hat lies below the binomial density at k.
        v *= alpha / (a / (us * us) + b)
        log_density = log_peak - math.lgamma(k + 1) - math.lgamma(n - k + 1) + (k - mode) * log_odds
        if v > 0.0 and math.log(v) <= log_density:
            return k
