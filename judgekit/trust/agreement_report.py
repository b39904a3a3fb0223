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

Each format is drawn by its own module: ``agreement_table``,
``agreement_markdown`` and ``agreement_document`` (JSON), the first two from the
figures as text in ``agreement_text``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from rich.console import Console
from rich.text import Text

from judgekit.config import AgreementConfig, Config
from judgekit.errors import UsageError
from judgekit.trust.agreement import AgreementReport, compare
from judgekit.trust.agreement_document import report_document
from judgekit.trust.agreement_markdown import report_markdown
from judgekit.trust.agreement_table import TABLE_WIDTH, report_table
from judgekit.trust.pairing import pair_judges
from judgekit.trust.thresholds import threshold_basis, threshold_notices

OutputFormat = Literal["table", "json", "markdown"]
_MAX_BOOTSTRAP: int = 100_000  # the bound of AgreementConfig.bootstrap


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
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        # Mode 0o666: the umask decides, as for any new file (mkstemp would give 0o600).
        handle = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(text)
            os.replace(temp, path)
        finally:
            with contextlib.suppress(OSError):
                temp.unlink(missing_ok=True)
    except OSError as exc:
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
