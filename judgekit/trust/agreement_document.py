"""The ``--format json`` document of ``judgekit agreement``: plain dicts and lists,
``None`` (never NaN) for what is undefined.  Every key is described in
``agreement_report``'s docstring, where the README points."""

from __future__ import annotations

from typing import Any

from judgekit.trust.agreement import AgreementReport, JudgeAgreement
from judgekit.trust.stats import BOOTSTRAP, WILSON, Interval, ThresholdPoint


def report_document(report: AgreementReport) -> dict[str, Any]:
    """The JSON document described in ``agreement_report``'s docstring."""
    return {
        "source": report.source,
        "bootstrap": report.bootstrap,
        "seed": report.seed,
        "intervals": {"agreement": WILSON, "kappa": BOOTSTRAP},
        "judges": [_judge_document(judge) for judge in report.judges],
    }


def _judge_document(judge: JudgeAgreement) -> dict[str, Any]:
    confusion, calibration = judge.confusion, judge.calibration
    at = calibration.at_configured
    return {
        "judge": judge.judge,
        "human_column": judge.human_column,
        "rows": judge.rows,
        "labelled": judge.labelled,
        "excluded_unsure": judge.excluded_unsure,
        "excluded_judge_error": judge.excluded_judge_error,
        "compared": judge.compared,
        "agreement": judge.agreement,
        "agreement_ci": _pair(judge.agreement_ci),
        "kappa": judge.kappa,
        "kappa_ci": _pair(judge.kappa_ci),
        "kappa_ci_note": judge.kappa_ci_note,
        "kappa_note": judge.kappa_note,
        "confusion": {
            "tp": confusion.tp,
            "fn": confusion.fn,
            "fp": confusion.fp,
            "tn": confusion.tn,
        },
        "fail_precision": judge.fail_precision,
        "fail_recall": judge.fail_recall,
        "judge_pass_rate": judge.judge_pass_rate,
        "human_pass_rate": judge.human_pass_rate,
        "threshold": {
            "configured": calibration.configured,
            "source": judge.threshold_source,
            "scored": calibration.scored,
            "configured_agreement": at.agreement if at else None,
            "configured_kappa": at.kappa if at else None,
            "mismatched": judge.mismatched,
            "config_threshold": judge.config_threshold,
            "config_agreement": judge.at_config.agreement if judge.at_config else None,
            "config_kappa": judge.at_config.kappa if judge.at_config else None,
            "best_agreement": _point_document(calibration.best_agreement),
            "best_kappa": _point_document(calibration.best_kappa),
            "note": calibration.note,
        },
        "split_votes": judge.votes.as_dict() if judge.votes else None,
    }


def _pair(interval: Interval | None) -> list[float] | None:
    return None if interval is None else [interval.low, interval.high]


def _point_document(point: ThresholdPoint | None) -> dict[str, float | None] | None:
    if point is None:
        return None
    return {"threshold": point.threshold, "agreement": point.agreement, "kappa": point.kappa}
