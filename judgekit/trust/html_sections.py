"""One judge's section of the HTML report: its charts, errors, usage and disagreements.

Scores are charted split by human verdict (when labels are paired), with
agreement and kappa swept over thresholds 0..1; errors are counted by kind;
cost, tokens and latency get totals and distributions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from judgekit.config import Config
from judgekit.trust.agreement import JudgeAgreement
from judgekit.trust.html_disagreements import Disagreement, find_disagreements
from judgekit.trust.pairing import Pairing
from judgekit.trust.scored_file import column_or_none


@dataclass(slots=True)
class JudgeSection:
    """Everything the page shows about one judge."""

    name: str
    threshold: float
    rows: int
    scored: int
    agreement: JudgeAgreement | None
    charts: dict[str, str] = field(default_factory=dict)
    errors: list[tuple[str, int]] = field(default_factory=list)
    usage: dict[str, str] = field(default_factory=dict)
    disagreements: list[Disagreement] = field(default_factory=list)
    disagreements_total: int = 0


def fill_section(
    section: JudgeSection,
    frame: pl.DataFrame,
    codes: pl.Series | None,
    pairing: Pairing | None,
    config: Config | None,
    charts: Any,
    max_disagreements: int,
) -> None:
    """Charts, errors, usage and disagreements of one judge."""
    name = section.name
    score = frame[f"{name}_score"].cast(pl.Float64).fill_nan(None)
    passed = frame[f"{name}_passed"].cast(pl.Boolean)
    error = column_or_none(frame, f"{name}_error", pl.String)
    if error is not None:
        failed = error.is_not_null() & (error.str.strip_chars() != "")
        counts = error.filter(failed).value_counts(sort=True)
        section.errors = [(str(k), int(n)) for k, n in counts.iter_rows()]
        passed = pl.select(pl.when(failed).then(None).otherwise(passed)).to_series()
    groups: dict[str, list[float]]
    if codes is None:
        groups = {"all rows": [s for s in score if s is not None]}
    else:
        groups = {
            "human pass": [
                s for s, c in zip(score, codes, strict=True) if c == 1 and s is not None
            ],
            "human fail": [
                s for s, c in zip(score, codes, strict=True) if c == 0 and s is not None
            ],
            "unlabelled or unsure": [
                s for s, c in zip(score, codes, strict=True) if c not in (0, 1) and s is not None
            ],
        }
    if any(groups.values()):
        section.charts["scores"] = charts.score_histogram(groups, section.threshold)
    if codes is not None and groups.get("human pass", []) + groups.get("human fail", []):
        grid, agreement, kappa = _threshold_sweep(groups["human pass"], groups["human fail"])
        section.charts["threshold"] = charts.threshold_curve(
            grid, agreement, kappa, section.threshold
        )
    section.usage = _usage(frame, name, charts)
    if codes is not None and pairing is not None:
        section.disagreements, section.disagreements_total = find_disagreements(
            frame, name, codes, score, passed, pairing, config, max_disagreements
        )


def _threshold_sweep(
    human_pass: Sequence[float], human_fail: Sequence[float]
) -> tuple[list[float], list[float], list[float | None]]:
    """Agreement and Cohen's kappa at t = 0, 0.01, ..., 1 (``passed = score >= t``)."""
    grid = [i / 100 for i in range(101)]
    agreement: list[float] = []
    kappa: list[float | None] = []
    total = len(human_pass) + len(human_fail)
    for t in grid:
        tp = sum(1 for s in human_pass if s >= t)
        fn = len(human_pass) - tp
        fp = sum(1 for s in human_fail if s >= t)
        tn = len(human_fail) - fp
        agreement.append((tp + tn) / total)
        denominator = (tp + fp) * (fp + tn) + (tp + fn) * (fn + tn)
        kappa.append(2 * (tp * tn - fn * fp) / denominator if denominator else None)
    return grid, agreement, kappa


def _usage(frame: pl.DataFrame, name: str, charts: Any) -> dict[str, str]:
    """Totals and distributions of cost, tokens and latency (charts go into the dict too)."""
    found: dict[str, str] = {}
    cost = column_or_none(frame, f"{name}_cost_usd", pl.Float64)
    if cost is not None:
        known = cost.drop_nulls()
        found["cost"] = f"${known.sum():.4f}" if known.len() else "unknown"
        if known.len() < cost.len():
            found["cost"] += f" (+{cost.len() - known.len()} rows unknown)"
    for kind in ("input", "output"):
        tokens = column_or_none(frame, f"{name}_{kind}_tokens", pl.Int64)
        if tokens is not None:
            found[f"{kind} tokens"] = f"{int(tokens.drop_nulls().sum()):,}"
    latency = column_or_none(frame, f"{name}_latency_ms", pl.Float64)
    if latency is not None and latency.drop_nulls().len():
        values = latency.drop_nulls()
        found["latency p50 / p95"] = (
            f"{values.quantile(0.5) or 0:.0f} / {values.quantile(0.95) or 0:.0f} ms"
        )
        found["chart:latency"] = charts.distribution(values.to_list(), "latency (ms)")
    tokens_in = column_or_none(frame, f"{name}_input_tokens", pl.Int64)
    if tokens_in is not None and tokens_in.drop_nulls().filter(tokens_in.drop_nulls() > 0).len():
        values = tokens_in.drop_nulls().filter(tokens_in.drop_nulls() > 0)
        found["chart:tokens"] = charts.distribution(values.to_list(), "input tokens per row")
    if cost is not None and cost.drop_nulls().filter(cost.drop_nulls() > 0).len():
        values = cost.drop_nulls().filter(cost.drop_nulls() > 0)
        found["chart:cost"] = charts.distribution(values.to_list(), "cost per row (USD)")
    return found
