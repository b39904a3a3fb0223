"""``judgekit agreement``: compute the report, render it, apply ``--fail-under``.

Formats: ``table`` (rich, fits 100 columns), ``markdown`` (a summary table,
then per judge its counts, confusion matrix and thresholds, then a legend; for
PR comments) and ``json``.  The JSON document is stable; keys never disappear,
an undefined value is ``null`` (never NaN) and a ``*note`` says why::

    {
      "source": "out/demo.parquet",        # the scored file read
      "bootstrap": 1000,                    # resamples behind the kappa interval (0: none)
      "seed": 0,                            # bootstrap seed
      "intervals": {"agreement": "wilson score", "kappa": "bootstrap percentile"},
      "judges": [{
        "judge": "correctness",
        "human_column": "human_verdict",
        "rows": 1000,                       # rows in the file
        "labelled": 950,                    # rows with a non-blank human label
        "excluded_unsure": 30,              # labelled unsure / unknown / skip
        "excluded_judge_error": 12,         # pass/fail label, but J_error set or J_passed null
        "compared": 908,                    # labelled - unsure - judge errors
        "agreement": 0.853,                 # share of compared rows where J_passed = human
        "agreement_ci": [0.83, 0.87],       # 95% Wilson score interval, or null
        "kappa": 0.701,                     # Cohen's kappa, or null ...
        "kappa_ci": [0.65, 0.75],           # 95% bootstrap percentile interval, or null
        "kappa_ci_note": null,              # set when the bootstrap was degenerate (a sample
                                            # without disagreement): then the agreement's
                                            # Wilson interval through kappa's formula
        "kappa_note": null,                 # ... with "no rows compared" or
                                            # "undefined: judge and humans each gave a single class"
        "confusion": {"tp": 512, "fn": 30, "fp": 40, "tn": 326},  # pass positive, human truth
        "fail_precision": 0.916,            # tn / (tn + fn): judge's fails that humans failed
        "fail_recall": 0.891,               # tn / (tn + fp): humans' fails the judge caught
        "judge_pass_rate": 0.61,            # (tp + fp) / compared
        "human_pass_rate": 0.6,             # (tp + fn) / compared
        "split_votes": {"sampled": 950, "split": 40, "share": 0.042},
                                            # samples > 1 only (else null): rows whose
                                            # samples did not all agree (J_vote_share < 1)
        "threshold": {
          "configured": 0.7,                # the threshold J_passed used: the one the file
                                            # was scored with (Parquet metadata), else the
                                            # config's, else 0.7
          "source": "file",                 # "file", "config" or "default": where it came from
          "scored": 908,                    # compared rows with a J_score (the rows below)
          "configured_agreement": 0.853,    # if passed = J_score >= configured
          "configured_kappa": 0.701,
          "mismatched": 0,                  # scored rows whose J_passed is not
                                            # J_score >= configured (another threshold)
          "config_threshold": null,         # the config's threshold when it differs from
          "config_agreement": null,         # the file's, with agreement and kappa at it
          "config_kappa": null,
          "best_agreement": {"threshold": 0.65, "agreement": 0.861, "kappa": 0.72},
          "best_kappa": {"threshold": 0.65, "agreement": 0.861, "kappa": 0.72},
          "note": null                      # "no scores among the rows compared" (all null)
                                            # or "humans gave a single class: ..." (no best_kappa)
        }
      }]
    }

Rates, agreement and their intervals are null when nothing is compared; fail
precision/recall when their denominator is 0.  ``--fail-under F`` fails a judge
whose agreement is below F, or undefined (nothing to vouch for it).

Which threshold each figure uses: agreement, kappa, the confusion matrix, pass
rates and ``--fail-under`` all read ``J_passed`` as the file holds it; the
threshold table's first row is the threshold that ``J_passed`` used
(``configured``), labelled "as scored" when the file records it, "config" or
"default" when it does not (and "unknown" in titles and messages when that
fallback does not reproduce ``J_passed``); "config" is added when a config
disagrees with the file; "best ..." are what-ifs over ``J_score``.  The wording
lives in ``trust.thresholds``.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from rich import box
from rich.console import Console, Group, RenderableType
from rich.measure import Measurement
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from judgekit.config import AgreementConfig, Config
from judgekit.errors import UsageError
from judgekit.trust.agreement import AgreementReport, JudgeAgreement, compare
from judgekit.trust.pairing import pair_judges
from judgekit.trust.stats import BOOTSTRAP, WILSON, Interval, ThresholdPoint
from judgekit.trust.thresholds import (
    SOURCE_ROW,
    mismatch_note,
    threshold_basis,
    threshold_notices,
    threshold_text,
)

OutputFormat = Literal["table", "json", "markdown"]
TABLE_WIDTH = 100
_SUMMARY_WIDTH = 80  # the summary on one line per judge, without the judge's name
_MAX_BOOTSTRAP: int = 100_000  # the bound of AgreementConfig.bootstrap

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


def run_agreement(
    scored_path: Path,
    *,
    config: Config | None,
    judges: Sequence[str],
    humans: Sequence[str],
    output_format: OutputFormat,
    output_path: Path | None,
    fail_under: float | None,
    bootstrap: int | None,
    seed: int | None,
    console: Console,
    messages: Console | None = None,
) -> int:
    """Compare judges with human labels, show or write the report; the exit code (0 or 1).

    ``--fail-under`` failures are printed to ``messages`` (default ``console``):
    give stderr there so that ``--format json | jq`` keeps a clean stdout.
    """
    settings = config.agreement if config is not None else AgreementConfig()
    resamples = settings.bootstrap if bootstrap is None else bootstrap
    if not 0 <= resamples <= _MAX_BOOTSTRAP:
        raise UsageError(f"--bootstrap must be between 0 and {_MAX_BOOTSTRAP}, got {resamples}")
    if fail_under is not None and not 0.0 <= fail_under <= 1.0:
        raise UsageError(f"--fail-under must be between 0 and 1, got {fail_under:g}")
    pairings = pair_judges(config, judges, humans)
    report = compare(
        scored_path, pairings, settings.labels, resamples, settings.seed if seed is None else seed
    )
    for line in threshold_notices(report):
        (messages or console).print(Text(line))
    if output_path is not None:
        write_report(report, output_format, output_path)
    elif output_format == "table":
        console.print(report_table(report, console.width))
    else:
        console.out(render_text(report, output_format), highlight=False, end="")
    failing = below(report, fail_under) if fail_under is not None else []
    for message in failing:
        (messages or console).print(Text(message))
    return 1 if failing else 0


def below(report: AgreementReport, fail_under: float) -> list[str]:
    """One message per judge whose agreement is under ``fail_under`` (or undefined)."""
    messages: list[str] = []
    for judge in report.judges:
        agreement = judge.agreement
        if agreement is None:
            messages.append(
                f"agreement of '{judge.judge}' is undefined (no rows compared), "
                f"below --fail-under {fail_under:g}"
            )
        elif agreement < fail_under:
            messages.append(
                f"agreement of '{judge.judge}' is {_below_figure(agreement, fail_under)} "
                f"(threshold {threshold_basis(judge)}), below --fail-under {fail_under:g}"
            )
    return messages


def _below_figure(value: float, limit: float) -> str:
    """``value`` with enough decimals to read as smaller than ``limit``."""
    for digits in range(2, 12):
        shown = f"{value:.{digits}f}"
        if float(shown) < limit:
            return shown
    return repr(value)


def write_report(report: AgreementReport, output_format: OutputFormat, path: Path) -> None:
    """Write the report atomically (temp file + rename); UsageError when impossible."""
    text = render_text(report, output_format)
    temp: str | None = None
    try:
        handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temp, path)
    except OSError as exc:
        if temp is not None:
            Path(temp).unlink(missing_ok=True)
        raise UsageError(f"{path}: cannot write the report ({exc.strerror or exc})") from None


def render_text(report: AgreementReport, output_format: OutputFormat) -> str:
    """The report as text: JSON, markdown, or the table without colours."""
    if output_format == "json":
        return json.dumps(report_document(report), indent=2, allow_nan=False) + "\n"
    if output_format == "markdown":
        return report_markdown(report)
    buffer = io.StringIO()
    Console(file=buffer, width=TABLE_WIDTH, color_system=None, legacy_windows=False).print(
        report_table(report)
    )
    return buffer.getvalue()


# --- json -------------------------------------------------------------------


def report_document(report: AgreementReport) -> dict[str, Any]:
    """The JSON document described in this module's docstring."""
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


# --- shared formatting ------------------------------------------------------


def _num(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _with_ci(value: float | None, interval: Interval | None, between: str = " ") -> str:
    if interval is None:
        return _num(value)
    return f"{_num(value)}{between}[{interval.low:.3f}, {interval.high:.3f}]"


def _counts(judge: JudgeAgreement) -> str:
    return (
        f"rows {judge.rows} · labelled {judge.labelled} · unsure {judge.excluded_unsure} · "
        f"judge errors {judge.excluded_judge_error} · compared {judge.compared}"
    )


def _threshold_rows(judge: JudgeAgreement) -> list[tuple[str, str, str, str]]:
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
        (which, threshold_text(point.threshold), _num(point.agreement), _num(point.kappa))
        for which, point in points
        if point is not None
    ]
    return rows or [(first, threshold_text(calibration.configured), "—", "—")]


def _notes(judge: JudgeAgreement) -> list[str]:
    """Why a figure is missing, or why the threshold does not explain J_passed."""
    notes = [f"kappa: {judge.kappa_note}"] if judge.kappa_note else []
    if judge.kappa_ci_note:
        notes.append(f"kappa interval: {judge.kappa_ci_note}")
    if judge.calibration.note:
        notes.append(f"threshold: {judge.calibration.note}")
    if judge.mismatched:
        notes.append(mismatch_note(judge))
    return notes


def _bootstrap_caption(report: AgreementReport) -> str:
    if report.bootstrap == 0:
        return "95% CI: agreement Wilson score; no kappa interval (--bootstrap 0)"
    return (
        f"95% CI: agreement Wilson score, kappa from {report.bootstrap} bootstrap resamples"
        f" (seed {report.seed})"
    )


# --- rich table -------------------------------------------------------------


def report_table(report: AgreementReport, width: int = TABLE_WIDTH) -> RenderableType:
    """A summary table, then each judge's counts, confusion matrix and thresholds.

    When one line per judge would not fit in ``width``, each interval goes
    under its figure rather than letting rich break it anywhere.
    """
    longest = max((len(judge.judge) for judge in report.judges), default=0)
    between = " " if width >= longest + _SUMMARY_WIDTH else "\n"
    summary = Table(caption=_bootstrap_caption(report), box=box.SIMPLE_HEAD)
    summary.add_column("judge", overflow="fold")
    for header in ("compared", "agreement (95% CI)", "kappa (95% CI)", "pass rate\njudge/human"):
        summary.add_column(header, justify="right", no_wrap=True)
    for judge in report.judges:
        summary.add_row(
            Text(judge.judge),
            str(judge.compared),
            _with_ci(judge.agreement, judge.agreement_ci, between),
            _with_ci(judge.kappa, judge.kappa_ci, between),
            f"{_num(judge.judge_pass_rate, 2)} / {_num(judge.human_pass_rate, 2)}",
        )
    summary.title = _title(f"Judge vs human agreement · {report.source}", summary, width)
    return Group(summary, *(_judge_details(judge) for judge in report.judges))


def _title(title: str, table: Table, width: int) -> Text:
    """Centred over ``table``; a title wider than the table but not than ``width`` (always
    so in a file or a pipe) stays on one line instead of wrapping at the table's edge."""
    measuring = Console(width=max(width, 1), color_system=None)
    table_width = Measurement.get(measuring, measuring.options, table).maximum
    if table_width < len(title) <= width:
        return Text(title, no_wrap=True, overflow="ignore")
    return Text(title)


def _judge_details(judge: JudgeAgreement) -> RenderableType:
    confusion = judge.confusion
    matrix = Table(box=box.SQUARE)
    for header in ("", "human pass", "human fail"):
        matrix.add_column(header, justify="right" if header else "left")
    matrix.add_row("judge pass", f"{confusion.tp} tp", f"{confusion.fp} fp")
    matrix.add_row("judge fail", f"{confusion.fn} fn", f"{confusion.tn} tn")
    thresholds = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for header in ("", "threshold", "agreement", "kappa"):
        thresholds.add_column(header, justify="right" if header else "left")
    for row in _threshold_rows(judge):
        thresholds.add_row(*row)
    lines: list[RenderableType] = [
        Text(_counts(judge)),
        matrix,
        Text(
            f"catching bad answers: fail precision {_num(judge.fail_precision)} · "
            f"fail recall {_num(judge.fail_recall)}"
        ),
        thresholds,
    ]
    if judge.votes is not None:
        lines.append(Text(judge.votes.line()))
    lines += [Text(note) for note in _notes(judge)]
    title = Text.assemble(
        (judge.judge, "bold"),
        " vs ",
        (judge.human_column, "bold"),
        f" · threshold {threshold_basis(judge, full=True)}",
    )
    return Group(Text(""), title, Padding(Group(*lines), (0, 0, 0, 2), expand=False))


# --- markdown ---------------------------------------------------------------


def report_markdown(report: AgreementReport) -> str:
    """A summary table, then per judge its counts, confusion matrix and thresholds."""
    out = [
        "## Judge vs human agreement",
        "",
        f"{_code(report.source)} · {_bootstrap_caption(report)}",
        "",
        "| judge | human labels | compared | agreement (95% CI) | kappa (95% CI) "
        "| judge pass | human pass | fail precision | fail recall |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for judge in report.judges:
        out.append(
            f"| {_code(judge.judge)} | {_code(judge.human_column)} | {judge.compared} "
            f"| {_with_ci(judge.agreement, judge.agreement_ci)} "
            f"| {_with_ci(judge.kappa, judge.kappa_ci)} "
            f"| {_num(judge.judge_pass_rate)} | {_num(judge.human_pass_rate)} "
            f"| {_num(judge.fail_precision)} | {_num(judge.fail_recall)} |"
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
        _counts(judge),
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
            for which, value, agreement, kappa in _threshold_rows(judge)
        ),
    ]
    if judge.votes is not None:
        lines += ["", judge.votes.line()]
    for note in _notes(judge):
        lines += ["", f"Note: {note}."]
    return lines


def _code(name: str) -> str:
    """``name`` as inline code, safe inside a markdown table."""
    fence, pad = ("``", " ") if "`" in name else ("`", "")
    return f"{fence}{pad}{name}{pad}{fence}".replace("|", "\\|")
