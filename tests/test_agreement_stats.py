"""Agreement statistics, checked against numpy, scipy and scikit-learn."""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence

import numpy as np
import polars as pl
import pytest
from scipy import stats
from sklearn.metrics import cohen_kappa_score

from judgekit.trust.stats import (
    KAPPA_FROM_WILSON,
    NO_SCORES,
    ONE_HUMAN_CLASS,
    Confusion,
    agreement_intervals,
    binomial,
    bootstrap_intervals,
    calibrate,
    cohen_kappa,
    percentile,
    resample_confusion,
    wilson_interval,
)


def _pairs(confusion: Confusion) -> tuple[list[bool], list[bool]]:
    """(judge, human) verdicts of the rows behind a confusion matrix."""
    cells = [
        (True, True, confusion.tp),
        (False, True, confusion.fn),
        (True, False, confusion.fp),
        (False, False, confusion.tn),
    ]
    judge = [j for j, _, n in cells for _ in range(n)]
    human = [h for _, h, n in cells for _ in range(n)]
    return judge, human


@pytest.mark.parametrize(
    "confusion",
    [
        Confusion(40, 10, 5, 45),
        Confusion(1, 0, 0, 1),
        Confusion(3, 7, 9, 2),
        Confusion(100, 0, 20, 0),
        Confusion(0, 12, 30, 0),
        Confusion(5, 1, 0, 0),
    ],
    ids=["typical", "tiny", "worse-than-chance", "judge-always-pass", "never-agree", "one-human"],
)
def test_kappa_matches_sklearn(confusion: Confusion) -> None:
    judge, human = _pairs(confusion)
    assert cohen_kappa(confusion) == pytest.approx(cohen_kappa_score(human, judge), abs=1e-12)


@pytest.mark.parametrize(
    "confusion",
    [Confusion(0, 0, 0, 0), Confusion(9, 0, 0, 0), Confusion(0, 0, 0, 4)],
    ids=["empty", "all-pass", "all-fail"],
)
def test_kappa_is_none_when_undefined(confusion: Confusion) -> None:
    assert cohen_kappa(confusion) is None


@pytest.mark.parametrize("size", [1, 2, 7, 1000], ids=["one", "two", "seven", "thousand"])
def test_percentile_matches_numpy(size: int) -> None:
    rng = random.Random(size)
    values = sorted(rng.gauss(0, 1) for _ in range(size))
    for q in (0.0, 2.5, 50.0, 97.5, 100.0):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)), abs=1e-12)


@pytest.mark.parametrize(
    ("n", "p"),
    [(30, 0.1), (40, 0.85), (1000, 0.3), (200, 0.5), (100_000, 0.02)],
    ids=["waiting-time", "flipped", "btrs", "btrs-half", "btrs-large"],
)
def test_binomial_follows_the_binomial_distribution(n: int, p: float) -> None:
    rng = random.Random(7)
    draws = np.array([binomial(rng, n, p) for _ in range(20_000)])
    assert draws.min() >= 0 and draws.max() <= n
    # Pool each tail into one bin so that every bin expects plenty of draws; chi-square.
    low, high = int(stats.binom.ppf(0.001, n, p)), int(stats.binom.isf(0.001, n, p))
    middle = range(low + 1, high)
    observed = [np.sum(draws <= low), *(np.sum(draws == k) for k in middle), np.sum(draws >= high)]
    shares = [stats.binom.cdf(low, n, p), *stats.binom.pmf(middle, n, p)]
    shares.append(stats.binom.sf(high - 1, n, p))
    expected = np.array(shares) / sum(shares) * len(draws)
    assert stats.chisquare(observed, expected).pvalue > 1e-3
    assert draws.mean() == pytest.approx(n * p, rel=0.02, abs=0.1)


@pytest.mark.parametrize(
    ("n", "p", "expected"),
    [(0, 0.5, 0), (10, 0.0, 0), (10, 1.0, 10)],
    ids=["no-trials", "never", "always"],
)
def test_binomial_degenerate(n: int, p: float, expected: int) -> None:
    assert binomial(random.Random(0), n, p) == expected


def test_resample_keeps_the_total_and_the_empty_cells() -> None:
    rng = random.Random(3)
    confusion = Confusion(50, 0, 7, 43)
    samples = [resample_confusion(rng, confusion) for _ in range(2000)]
    assert {s.compared for s in samples} == {100}
    assert {s.fn for s in samples} == {0}
    assert np.mean([s.fp for s in samples]) == pytest.approx(7, rel=0.05)


def test_bootstrap_is_reproducible_and_depends_on_the_seed() -> None:
    confusion = Confusion(40, 10, 5, 45)
    first = bootstrap_intervals(confusion, 500, seed=11)
    assert first == bootstrap_intervals(confusion, 500, seed=11)
    assert first != bootstrap_intervals(confusion, 500, seed=12)


def test_bootstrap_matches_resampling_rows_with_numpy() -> None:
    confusion = Confusion(130, 40, 30, 200)
    judge, human = (np.array(v) for v in _pairs(confusion))
    rng = np.random.default_rng(5)
    index = rng.integers(0, confusion.compared, size=(4000, confusion.compared))
    agree = (judge[index] == human[index]).mean(axis=1)
    agreement_ci, kappa_ci = bootstrap_intervals(confusion, 4000, seed=5)
    assert agreement_ci is not None and kappa_ci is not None
    assert agreement_ci.low == pytest.approx(np.percentile(agree, 2.5), abs=0.01)
    assert agreement_ci.high == pytest.approx(np.percentile(agree, 97.5), abs=0.01)
    # Kappa per resample, from the textbook (po - pe) / (1 - pe).
    judge_pass, human_pass = judge[index].mean(axis=1), human[index].mean(axis=1)
    chance = judge_pass * human_pass + (1 - judge_pass) * (1 - human_pass)
    kappas = (agree - chance) / (1 - chance)
    assert kappa_ci.low == pytest.approx(np.percentile(kappas, 2.5), abs=0.03)
    assert kappa_ci.high == pytest.approx(np.percentile(kappas, 97.5), abs=0.03)


def test_bootstrap_of_a_million_rows_is_narrow() -> None:
    confusion = Confusion(400_000, 100_000, 100_000, 400_000)
    agreement_ci, kappa_ci = bootstrap_intervals(confusion, 1000, seed=0)
    assert agreement_ci is not None and kappa_ci is not None
    assert 0.798 < agreement_ci.low < 0.8 < agreement_ci.high < 0.802
    assert 0.595 < kappa_ci.low < 0.6 < kappa_ci.high < 0.605


@pytest.mark.parametrize(
    ("confusion", "resamples", "agreement_ci", "kappa_ci"),
    [
        (Confusion(0, 0, 0, 0), 100, None, None),
        (Confusion(5, 5, 5, 5), 0, None, None),
        (Confusion(8, 0, 0, 0), 100, (1.0, 1.0), None),
    ],
    ids=["nothing-compared", "no-resamples", "single-class"],
)
def test_bootstrap_edges(
    confusion: Confusion,
    resamples: int,
    agreement_ci: tuple[float, float] | None,
    kappa_ci: None,
) -> None:
    agreement, kappa = bootstrap_intervals(confusion, resamples, seed=0)
    assert (None if agreement is None else (agreement.low, agreement.high)) == agreement_ci
    assert kappa is kappa_ci


def _frame(scores: Sequence[float | None], humans: Sequence[bool]) -> pl.DataFrame:
    return pl.DataFrame(
        {"code": [1 if h else 0 for h in humans], "score": scores},
        schema={"code": pl.Int8, "score": pl.Float64},
    )


def _brute_force(scores: list[float], humans: list[bool], threshold: float) -> tuple[float, float]:
    judge = [s >= threshold for s in scores]
    agreement = sum(j == h for j, h in zip(judge, humans, strict=True)) / len(scores)
    both = len(set(judge)) > 1 or len(set(humans)) > 1 or judge[0] != humans[0]
    kappa = cohen_kappa_score(humans, judge) if both else float("nan")
    return agreement, kappa


@pytest.mark.parametrize(
    ("seed", "decimals", "rows"),
    [(1, 1, 500), (2, 2, 80), (3, 3, 40)],
    ids=["many-ties", "some-ties", "few-ties"],
)
def test_calibration_finds_the_best_thresholds(seed: int, decimals: int, rows: int) -> None:
    rng = random.Random(seed)
    # Rounded scores: ties, as with real judges.
    scores = [round(rng.random(), decimals) for _ in range(rows)]
    humans = [rng.random() < 0.2 + 0.6 * s for s in scores]
    calibration = calibrate(_frame(list(scores), humans), configured=0.7)
    assert calibration.note is None and calibration.scored == rows
    step = 0.4 * 10**-decimals  # less than half the gap between two distinct scores
    candidates = sorted({0.0, 1.0, *(s + step for s in scores), *(s - step for s in scores)})
    figures = [_brute_force(scores, humans, t) for t in candidates]
    best, kappa = calibration.best_agreement, calibration.best_kappa
    assert best is not None and kappa is not None and calibration.at_configured is not None
    assert best.agreement == pytest.approx(max(a for a, _ in figures), abs=1e-12)
    assert (best.agreement, best.kappa) == pytest.approx(
        _brute_force(scores, humans, best.threshold)
    )
    assert kappa.kappa == pytest.approx(max(k for _, k in figures if k == k), abs=1e-12)
    assert (kappa.agreement, kappa.kappa) == pytest.approx(
        _brute_force(scores, humans, kappa.threshold)
    )
    configured = _brute_force(scores, humans, 0.7)
    assert calibration.at_configured.agreement == pytest.approx(configured[0])
    assert calibration.at_configured.kappa == pytest.approx(configured[1])


@pytest.mark.parametrize(
    ("configured", "expected"),
    [(0.7, 0.85), (0.3, 0.15)],
    ids=["nearest-above", "nearest-below"],
)
def test_calibration_ties_go_to_the_threshold_nearest_the_configured(
    configured: float, expected: float
) -> None:
    frame = _frame([0.1, 0.2, 0.8, 0.9], [False, True, False, True])
    best = calibrate(frame, configured).best_agreement
    assert best is not None
    assert (best.threshold, best.agreement) == pytest.approx((expected, 0.75))


def test_calibration_can_fail_everyone() -> None:
    calibration = calibrate(_frame([0.2, 0.3, 0.9], [False, False, False]), 0.5)
    assert calibration.best_agreement is not None
    assert (calibration.best_agreement.threshold, calibration.best_agreement.agreement) == (
        1.0,
        1.0,
    )
    assert calibration.best_kappa is None and calibration.note == ONE_HUMAN_CLASS


def test_calibration_without_scores() -> None:
    calibration = calibrate(_frame([None, None], [True, False]), 0.7)
    assert calibration == type(calibration)(0.7, None, None, None, 0, NO_SCORES)


def test_calibration_ignores_rows_without_a_score() -> None:
    calibration = calibrate(_frame([0.9, None, 0.1], [True, True, False]), 0.5)
    assert calibration.scored == 2
    assert calibration.at_configured is not None
    assert calibration.at_configured.agreement == 1.0


def test_every_split_is_a_candidate() -> None:
    scores = [0.1, 0.4, 0.6]
    for humans in itertools.product([False, True], repeat=3):
        best = calibrate(_frame(scores, list(humans)), 0.5).best_agreement
        assert best is not None
        # Three distinct scores and a monotone truth can always be split perfectly.
        if list(humans) == sorted(humans):
            assert best.agreement == 1.0


# --- intervals that stay honest on tiny and perfect samples -------------------------------------


@pytest.mark.parametrize(
    ("successes", "n"),
    [(5, 5), (0, 5), (1, 1), (8, 10), (2, 4), (71, 77), (499_000, 1_000_000)],
)
def test_wilson_interval_matches_scipy(successes: int, n: int) -> None:
    interval = wilson_interval(successes, n)
    expected = stats.binomtest(successes, n).proportion_ci(method="wilson")
    assert interval is not None
    assert interval.low == pytest.approx(expected.low, abs=1e-12)
    assert interval.high == pytest.approx(expected.high, abs=1e-12)


def test_wilson_interval_of_a_perfect_sample_is_not_zero_width() -> None:
    assert wilson_interval(0, 0) is None
    perfect = wilson_interval(5, 5)
    assert perfect is not None
    assert (round(perfect.low, 4), perfect.high) == (0.5655, 1.0)
    none = wilson_interval(0, 5)
    assert none is not None
    assert (none.low, round(none.high, 4)) == (0.0, 0.4345)


def test_a_perfect_sample_gets_honest_agreement_and_kappa_intervals() -> None:
    # 5 rows, 3 pass and 2 fail, judge and humans agree on every one: every bootstrap
    # resample has kappa 1 (or none), a zero-width [1, 1] that claims certainty from 5 rows.
    agreement, kappa, note = agreement_intervals(Confusion(3, 0, 0, 2), 1000, seed=0)
    assert agreement is not None and kappa is not None
    assert (round(agreement.low, 4), agreement.high) == (0.5655, 1.0)
    chance = (3 * 3 + 2 * 2) / 25  # observed chance agreement pe = 0.52
    assert kappa.low == pytest.approx((agreement.low - chance) / (1 - chance))
    assert (round(kappa.low, 4), kappa.high) == (0.0948, 1.0)
    assert note == KAPPA_FROM_WILSON


def test_an_ordinary_sample_keeps_its_bootstrap_kappa_interval() -> None:
    confusion = Confusion(41, 4, 6, 20)
    agreement, kappa, note = agreement_intervals(confusion, 1000, seed=0)
    assert (agreement, kappa, note) == (
        wilson_interval(61, 71),
        bootstrap_intervals(confusion, 1000, seed=0)[1],
        None,
    )


@pytest.mark.parametrize(
    ("confusion", "resamples", "expected"),
    [
        (Confusion(0, 0, 0, 0), 100, (False, False)),
        (Confusion(8, 0, 0, 0), 100, (True, False)),  # kappa undefined: no interval
        (Confusion(3, 0, 0, 2), 0, (True, False)),  # --bootstrap 0: agreement only
    ],
    ids=["nothing-compared", "single-class", "no-resamples"],
)
def test_agreement_interval_edges(
    confusion: Confusion, resamples: int, expected: tuple[bool, bool]
) -> None:
    agreement, kappa, note = agreement_intervals(confusion, resamples, seed=0)
    assert (agreement is not None, kappa is not None, note) == (*expected, None)
