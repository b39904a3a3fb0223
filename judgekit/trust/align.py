"""``judgekit align``: few-shot examples and a calibrated threshold, kept only if they help.

From the rows with a human pass/fail label (unsure rows excluded, as in
``agreement``):

1. a seeded, stratified split into train and held-out (``fewshot.stratified_split``);
2. the current judge scores every labelled row (real calls through
   ``engine.score.score_dataset``: same budget, rate limits and cache);
3. up to K examples are chosen from train (``fewshot.choose_examples``), each
   with the human verdict and, with ``--note``, the human's note as reasoning;
4. the threshold is calibrated on train (``stats.calibrate``, best agreement) on
   the *current* judge's train scores.  Why not the few-shot judge's: its
   examples are train rows, so its train scores would be contaminated, and a
   second pass over train would double the cost.  The held-out comparison below
   is what decides, so a threshold that does not suit the few-shot judge shows
   up there;
5. the few-shot judge (examples + threshold) scores the held-out rows, and the
   held-out verdicts are compared before and after: agreement and Cohen's kappa
   with bootstrap 95% CIs, and McNemar's exact test on the paired verdicts.
   Rows where either judge erred are left out of the comparison.

The aligned config is written only when held-out agreement did not get worse.
Everything a rerun sends is already in the cache: a rerun costs nothing.
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import tomli_w

from judgekit.config import Config
from judgekit.config_errors import did_you_mean
from judgekit.config_judges import FewShotExample, JudgeConfig
from judgekit.datasets import inspect_dataset, iter_windows
from judgekit.engine.estimate import Estimate, estimate
from judgekit.engine.plan import Overrides
from judgekit.engine.score import ScoreJob, check_clean, score_dataset
from judgekit.errors import DatasetError, UsageError
from judgekit.output_paths import check_cache_apart
from judgekit.prompts import as_text
from judgekit.trust.fewshot import LabelledRow, choose_examples, stratified_split
from judgekit.trust.labels import label_codes, label_vocabulary
from judgekit.trust.stats import calibrate

MIN_PER_CLASS = 4
"""Labelled rows of each human class ``align`` needs: some to train on, some held out."""


@dataclass(frozen=True, slots=True)
class AlignJob:
    """Everything ``judgekit align`` was asked to do."""

    dataset: str
    config: Config
    config_path: Path
    judge: str
    output: Path
    human: str | None = None
    note: str | None = None
    examples: int = 4
    holdout_share: float = 0.3
    seed: int = 0
    budget_usd: float | None = None
    cache_path: Path | None = None
    use_cache: bool = True
    bootstrap: int = 1000


@dataclass(frozen=True, slots=True)
class Labelled:
    """The labelled rows of the dataset and how they split."""

    table: pa.Table
    """Only the labelled rows, in input order."""
    human_pass: tuple[bool, ...]
    train: tuple[int, ...]
    holdout: tuple[int, ...]
    judge: JudgeConfig


@dataclass(frozen=True, slots=True)
class Scored:
    """One judge's verdicts on some labelled rows (None on a judge error)."""

    scores: tuple[float | None, ...]
    passed: tuple[bool | None, ...]
    requests: int
    spent_usd: float


@dataclass(frozen=True, slots=True)
class Alignment:
    """What ``align`` found: the examples, the threshold, both judges on held-out rows."""

    labelled: Labelled
    examples: tuple[FewShotExample, ...]
    threshold_before: float
    threshold_after: float
    before: tuple[bool | None, ...]
    """The current judge's verdicts on the held-out rows, in ``labelled.holdout`` order."""
    after: tuple[bool | None, ...]
    requests: int
    spent_usd: float


def check_job(job: AlignJob) -> JudgeConfig:
    """The judge to align; UsageError (exit 2) for an unknown or rule judge, a taken -o."""
    names = [j.name for j in job.config.judges]
    judge = next((j for j in job.config.judges if j.name == job.judge), None)
    if judge is None:
        raise UsageError(
            f"--judge {job.judge}: no such judge in {job.config_path}"
            f"{did_you_mean(job.judge, names)}; judges: {', '.join(names)}"
        )
    if judge.type != "llm":
        llm = ", ".join(j.name for j in job.config.judges if j.type == "llm") or "none"
        raise UsageError(
            f"--judge {job.judge}: a rule judge (type {judge.type}) has no prompt to align; "
            f"choose an llm judge ({llm})"
        )
    if job.output.exists():
        raise UsageError(f"{job.output}: already exists; choose another -o or remove it")
    if job.human is None and judge.human_label is None:
        raise UsageError(
            f"judge '{judge.name}' has no human_label in {job.config_path}; "
            "pass --human COLUMN (the column of human pass/fail labels)"
        )
    return judge


def read_labelled(job: AlignJob) -> Labelled:
    """The human-labelled rows and their seeded split; DatasetError when too few."""
    judge = check_job(job)
    human = job.human or judge.human_label
    assert human is not None  # check_job
    info = inspect_dataset(job.dataset, job.config.run.id_column)
    if job.use_cache:  # the scoring steps' own checks see only their temp files
        clashes = [(job.output, "the output (-o)")] + [(f, "the dataset") for f in info.files]
        check_cache_apart(job.cache_path, clashes)
    for option, column in (("--human", human), ("--note", job.note)):
        if column is not None and column not in info.columns:
            raise DatasetError(
                f"{job.dataset}: no column '{column}' ({option})"
                f"{did_you_mean(column, info.columns)}; columns: {', '.join(info.columns)}"
            )
    # Without the windows' metadata (a Parquet row group's mark), which the split files would carry.
    table = pa.concat_tables(iter_windows(info)).replace_schema_metadata(None)
    vocabulary = label_vocabulary(job.config.agreement.labels)
    labels = pl.from_arrow(table.column(human))
    assert isinstance(labels, pl.Series)  # one column converts to a Series
    codes = label_codes(labels, vocabulary, f"{job.dataset}: column '{human}'")
    indexes = [i for i, code in enumerate(codes.to_list()) if code in (0, 1)]
    passes = sum(codes[i] == 1 for i in indexes)
    fails = len(indexes) - passes
    if not indexes:
        raise DatasetError(
            f"{job.dataset}: column '{human}' holds no pass/fail label; "
            "label some rows (pass or fail) and rerun"
        )
    if min(passes, fails) < MIN_PER_CLASS:
        raise DatasetError(
            f"{job.dataset}: column '{human}' has {passes} pass and {fails} fail labels; "
            f"align needs at least {MIN_PER_CLASS} of each: label more rows"
        )
    human_pass = tuple(codes[i] == 1 for i in indexes)
    rows = [LabelledRow(index=i, human_pass=p) for i, p in enumerate(human_pass)]
    split = stratified_split(rows, job.holdout_share, job.seed)
    labelled = table.take(pa.array(indexes, pa.int64()))
    return Labelled(labelled, human_pass, split.train, split.holdout, judge)


def _score_job(job: AlignJob, config: Config, rows: Path, budget_usd: float | None) -> ScoreJob:
    return ScoreJob(
        dataset=str(rows),
        config=config,
        config_path=str(job.config_path),
        output=rows.with_name(f"{rows.stem}.scored.parquet"),
        overrides=Overrides(judges=(job.judge,), budget_usd=budget_usd),
        cache_path=job.cache_path,
        use_cache=job.use_cache,
    )


def _write_rows(table: pa.Table, indexes: Sequence[int], path: Path) -> Path:
    pq.write_table(table.take(pa.array(indexes, pa.int64())), path)
    return path


def _score(job: ScoreJob, judge: str) -> Scored:
    report = score_dataset(job)
    check_clean(report)
    scored = pq.read_table(job.output, columns=[f"{judge}_score", f"{judge}_passed"])
    snapshot = report.outcome.snapshot
    return Scored(
        tuple(scored.column(0).to_pylist()),
        tuple(scored.column(1).to_pylist()),
        snapshot.requests,
        snapshot.spent_usd,
    )


def make_examples(
    job: AlignJob, labelled: Labelled, chosen: Sequence[LabelledRow]
) -> tuple[FewShotExample, ...]:
    """The chosen train rows as config examples: the judge's fields and the human verdict."""
    columns = dict(labelled.judge.columns)
    rows = labelled.table.to_pylist()
    examples = []
    for row in chosen:
        values = rows[row.index]

        def text(field: str, values: dict[str, Any] = values) -> str | None:
            column = columns.get(field, field)
            value = values.get(column)
            return None if value is None else as_text(value)

        note = text(job.note) if job.note else None
        examples.append(
            FewShotExample(
                input=text("input"),
                output=text("output") or "",
                expected=text("expected"),
                verdict="pass" if row.human_pass else "fail",
                reasoning=note or None,
            )
        )
    return tuple(examples)


def aligned_config(
    config: Config, judge: str, examples: Sequence[FewShotExample], threshold: float
) -> Config:
    """``config`` with ``judge``'s examples and threshold replaced."""
    judges = [
        j.model_copy(update={"examples": list(examples), "threshold": threshold})
        if j.name == judge
        else j
        for j in config.judges
    ]
    return config.model_copy(update={"judges": judges})


def _budget(job: AlignJob) -> float | None:
    return job.budget_usd if job.budget_usd is not None else job.config.run.budget_usd


def align(job: AlignJob, notice: Callable[[str], None]) -> Alignment:
    """Score, choose, calibrate, score again; raises usage errors before any call."""
    labelled = read_labelled(job)
    budget = _budget(job)
    with tempfile.TemporaryDirectory(prefix="judgekit-align-") as tmp:
        everything = range(len(labelled.human_pass))
        rows = _write_rows(labelled.table, everything, Path(tmp) / "labelled.parquet")
        notice(f"scoring {len(everything)} labelled rows with the current judge '{job.judge}'")
        base = _score(_score_job(job, job.config, rows, budget), job.judge)
        as_rows = [
            LabelledRow(i, labelled.human_pass[i], base.scores[i], base.passed[i])
            for i in everything
        ]
        train = [as_rows[i] for i in labelled.train]
        chosen = choose_examples(train, job.examples, job.seed)
        examples = make_examples(job, labelled, chosen)
        compared = pl.DataFrame(
            {"code": [int(r.human_pass) for r in train], "score": [r.score for r in train]},
            schema={"code": pl.Int8, "score": pl.Float64},
        )
        calibration = calibrate(compared, labelled.judge.threshold)
        best = calibration.best_agreement
        threshold = labelled.judge.threshold if best is None else round(best.threshold, 6)
        config = aligned_config(job.config, job.judge, examples, threshold)
        held = _write_rows(labelled.table, labelled.holdout, Path(tmp) / "holdout.parquet")
        left = None if budget is None else max(0.0, budget - base.spent_usd)
        notice(
            f"scoring {len(labelled.holdout)} held-out rows with the few-shot judge "
            f"({len(examples)} examples, threshold {threshold:g})"
        )
        after = _score(_score_job(job, config, held, left), job.judge)
    return Alignment(
        labelled=labelled,
        examples=examples,
        threshold_before=labelled.judge.threshold,
        threshold_after=threshold,
        before=tuple(base.passed[i] for i in labelled.holdout),
        after=after.passed,
        requests=base.requests + after.requests,
        spent_usd=base.spent_usd + after.spent_usd,
    )


@dataclass(frozen=True, slots=True)
class AlignEstimate:
    """``align --dry-run``: the two scoring steps' estimates."""

    labelled: Labelled
    current: Estimate
    few_shot: Estimate


def estimate_align(job: AlignJob) -> AlignEstimate:
    """What ``align`` would call and cost, calling nothing.  The examples are not
    chosen yet (that needs the first step's answers): the few-shot step is estimated
    with K train rows chosen as if the judge had missed them all."""
    labelled = read_labelled(job)
    with tempfile.TemporaryDirectory(prefix="judgekit-align-") as tmp:
        everything = range(len(labelled.human_pass))
        rows = _write_rows(labelled.table, everything, Path(tmp) / "labelled.parquet")
        current = estimate(_score_job(job, job.config, rows, _budget(job)))
        train = [LabelledRow(i, labelled.human_pass[i]) for i in labelled.train]
        examples = make_examples(job, labelled, choose_examples(train, job.examples, job.seed))
        config = aligned_config(job.config, job.judge, examples, labelled.judge.threshold)
        held = _write_rows(labelled.table, labelled.holdout, Path(tmp) / "holdout.parquet")
        few_shot = estimate(_score_job(job, config, held, _budget(job)))
    return AlignEstimate(labelled, current, few_shot)


def write_aligned(job: AlignJob, alignment: Alignment) -> None:
    """The user's config file with the judge's ``examples`` and ``threshold`` set, all
    else kept (comments are lost: TOML is re-written from its data).  Atomic."""
    with job.config_path.open("rb") as file:
        raw = tomllib.load(file)
    for judge in raw.get("judges", []):
        if judge.get("name") == job.judge:
            judge["threshold"] = alignment.threshold_after
            judge["examples"] = [
                example.model_dump(exclude_none=True) for example in alignment.examples
            ]
    partial = job.output.with_name(f".{job.output.name}.partial")
    partial.write_text(tomli_w.dumps(raw), encoding="utf-8")
    os.replace(partial, job.output)
