"""Charts for the HTML report, drawn with matplotlib as inline SVG.

Why matplotlib: it is the best-kept plotting library in Python, draws
without a display (the object-oriented ``Figure`` API, no pyplot state) and
writes SVG that needs no JavaScript, no font download and no CDN when the
page is opened.  Text stays text (``svg.fonttype = none``), which keeps each
chart a few tens of kilobytes.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib as mpl
from matplotlib.figure import Figure

_STYLE: Any = {  # matplotlib types rcParams keys as Literals; these are checked at run time
    "svg.fonttype": "none",
    "svg.hashsalt": "judgekit",  # same data, same bytes: reports diff cleanly
    "font.size": 9.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
}
COLOURS: Mapping[str, str] = {
    "human pass": "#2e7d32",
    "human fail": "#c62828",
    "unlabelled or unsure": "#9e9e9e",
}
_SIZE_IN = (5.2, 2.6)


def _svg(figure: Figure) -> str:
    """The figure as an ``<svg>`` element (XML prolog and DOCTYPE dropped)."""
    buffer = io.StringIO()
    with mpl.rc_context(_STYLE):
        figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    # The RDF <metadata> block names matplotlib's site and Dublin Core: drop it, so that
    # the page names no address at all (only the SVG namespaces remain).
    return re.sub(r"\s*<metadata>.*?</metadata>", "", text[text.index("<svg") :], flags=re.S)


def _figure() -> Figure:
    with mpl.rc_context(_STYLE):
        return Figure(figsize=_SIZE_IN, layout="constrained")


def score_histogram(groups: Mapping[str, Sequence[float]], threshold: float) -> str:
    """Stacked histogram of scores in 0..1 (20 bins), one colour per human verdict.

    ``groups`` maps a label ("human pass", ...) to its scores; the
    configured threshold is drawn as a dashed line.  Returns SVG markup.
    """
    with mpl.rc_context(_STYLE):
        figure = _figure()
        axes = figure.add_subplot()
        names = [name for name, values in groups.items() if len(values)]
        axes.hist(
            [list(groups[name]) for name in names],
            bins=20,
            range=(0.0, 1.0),
            stacked=True,
            label=names,
            color=[COLOURS.get(name, "#1565c0") for name in names],
        )
        axes.axvline(threshold, color="#333333", linestyle="--", linewidth=1)
        axes.set_xlabel(f"score (threshold {threshold:g}, dashed)")
        axes.set_ylabel("rows")
        if names:
            axes.legend(frameon=False)
        return _svg(figure)


def threshold_curve(
    thresholds: Sequence[float],
    agreement: Sequence[float],
    kappa: Sequence[float | None],
    configured: float,
) -> str:
    """Agreement and Cohen's kappa if ``passed = score >= t``, over t in 0..1. SVG markup."""
    with mpl.rc_context(_STYLE):
        figure = _figure()
        axes = figure.add_subplot()
        axes.plot(thresholds, agreement, label="agreement", color="#1565c0")
        kappa_points = [(t, k) for t, k in zip(thresholds, kappa, strict=True) if k is not None]
        if kappa_points:
            axes.plot(
                [t for t, _ in kappa_points],
                [k for _, k in kappa_points],
                label="Cohen's kappa",
                color="#ef6c00",
            )
        axes.axvline(configured, color="#333333", linestyle="--", linewidth=1)
        axes.set_xlim(0.0, 1.0)
        axes.set_ylim(min(0.0, *(k for _, k in kappa_points)) if kappa_points else 0.0, 1.0)
        axes.set_xlabel(f"threshold (configured {configured:g}, dashed)")
        axes.legend(frameon=False)
        return _svg(figure)


def distribution(values: Sequence[float], label: str) -> str:
    """Histogram (30 bins) of one numeric column, e.g. latency in ms. SVG markup."""
    with mpl.rc_context(_STYLE):
        figure = _figure()
        axes = figure.add_subplot()
        axes.hist(list(values), bins=30, color="#5c6bc0")
        axes.set_xlabel(label)
        axes.set_ylabel("rows")
        return _svg(figure)
