"""How far to trust each judge: agreement with human labels (SPEC section 8).

Reads a scored file, maps human labels to pass / fail / excluded, and compares
them with ``J_passed`` as written in the file.  Every statistic is computed
from the four counts of the confusion matrix, with *pass* as the positive class
and the human as the truth::

                    human pass   human fail
    judge pass          tp           fp
    judge fail          fn           tn

Edge cases, each with a defined answer:

* no row compared (no labels, all unsure, all judge errors): agreement, kappa,
  rates and intervals are ``None`` and ``kappa_note`` says ``no rows compared``;
* judge and humans each gave one single class (expected agreement 1): kappa is
  ``None``, note ``undefined: judge and humans each gave a single class``;
* fail precision / recall are ``None`` when their denominator is 0;
* a missing judge or human column, or an unknown label, is a ``DatasetError``.

Thresholds: every figure but the threshold table comes from ``J_passed`` as the
file holds it.  The threshold it was scored with is read back from the Parquet
metadata (``judgekit.thresholds``, see ``output.read_thresholds``), so the
table's first row reproduces the headline; a config that says otherwise gets a
row of its own.  A file without that record (JSONL, CSV, older Parquet) falls
back to the config's threshold, else 0.7, and ``mismatched`` counts the rows
whose ``J_passed`` that threshold does not reproduce.

The statistics themselves (kappa, bootstrap, calibration) live in
``trust.stats``; human labels in ``trust.labels``; which judge meets which
labels in ``trust.pairing``; reading the file in ``trust.scored_file``; the
report's rendering in ``trust.agreement_report``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import polars as pl

from judgekit.config import LabelMeaning
from judgekit.output import read_thresholds
from judgekit.records import PASS_TOLERANCE
from judgekit.trust.labels import label_codes, label_vocabulary
from judgekit.trust.pairing import Pairing, ThresholdSource, as_scored
from judgekit.trust.scored_file import judge_outcomes, read_scored
from judgekit.trust.stats import (
    Calibration,
    Confusion,
    Interval,
    ThresholdPoint,
    agreement_intervals,
    agreement_of,
    calibrate,
    cohen_kappa,
    share,
)
from judgekit.trust.vote_split import SplitVotes, split_votes

NO_ROWS = "no rows compared"
SINGLE_CLASS = "undefined: judge and humans each gave a single class"


@dataclass(frozen=True, slots=True)
class JudgeAgreement:
    """Everything the report says about one judge."""

    judge: str
    human_column: str
    rows: int
    labelled: int
    excluded_unsure: int
    excluded_judge_error: int
    confusion: Confusion
    agreement_ci: Interval | None
    """95% Wilson score interval (``trust.stats``)."""
    kappa_ci: Interval | None
    """95% bootstrap percentile interval, or what ``kappa_ci_note`` says."""
    calibration: Calibration
    threshold_source: ThresholdSource = "config"
    config_threshold: float | None = None
    """The config's threshold when it differs from the file's (see ``at_config``)."""
    at_config: ThresholdPoint | None = None
    """Agreement and kappa at ``config_threshold``."""
    mismatched: int = 0
    """Scored rows whose ``J_passed`` is not ``J_score >= threshold`` (0 when from the file)."""
    kappa_ci_note: str | None = None
    """How the kappa interval was made when not by the bootstrap, else None."""
    votes: SplitVotes | None = None
    """Split votes of a judge with ``samples`` > 1 (``vote_split``); None without."""

    @property
    def compared(self) -> int:
        """Rows with a pass/fail human label and a judge verdict."""
        return self.confusion.compared

    @property
    def agreement(self) -> float | None:
        """Share of compared rows where judge and human agree; None when none."""
        return agreement_of(self.confusion)

    @property
    def kappa(self) -> float | None:
        """Cohen's kappa; None when undefined (see ``kappa_note``)."""
        return cohen_kappa(self.confusion)

    @property
    def kappa_note(self) -> str | None:
        """Why kappa is None, else None."""
        if self.compared == 0:
            return NO_ROWS
        return SINGLE_CLASS if self.kappa is None else None

    @property
    def fail_precision(self) -> float | None:
        """Of rows the judge failed, the share humans failed too."""
        return share(self.confusion.tn, self.confusion.tn + self.confusion.fn)

    @property
    def fail_recall(self) -> float | None:
        """Of rows humans failed, the share the judge caught."""
        return share(self.confusion.tn, self.confusion.tn + self.confusion.fp)

    @property
    def judge_pass_rate(self) -> float | None:
        """Share of compared rows the judge passed."""
        return share(self.confusion.tp + self.confusion.fp, self.compared)

    @property
    def human_pass_rate(self) -> float | None:
        """Share of compared rows humans passed."""
        return share(self.confusion.tp + self.confusion.fn, self.compared)


@dataclass(frozen=True, slots=True)
class AgreementReport:
    """All judges of one scored file."""

    source: str
    judges: tuple[JudgeAgreement, ...]
    bootstrap: int
    seed: int


def judge_agreement(
    outcomes: pl.DataFrame, pairing: Pairing, resamples: int, seed: int
) -> JudgeAgreement:
    """Counts, confusion, intervals and calibration of one judge.

    ``outcomes`` has ``code`` (see ``label_codes``), ``passed`` (null on judge
    error) and ``score`` (null when absent).
    """
    code, passed = pl.col("code"), pl.col("passed")
    verdict = code >= 0
    counts = outcomes.select(
        labelled=code.is_not_null().sum(),
        unsure=(code == -1).sum(),
        judge_error=(verdict & passed.is_null()).sum(),
        tp=((code == 1) & passed).sum(),
        fn=((code == 1) & ~passed).sum(),
        fp=((code == 0) & passed).sum(),
        tn=((code == 0) & ~passed).sum(),
    ).row(0, named=True)
    confusion = Confusion(counts["tp"], counts["fn"], counts["fp"], counts["tn"])
    agreement_ci, kappa_ci, kappa_ci_note = agreement_intervals(confusion, resamples, seed)
    compared = outcomes.filter(verdict & passed.is_not_null())
    at_config = None
    if pairing.config_threshold is not None:
        at_config = calibrate(compared, pairing.config_threshold).at_configured
    mismatched = compared.select(
        ((pl.col("score") >= pairing.threshold - PASS_TOLERANCE) != passed).fill_null(False).sum()
    ).item()
    return JudgeAgreement(
        judge=pairing.judge,
        human_column=pairing.human_column,
        rows=outcomes.height,
        labelled=counts["labelled"],
        excluded_unsure=counts["unsure"],
        excluded_judge_error=counts["judge_error"],
        confusion=confusion,
        agreement_ci=agreement_ci,
        kappa_ci=kappa_ci,
        calibration=calibrate(compared, pairing.threshold),
        threshold_source=pairing.source,
        config_threshold=pairing.config_threshold,
        at_config=at_config,
        mismatched=int(mismatched),
        kappa_ci_note=kappa_ci_note,
    )


# --- the whole report -------------------------------------------------------


def compare(
    path: Path,
    pairings: Sequence[Pairing],
    labels: Mapping[str, LabelMeaning],
    resamples: int,
    seed: int,
) -> AgreementReport:
    """Read ``path`` and compare every pairing's judge with its human labels."""
    vocabulary = label_vocabulary(labels)
    pairings = as_scored(pairings, read_thresholds(path))
    frame = read_scored(path, pairings)
    codes = {
        column: label_codes(frame[column], vocabulary, f"{path}: column '{column}'")
        for column in dict.fromkeys(p.human_column for p in pairings)
    }
    judges = tuple(
        replace(
            judge_agreement(
                judge_outcomes(path, frame, p.judge, codes[p.human_column]), p, resamples, seed
            ),
            votes=split_votes(frame, p.judge),
        )
        for p in pairings
    )
    return AgreementReport(str(path), judges, resamples, seed)
