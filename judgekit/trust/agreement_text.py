"""An agreement report's figures as short text, shared by the table and the markdown.

``—`` stands for an undefined figure; intervals are ``[low, high]`` with three
decimals; the threshold rows and notes say which threshold each figure used.
"""

from __future__ import annotations

from judgekit.trust.agreement import AgreementReport, JudgeAgreement
from judgekit.trust.stats import Interval
from judgekit.trust.thresholds import SOURCE_ROW, mismatch_note, threshold_text


def num(value: float | None, digits: int = 3) -> str:
    """``value`` with ``digits`` decimals; ``—`` for None."""
    return "—" if value is None else f"{value:.{digits}f}"


def with_ci(value: float | None, interval: Interval | None, between: str = " ") -> str:
    """``value [low, high]`` (``between`` before the interval); the bare value without one."""
    if interval is None:
        return num(value)
    return f"{num(value)}{between}[{interval.low:.3f}, {interval.high:.3f}]"


def counts_line(judge: JudgeAgreement) -> str:
    """``rows N · labelled N · unsure N · judge errors N · compared N``."""
    return (
        f"rows {judge.rows} · labelled {judge.labelled} · unsure {judge.excluded_unsure} · "
        f"judge errors {judge.excluded_judge_error} · compared {judge.compared}"
    )


def threshold_rows(judge: JudgeAgreement) -> list[tuple[str, str, str, str]]:
    """(which, threshold, agreement, kappa) rows: the threshold J_passed used (as scored,
    config or default), the config's when it differs, best agreement, best kappa."""
    calibration = judge.calibration
    first = SOURCE_ROW[judge.threshold_source]
    points = (
        (first, calibration.at_configured),
        ("config", judge.at_config),
        ("best agreement", calibration.best_agreement),
        ("best kappa", calibration.best_kappa),
    )
    rows = [
        (which, threshold_text(point.threshold), num(point.agreement), num(point.kappa))
        for which, point in points
        if point is not None
    ]
    return rows or [(first, threshold_text(calibration.configured), "—", "—")]


def judge_notes(judge: JudgeAgreement) -> list[str]:
    """Why a figure is missing, or why the threshold does not explain J_passed."""
    notes = [f"kappa: {judge.kappa_note}"] if judge.kappa_note else []
    if judge.kappa_ci_note:
        notes.append(f"kappa interval: {judge.kappa_ci_note}")
    if judge.calibration.note:
        notes.append(f"threshold: {judge.calibration.note}")
    if judge.mismatched:
        notes.append(mismatch_note(judge))
    return notes


def bootstrap_caption(report: AgreementReport) -> str:
    """How the 95% intervals were made (resamples and seed of the bootstrap)."""
    if report.bootstrap == 0:
        return "95% CI: agreement Wilson score; no kappa interval (--bootstrap 0)"
    return (
        f"95% CI: agreement Wilson score, kappa from {report.bootstrap} bootstrap resamples"
        f" (seed {report.seed})"
    )
