"""The ``table`` format of ``judgekit agreement``: rich tables that fit ``TABLE_WIDTH``.

A summary table (one line per judge when it fits), then per judge its counts,
confusion matrix, fail precision and recall, and threshold table.
"""

from __future__ import annotations

from rich import box
from rich.console import Console, Group, RenderableType
from rich.measure import Measurement
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

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

TABLE_WIDTH = 100
_SUMMARY_WIDTH = 80  # the summary on one line per judge, without the judge's name


def report_table(report: AgreementReport, width: int = TABLE_WIDTH) -> RenderableType:
    """A summary table, then each judge's counts, confusion matrix and thresholds.

    When one line per judge would not fit in ``width``, each interval goes
    under its figure rather than letting rich break it anywhere.
    """
    longest = max((len(judge.judge) for judge in report.judges), default=0)
    between = " " if width >= longest + _SUMMARY_WIDTH else "\n"
    summary = Table(caption=bootstrap_caption(report), box=box.SIMPLE_HEAD)
    summary.add_column("judge", overflow="fold")
    for header in ("compared", "agreement (95% CI)", "kappa (95% CI)", "pass rate\njudge/human"):
        summary.add_column(header, justify="right", no_wrap=True)
    for judge in report.judges:
        summary.add_row(
            Text(judge.judge),
            str(judge.compared),
            with_ci(judge.agreement, judge.agreement_ci, between),
            with_ci(judge.kappa, judge.kappa_ci, between),
            f"{num(judge.judge_pass_rate, 2)} / {num(judge.human_pass_rate, 2)}",
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
    for row in threshold_rows(judge):
        thresholds.add_row(*row)
    lines: list[RenderableType] = [
        Text(counts_line(judge)),
        matrix,
        Text(
            f"catching bad answers: fail precision {num(judge.fail_precision)} · "
            f"fail recall {num(judge.fail_recall)}"
        ),
        thresholds,
    ]
    if judge.votes is not None:
        lines.append(Text(judge.votes.line()))
    lines += [Text(note) for note in judge_notes(judge)]
    title = Text.assemble(
        (judge.judge, "bold"),
        " vs ",
        (judge.human_column, "bold"),
        f" · threshold {threshold_basis(judge, full=True)}",
    )
    return Group(Text(""), title, Padding(Group(*lines), (0, 0, 0, 2), expand=False))
