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
``trust.stats``; the report's rendering in ``trust.agreement_report``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import polars as pl

from judgekit.config import Config, JudgeConfig, LabelMeaning
from judgekit.errors import ConfigError, DatasetError, UsageError
from judgekit.output import read_thresholds
from judgekit.output_parts import is_parts_directory, part_files
from judgekit.records import PASS_TOLERANCE
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
from judgekit.trust.vote_split import VOTE_SHARE, SplitVotes, split_votes

DEFAULT_LABELS: Mapping[str, LabelMeaning] = {
    **dict.fromkeys(("correct", "pass", "true", "yes", "1"), "pass"),
    **dict.fromkeys(("incorrect", "fail", "false", "no", "0"), "fail"),
    **dict.fromkeys(("unsure", "unknown", "skip"), "exclude"),
}
"""Human label words (compared lowercased and stripped); blank and null are unlabelled."""

DEFAULT_THRESHOLD: float = JudgeConfig.model_fields["threshold"].default
NO_ROWS = "no rows compared"
SINGLE_CLASS = "undefined: judge and humans each gave a single class"
_CODES: Mapping[LabelMeaning, int] = {"pass": 1, "fail": 0, "exclude": -1}
_SHOWN = 8  # unknown labels / columns named in one error message


ThresholdSource = Literal["file", "config", "default"]
"""Where a judge's threshold comes from: the scored file's metadata, the config, or 0.7."""


@dataclass(frozen=True, slots=True)
class Pairing:
    """One judge compared with one column of human labels."""

    judge: str
    human_column: str
    threshold: float
    source: ThresholdSource = "config"
    config_threshold: float | None = None
    """The config's threshold when it differs from the one the file was scored with."""


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


# --- labels -----------------------------------------------------------------


def label_vocabulary(extra: Mapping[str, LabelMeaning]) -> dict[str, LabelMeaning]:
    """The default words plus ``[agreement] labels`` (which win), lowercased."""
    vocabulary = dict(DEFAULT_LABELS)
    for word, meaning in extra.items():
        key = word.strip().lower()
        if not key:
            raise ConfigError("[agreement] labels: a blank label is always unlabelled; remove it")
        vocabulary[key] = meaning
    return vocabulary


def label_codes(values: pl.Series, vocabulary: Mapping[str, LabelMeaning], where: str) -> pl.Series:
    """Int8 codes: 1 pass, 0 fail, -1 excluded, null unlabelled; unknown words raise."""
    text = _label_text(values, where)
    codes = text.replace_strict(
        {word: _CODES[meaning] for word, meaning in vocabulary.items()},
        default=None,
        return_dtype=pl.Int8,
    )
    unknown = (text != "") & codes.is_null()
    if unknown.any():
        raise DatasetError(
            f"{where}: unknown labels: {_tally(text, unknown)}; "
            f"known: {', '.join(vocabulary)}; map them in [agreement] labels"
        )
    return pl.select(pl.when(text == "").then(None).otherwise(codes)).to_series().rename("code")


def _label_text(values: pl.Series, where: str) -> pl.Series:
    """Labels as stripped lowercase text; 1.0 reads as "1", NaN as null."""
    try:
        if values.dtype.is_float():
            finite = values.fill_nan(None)
            integral = finite == finite.floor()
            as_int = finite.cast(pl.Int64, strict=False).cast(pl.String)
            text = pl.select(pl.when(integral).then(as_int).otherwise(finite.cast(pl.String)))
            values = text.to_series()
        return values.cast(pl.String).str.strip_chars().str.to_lowercase()
    except pl.exceptions.PolarsError:
        raise DatasetError(f"{where}: holds {values.dtype} values, not labels") from None


def _tally(values: pl.Series, mask: pl.Series) -> str:
    """``'maybe' (3), 'n/a' (1)``: the most frequent first.  Give the lowercased text:
    labels are case-insensitive, so ``Maybe`` and ``maybe`` are one unknown label."""
    found = values.filter(mask).cast(pl.String).str.strip_chars().value_counts(name="n")
    found = found.sort(["n", found.columns[0]], descending=[True, False])
    shown = [f"'{word}' ({n})" for word, n in found.head(_SHOWN).iter_rows()]
    more = f", … ({found.height - _SHOWN} more)" if found.height > _SHOWN else ""
    return ", ".join(shown) + more


# --- pairing and reading ----------------------------------------------------


def pair_judges(
    config: Config | None, judges: Sequence[str], humans: Sequence[str]
) -> tuple[Pairing, ...]:
    """Which judge to compare with which human column, from config and flags."""
    if humans and len(judges) != len(humans):
        raise UsageError("--judge and --human must be given the same number of times")
    if config is None:
        if not judges:
            raise UsageError("nothing to compare: give --config, or --judge J --human COL")
        if not humans:
            raise UsageError("without --config, give each --judge a --human COL")
        return tuple(
            Pairing(j, h, DEFAULT_THRESHOLD, "default") for j, h in zip(judges, humans, strict=True)
        )
    if humans:
        return tuple(
            Pairing(j, h, _configured(config, j).threshold)
            for j, h in zip(judges, humans, strict=True)
        )
    chosen = [_configured(config, name) for name in judges] or [
        judge for judge in config.judges if judge.human_label is not None
    ]
    if not chosen:
        raise ConfigError(
            "no judge in the config has a human_label; set one, or give --judge J --human COL"
        )
    for judge in chosen:
        if judge.human_label is None:
            raise ConfigError(f"judge '{judge.name}' has no human_label; give --human COL too")
    return tuple(Pairing(j.name, j.human_label or "", j.threshold) for j in chosen)


def as_scored(pairings: Sequence[Pairing], recorded: Mapping[str, float]) -> list[Pairing]:
    """Each pairing with the threshold its judge was scored with, when the file records it;
    the config's own threshold is kept as ``config_threshold`` when it differs."""
    resolved = []
    for pairing in pairings:
        scored = recorded.get(pairing.judge)
        if scored is None:
            resolved.append(pairing)
            continue
        differs = pairing.source == "config" and pairing.threshold != scored
        resolved.append(
            Pairing(
                pairing.judge,
                pairing.human_column,
                scored,
                "file",
                pairing.threshold if differs else None,
            )
        )
    return resolved


def _configured(config: Config, name: str) -> JudgeConfig:
    try:
        return config.judge(name)
    except KeyError:
        known = ", ".join(judge.name for judge in config.judges)
        raise ConfigError(f"no judge '{name}' in the config (judges: {known})") from None


def read_scored(path: Path, pairings: Sequence[Pairing]) -> pl.DataFrame:
    """The columns the pairings need, from a .parquet, .jsonl/.ndjson or .csv file, or a
    directory of Parquet parts (``--engine ray -o DIR/``)."""
    if not path.is_file() and not path.is_dir():
        raise DatasetError(f"{path}: no such file")
    with _reading(path):
        schema = scan_scored(path).collect_schema()
    wanted = _needed_columns(path, schema.names(), pairings)
    types: dict[str, pl.DataType] = {}
    if path.suffix.lower() == ".csv":
        # CSV has no types: labels and errors as text, scores as floats, verdicts as booleans.
        types = {name: pl.String() for name in wanted}
        for pairing in pairings:
            types |= {
                f"{pairing.judge}_score": pl.Float64(),
                f"{pairing.judge}_passed": pl.Boolean(),
                f"{pairing.judge}_{VOTE_SHARE}": pl.Float64(),
            }
        types = {name: dtype for name, dtype in types.items() if name in wanted}
    with _reading(path):
        return scan_scored(path, types).select(wanted).collect()


def scan_scored(path: Path, csv_types: Mapping[str, pl.DataType] | None = None) -> pl.LazyFrame:
    """A lazy scan of a scored .parquet, .jsonl/.ndjson or .csv file, or of a directory of
    Parquet parts (in row order); other types raise."""
    if path.is_dir():
        parts = part_files(path)
        if not is_parts_directory(path):
            raise DatasetError(
                f"{path}: is a directory but not judgekit's Parquet parts (part-00000.parquet,"
                " ...); give a scored file or such a directory"
            )
        return pl.scan_parquet(parts)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return pl.scan_parquet(path)
    if path.name.lower().endswith((".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")):
        return pl.scan_ndjson(path, infer_schema_length=None)
    if suffix == ".csv":
        return pl.scan_csv(path, schema_overrides=csv_types)
    raise DatasetError(f"{path}: unknown file type '{suffix}'; use .parquet, .jsonl or .csv")


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Turn polars' and the OS's read errors into one-line DatasetErrors."""
    try:
        yield
    except (pl.exceptions.PolarsError, OSError) as exc:
        lines = str(exc).strip().splitlines()
        raise DatasetError(f"{path}: cannot read ({lines[0] if lines else exc!r})") from None


def _needed_columns(path: Path, columns: Sequence[str], pairings: Sequence[Pairing]) -> list[str]:
    """Columns to read; a missing judge or human column is a DatasetError."""
    present = set(columns)
    wanted: list[str] = []
    for pairing in pairings:
        if f"{pairing.judge}_passed" not in present:
            found = sorted(c.removesuffix("_passed") for c in columns if c.endswith("_passed"))
            raise DatasetError(
                f"{path}: no column '{pairing.judge}_passed' for judge '{pairing.judge}' "
                f"(judges found: {', '.join(found) or 'none'})"
            )
        if pairing.human_column not in present:
            raise DatasetError(
                f"{path}: no column '{pairing.human_column}' for the human labels of judge "
                f"'{pairing.judge}' (columns: {_some(columns)})"
            )
        names = [pairing.human_column] + [
            f"{pairing.judge}_{s}" for s in ("passed", "score", "error", VOTE_SHARE)
        ]
        wanted += [name for name in names if name in present and name not in wanted]
    return wanted


def _some(names: Sequence[str]) -> str:
    more = f", … ({len(names) - _SHOWN} more)" if len(names) > _SHOWN else ""
    return ", ".join(names[:_SHOWN]) + more


def _outcomes(path: Path, frame: pl.DataFrame, judge: str, codes: pl.Series) -> pl.DataFrame:
    """code (human), passed (null on judge error) and score (null if none) per row."""
    passed = frame[f"{judge}_passed"]
    if not (passed.dtype in (pl.Boolean, pl.Null) or passed.dtype.is_integer()):
        raise DatasetError(
            f"{path}: column '{judge}_passed' holds {passed.dtype} values, expected booleans"
        )
    outcomes = pl.DataFrame({"code": codes, "passed": passed.cast(pl.Boolean)})
    if f"{judge}_error" in frame.columns:
        error = frame[f"{judge}_error"].cast(pl.String)
        failed = error.is_not_null() & (error.str.strip_chars() != "")
        outcomes = outcomes.with_columns(
            passed=pl.when(failed).then(None).otherwise(pl.col("passed"))
        )
    score = pl.Series("score", [None] * frame.height, dtype=pl.Float64)
    if f"{judge}_score" in frame.columns:
        raw = frame[f"{judge}_score"]
        if not (raw.dtype.is_numeric() or raw.dtype == pl.Null):
            raise DatasetError(
                f"{path}: column '{judge}_score' holds {raw.dtype} values, expected numbers"
            )
        score = raw.cast(pl.Float64).fill_nan(None).rename("score")
    return outcomes.with_columns(score)


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
                _outcomes(path, frame, p.judge, codes[p.human_column]), p, resamples, seed
            ),
            votes=split_votes(frame, p.judge),
        )
        for p in pairings
    )
    return AgreementReport(str(path), judges, resamples, seed)
