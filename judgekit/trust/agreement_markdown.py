"""The ``markdown`` format of ``judgekit agreement``, for PR comments.

A summary table, then per judge its counts, confusion matrix and thresholds,
then a folded legend (``LEGEND``).  Names go in inline code, safe in a table.
"""

from __future__ import annotations

from judgekit.trust.agreement import AgreementReport, JudgeAgreement
from judgekit.trust.agreement_text import (
    bootstrap_caption,
    counts_line,
    judge_notes,
    num,
    threshold_rows,
    with_ci,
)
from judgekit.trust.thresholds import threshold_basis

LEGEND = (
    "agreement: share of compared rows where the judge's pass/fail equals the human's",
    "kappa: Cohen's kappa, agreement beyond chance (1 perfect, 0 chance level)",
    "compared: rows with a pass/fail human label and a judge verdict "
    "(unsure labels and judge errors are left out)",
    "tp/fn/fp/tn: pass is positive, the human is the truth",
    "fail precision: of the rows the judge failed, the share humans failed too; "
    "fail recall: of the rows humans failed, the share the judge caught",
    "threshold: passed = score >= threshold; best = the threshold that agrees most with humans",
    "95% CI: agreement's is the Wilson score interval (honest for tiny and perfect samples); "
    "kappa's a bootstrap percentile interval, or, when every resample gives the same kappa, "
    "the agreement's interval through kappa's formula",
    "—: undefined (nothing compared, or one single class on both sides)",
)


def report_markdown(report: AgreementReport) -> str:
    """A summary table, then per judge its counts, confusion matrix and thresholds."""
    out = [
        "## Judge vs human agreement",
        "",
        f"{_code(report.source)} · {bootstrap_caption(report)}",
        "",
        "| judge | human labels | compared | agreement (95% CI) | kappa (95% CI) "
        "| judge pass | human pass | fail precision | fail recall |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for judge in report.judges:
        out.append(
            f"| {_code(judge.judge)} | {_code(judge.human_column)} | {judge.compared} "
            f"| {with_ci(judge.agreement, judge.agreement_ci)} "
            f"| {with_ci(judge.kappa, judge.kappa_ci)} "
            f"| {num(judge.judge_pass_rate)} | {num(judge.human_pass_rate)} "
            f"| {num(judge.fail_precision)} | {num(judge.fail_recall)} |"
        )
    for judge in report.judges:
        out += _judge_markdown(judge)
    out += ["", "<details><summary>Legend</summary>", ""]
    out += [f"- {line}" for line in LEGEND]
    out += ["", "</details>", ""]
    return "\n".join(out)


def _judge_markdown(judge: JudgeAgreement) -> list[str]:
    confusion = judge.confusion
    lines = [
        "",
        f"### {_code(judge.judge)} vs {_code(judge.human_column)} · "
        f"threshold {threshold_basis(judge, full=True)}",
        "",
        counts_line(judge),
        "",
        "| | human pass | human fail |",
        "|---|---:|---:|",
        f"| **judge pass** | {confusion.tp} (tp) | {confusion.fp} (fp) |",
        f"| **judge fail** | {confusion.fn} (fn) | {confusion.tn} (tn) |",
        "",
        "| | threshold | agreement | kappa |",
        "|---|---:|---:|---:|",
        *(
            f"| {which} | {value} | {agreement} | {kappa} |"
            for which, value, agreement, kappa in threshold_rows(judge)
        ),
    ]
    if judge.votes is not None:
        lines += ["", judge.votes.line()]
    for note in judge_notes(judge):
        lines += ["", f"Note: {note}."]
    return lines


def _code(name: str) -> str:
    """``name`` as inline code, safe inside a markdown table."""
    fence, pad = ("``", " ") if "`" in name else ("`", "")
    return f"{fence}{pad}{name}{pad}{fence}".replace("|", "\\|")
