"""``judgekit align``'s verdict: held-out figures before and after, and what they say.

Agreement and Cohen's kappa of each judge on the held-out rows where both
judges gave a verdict, with 95% bootstrap percentile intervals
(``stats.bootstrap_intervals``, seeded), and McNemar's exact test on the paired
verdicts (``fewshot.mcnemar_exact``): ``b`` rows right before and wrong after,
``c`` wrong before and right after.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from judgekit.trust.align import AlignEstimate, Alignment
from judgekit.trust.fewshot import mcnemar_exact
from judgekit.trust.stats import Confusion, Interval, agreement_of, bootstrap_intervals, cohen_kappa


@dataclass(frozen=True, slots=True)
class Side:
    """One judge's held-out figures (None when nothing was compared)."""

    confusion: Confusion
    agreement: float | None
    agreement_ci: Interval | None
    kappa: float | None
    kappa_ci: Interval | None


@dataclass(frozen=True, slots=True)
class Comparison:
    """Before and after on the same held-out rows, and McNemar's test."""

    compared: int
    before: Side
    after: Side
    right_before_wrong_after: int
    wrong_before_right_after: int
    p_value: float

    @property
    def not_worse(self) -> bool:
        """Held-out agreement did not get worse (False when nothing was compared)."""
        if self.before.agreement is None or self.after.agreement is None:
            return False
        return self.after.agreement >= self.before.agreement


def _side(humans: Sequence[bool], verdicts: Sequence[bool], resamples: int, seed: int) -> Side:
    pairs = list(zip(humans, verdicts, strict=True))
    confusion = Confusion(
        tp=sum(h and v for h, v in pairs),
        fn=sum(h and not v for h, v in pairs),
        fp=sum(not h and v for h, v in pairs),
        tn=sum(not h and not v for h, v in pairs),
    )
    agreement_ci, kappa_ci = bootstrap_intervals(confusion, resamples, seed)
    return Side(confusion, agreement_of(confusion), agreement_ci, cohen_kappa(confusion), kappa_ci)


def compare(alignment: Alignment, resamples: int, seed: int) -> Comparison:
    """Both judges on the held-out rows where each gave a verdict."""
    humans, before, after = [], [], []
    for index, old, new in zip(
        alignment.labelled.holdout, alignment.before, alignment.after, strict=True
    ):
        if old is not None and new is not None:
            humans.append(alignment.labelled.human_pass[index])
            before.append(old)
            after.append(new)
    b = sum(o == h and n != h for h, o, n in zip(humans, before, after, strict=True))
    c = sum(o != h and n == h for h, o, n in zip(humans, before, after, strict=True))
    return Comparison(
        compared=len(humans),
        before=_side(humans, before, resamples, seed),
        after=_side(humans, after, resamples, seed),
        right_before_wrong_after=b,
        wrong_before_right_after=c,
        p_value=mcnemar_exact(b, c),
    )


def _figure(value: float | None, interval: Interval | None, digits: int) -> str:
    if value is None:
        return "-"
    text = f"{value:.{digits}f}"
    if interval is not None:
        text += f" [{interval.low:.{digits}f}, {interval.high:.{digits}f}]"
    return text


def comparison_lines(alignment: Alignment, comparison: Comparison) -> list[str]:
    """The before/after table and McNemar's line, as printed."""
    labelled = alignment.labelled
    rows = [
        ("before", alignment.threshold_before, comparison.before, "current judge"),
        (
            "after",
            alignment.threshold_after,
            comparison.after,
            f"{len(alignment.examples)} examples",
        ),
    ]
    lines = [
        f"held-out rows: {comparison.compared} compared of {len(labelled.holdout)} "
        f"(train: {len(labelled.train)})",
        f"{'':<7} {'judge':<14} {'threshold':>9}  {'agreement [95% CI]':<22} kappa [95% CI]",
    ]
    for name, threshold, side, what in rows:
        lines.append(
            f"{name:<7} {what:<14} {threshold:>9.3g}  "
            f"{_figure(side.agreement, side.agreement_ci, 3):<22} "
            f"{_figure(side.kappa, side.kappa_ci, 2)}"
        )
    lines.append(
        f"McNemar exact test: b={comparison.right_before_wrong_after} (right before, wrong "
        f"after), c={comparison.wrong_before_right_after} (wrong before, right after), "
        f"p={comparison.p_value:.3f}"
    )
    return lines


def estimate_lines(found: AlignEstimate) -> list[str]:
    """``--dry-run``'s lines: both steps' calls and worst-case cost, the total."""
    labelled = found.labelled
    lines = ["dry run: nothing sent"]
    steps = (
        ("current judge on the labelled rows", len(labelled.human_pass), found.current),
        ("few-shot judge on the held-out rows", len(labelled.holdout), found.few_shot),
    )
    for what, rows, step in steps:
        lines.append(
            f"  {what}: {rows} rows, {step.calls_needed} calls to send "
            f"({step.calls_cached} cached), worst case ${step.worst_case_usd:.4f}"
        )
    total = found.current.worst_case_usd + found.few_shot.worst_case_usd
    budget = found.current.budget_usd
    within = "" if budget is None else f" (budget ${budget:g})"
    lines.append(f"  worst case in all: ${total:.4f}{within}")
    lines.append(
        "  (the few-shot step is estimated with train rows as stand-in examples; "
        "the examples align chooses may be longer)"
    )
    return lines
