"""Which threshold each agreement figure uses, in words (table, markdown, messages).

Every headline figure reads ``J_passed`` as the scored file holds it.  The
threshold behind it comes from the file's metadata ("as scored"), else from the
config ("config") or the default 0.7 ("default"); when the fallback does not
reproduce ``J_passed`` the threshold is "unknown" and a note says on how many
rows it fails.  See ``agreement.as_scored`` for how the source is decided.
"""

from __future__ import annotations

from collections.abc import Mapping

from judgekit.trust.agreement import AgreementReport, JudgeAgreement
from judgekit.trust.pairing import ThresholdSource

SOURCE_ROW: Mapping[ThresholdSource, str] = {
    "file": "as scored",
    "config": "config",
    "default": "default",
}
"""Label of the threshold table's first row, by where the threshold came from."""
_SOURCE_TEXT: Mapping[ThresholdSource, str] = {
    "file": "as scored",
    "config": "from the config",
    "default": "the default",
}


def threshold_text(value: float) -> str:
    """A threshold as shown: up to four significant digits (``0.5``, ``0.6933``)."""
    return f"{value:.4g}"


def threshold_basis(judge: JudgeAgreement, *, full: bool = False) -> str:
    """``0.5, as scored``: the threshold behind J_passed and where it comes from;
    ``not recorded`` / ``unknown (...)`` when the file records none and the fallback
    does not reproduce J_passed.  ``full`` adds why a fallback was used."""
    if judge.mismatched:
        return "unknown (the file does not record it)" if full else "not recorded"
    basis = (
        f"{threshold_text(judge.calibration.configured)}, {_SOURCE_TEXT[judge.threshold_source]}"
    )
    if full and judge.threshold_source != "file":
        basis += " (the file does not record one)"
    return basis


def mismatch_note(judge: JudgeAgreement) -> str:
    """Why the threshold is unknown: on how many rows the fallback misses J_passed."""
    return (
        f"threshold: {threshold_text(judge.calibration.configured)} does not reproduce "
        f"J_passed on {judge.mismatched} of {judge.calibration.scored} rows: the file was "
        "scored with another threshold, which it does not record (Parquet outputs do)"
    )


def threshold_notices(report: AgreementReport) -> list[str]:
    """One line per judge whose config threshold differs from the one it was scored with."""
    notices = []
    for judge in report.judges:
        if judge.config_threshold is None:
            continue
        scored = threshold_text(judge.calibration.configured)
        config = threshold_text(judge.config_threshold)
        notices.append(
            f"note: '{judge.judge}' was scored with threshold {scored} (recorded in "
            f"{report.source}), the config says {config}; the report uses {scored} "
            f"(the 'config' row shows {config})"
        )
    return notices
