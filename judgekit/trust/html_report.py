"""``judgekit report``: one self-contained HTML page about a scored file.

Per judge: the score distribution split by human verdict, the confusion
matrix, agreement and Cohen's kappa with their intervals, agreement against
the threshold, the disagreements (searchable, sortable), errors by kind, and
the distributions of cost, tokens and latency; then the run's metadata.

The page needs nothing when opened: charts are inline SVG (``charts``), the
little JavaScript that sorts and filters tables is inline, and no font, CDN or
network address appears in it.  Long texts are cut to a length chosen so that
the page stays under ``SIZE_GOAL_BYTES`` for 10,000 rows; the full text (up to
``FULL_TEXT_CHARS``) opens with a click.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq

from judgekit import __version__
from judgekit.config import AgreementConfig, Config
from judgekit.errors import DatasetError, UsageError
from judgekit.output_parts import metadata_source
from judgekit.trust.agreement import (
    AgreementReport,
    JudgeAgreement,
    Pairing,
    compare,
    label_codes,
    label_vocabulary,
    pair_judges,
    scan_scored,
)

SIZE_GOAL_BYTES = 5_000_000
FULL_TEXT_CHARS = 4_000
_TABLE_BUDGET_BYTES = 3_000_000  # what all disagreement tables may take together
_SHORT_CHARS_RANGE = (60, 400)
_INPUT_NAMES = ("question", "input", "prompt", "query")
_OUTPUT_NAMES = ("answer", "output", "response", "completion")


@dataclass(frozen=True, slots=True)
class Cell:
    """A text cell: the shown beginning and, when cut, the longer text behind a click."""

    short: str
    full: str | None = None


@dataclass(frozen=True, slots=True)
class Disagreement:
    """One row where judge and human disagree."""

    row_id: str
    input: Cell
    output: Cell
    score: float | None
    judge_passed: bool
    human_label: str
    reasoning: Cell


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


def write_html_report(
    scored_path: Path,
    output_path: Path,
    *,
    config: Config | None,
    judges: Sequence[str] = (),
    humans: Sequence[str] = (),
    max_disagreements: int = 2_000,
) -> int:
    """Write the report for ``scored_path`` to ``output_path`` atomically; its size in bytes.

    Raises ``UsageError`` for a bad output path, ``DatasetError`` for an
    unreadable file or missing columns, ``ConfigError`` via ``pair_judges``.
    """
    if output_path.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"{output_path}: the report is HTML; name it .html")
    if output_path.is_dir():
        raise UsageError(f"{output_path}: is a directory; give a file name such as report.html")
    html = render_report(
        scored_path,
        config=config,
        judges=judges,
        humans=humans,
        max_disagreements=max_disagreements,
    )
    data = html.encode("utf-8")
    temporary = output_path.with_name(f".{output_path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, output_path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise UsageError(
            f"{output_path}: cannot write the report ({exc.strerror or exc})"
        ) from None
    return len(data)


def render_report(
    scored_path: Path,
    *,
    config: Config | None,
    judges: Sequence[str] = (),
    humans: Sequence[str] = (),
    max_disagreements: int = 2_000,
) -> str:
    """The report as one HTML string (see the module docstring for what it holds)."""
    from judgekit.trust import charts

    if not scored_path.is_file() and not scored_path.is_dir():  # a dir: Parquet parts
        raise DatasetError(f"{scored_path}: no such file")
    frame = _read(scored_path)
    names = _judge_names(frame.columns, config, judges)
    if not names:
        raise DatasetError(
            f"{scored_path}: no judge columns (NAME_score and NAME_passed); is it a scored file?"
        )
    pairings = _pairings(config, judges, humans, names)
    settings = config.agreement if config is not None else AgreementConfig()
    report: AgreementReport | None = None
    if pairings:
        report = compare(scored_path, pairings, settings.labels, settings.bootstrap, settings.seed)
    by_judge = {j.judge: j for j in report.judges} if report else {}
    paired = {p.judge: p for p in pairings}
    thresholds = _thresholds(scored_path, config)
    vocabulary = label_vocabulary(settings.labels)
    sections = []
    for name in names:
        pairing = paired.get(name)
        threshold = pairing.threshold if pairing else thresholds.get(name, 0.7)
        section = JudgeSection(
            name=name,
            threshold=threshold,
            rows=frame.height,
            scored=int(frame[f"{name}_score"].is_not_null().sum()),
            agreement=by_judge.get(name),
        )
        codes = None
        if pairing is not None:
            codes = label_codes(
                frame[pairing.human_column], vocabulary, f"{scored_path}: '{pairing.human_column}'"
            )
        _fill(section, frame, codes, pairing, config, charts, max_disagreements)
        sections.append(section)
    _cut_texts(sections)
    return _render(
        source=str(scored_path),
        sections=sections,
        metadata=_metadata(scored_path),
        bootstrap=settings.bootstrap if report else None,
    )


def _read(path: Path) -> pl.DataFrame:
    try:
        return scan_scored(path).collect()
    except (pl.exceptions.PolarsError, OSError) as exc:
        first = str(exc).strip().splitlines()
        raise DatasetError(f"{path}: cannot read ({first[0] if first else exc!r})") from None


def _judge_names(columns: Sequence[str], config: Config | None, chosen: Sequence[str]) -> list[str]:
    """Judges present in the file: the chosen ones, else the config's order, else the file's."""
    present = {c.removesuffix("_passed") for c in columns if c.endswith("_passed")}
    present &= {c.removesuffix("_score") for c in columns if c.endswith("_score")}
    if chosen:
        missing = [name for name in chosen if name not in present]
        if missing:
            raise DatasetError(
                f"no columns for judge '{missing[0]}' (judges found: "
                f"{', '.join(sorted(present)) or 'none'})"
            )
        return list(dict.fromkeys(chosen))
    if config is not None:
        ordered = [j.name for j in config.judges if j.name in present]
        return ordered + sorted(present - set(ordered))
    return [c.removesuffix("_passed") for c in columns if c.removesuffix("_passed") in present]


def _pairings(
    config: Config | None, judges: Sequence[str], humans: Sequence[str], names: Sequence[str]
) -> tuple[Pairing, ...]:
    """Judge/human pairs to compare; none (only distributions) when nothing says which."""
    if humans or (config is not None and any(j.human_label for j in config.judges)):
        pairs = pair_judges(config, judges if humans else (), humans)
        return tuple(p for p in pairs if p.judge in names)
    return ()


def _thresholds(path: Path, config: Config | None) -> dict[str, float]:
    """Each judge's threshold: as scored (file metadata), else the config's."""
    found: dict[str, float] = {}
    if config is not None:
        found |= {j.name: j.threshold for j in config.judges}
    stored = _metadata(path).get("judgekit.thresholds")
    if stored:
        # A damaged entry only loses the stored thresholds, never the report.
        with contextlib.suppress(ValueError, AttributeError, TypeError):
            found |= {str(k): float(v) for k, v in json.loads(stored).items()}
    return found


def _metadata(path: Path) -> dict[str, str]:
    """The ``judgekit.*`` key-value metadata of a Parquet file (of a directory of parts:
    its last part's); {} for other formats."""
    path = metadata_source(path)
    if path.suffix.lower() != ".parquet":
        return {}
    try:
        raw = pq.read_metadata(path).metadata or {}
    except OSError:
        return {}
    return {
        k.decode(): v.decode("utf-8", "replace")
        for k, v in raw.items()
        if k.startswith(b"judgekit.")
    }


def _fill(
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
    error = _column(frame, f"{name}_error", pl.String)
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
        _disagreements(section, frame, codes, score, passed, pairing, config, max_disagreements)


def _column(
    frame: pl.DataFrame, name: str, dtype: type[pl.DataType] | pl.DataType
) -> pl.Series | None:
    return frame[name].cast(dtype) if name in frame.columns else None


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
    cost = _column(frame, f"{name}_cost_usd", pl.Float64)
    if cost is not None:
        known = cost.drop_nulls()
        found["cost"] = f"${known.sum():.4f}" if known.len() else "unknown"
        if known.len() < cost.len():
            found["cost"] += f" (+{cost.len() - known.len()} rows unknown)"
    for kind in ("input", "output"):
        tokens = _column(frame, f"{name}_{kind}_tokens", pl.Int64)
        if tokens is not None:
            found[f"{kind} tokens"] = f"{int(tokens.drop_nulls().sum()):,}"
    latency = _column(frame, f"{name}_latency_ms", pl.Float64)
    if latency is not None and latency.drop_nulls().len():
        values = latency.drop_nulls()
        found["latency p50 / p95"] = (
            f"{values.quantile(0.5) or 0:.0f} / {values.quantile(0.95) or 0:.0f} ms"
        )
        found["chart:latency"] = charts.distribution(values.to_list(), "latency (ms)")
    tokens_in = _column(frame, f"{name}_input_tokens", pl.Int64)
    if tokens_in is not None and tokens_in.drop_nulls().filter(tokens_in.drop_nulls() > 0).len():
        values = tokens_in.drop_nulls().filter(tokens_in.drop_nulls() > 0)
        found["chart:tokens"] = charts.distribution(values.to_list(), "input tokens per row")
    if cost is not None and cost.drop_nulls().filter(cost.drop_nulls() > 0).len():
        values = cost.drop_nulls().filter(cost.drop_nulls() > 0)
        found["chart:cost"] = charts.distribution(values.to_list(), "cost per row (USD)")
    return found


def _text_column(frame: pl.DataFrame, config: Config | None, judge: str, field_name: str) -> str:
    if config is not None:
        for configured in config.judges:
            if configured.name == judge and field_name in configured.columns:
                column = configured.columns[field_name]
                if column in frame.columns:
                    return column
    names = _INPUT_NAMES if field_name == "input" else _OUTPUT_NAMES
    return next((n for n in names if n in frame.columns), "")


def _disagreements(
    section: JudgeSection,
    frame: pl.DataFrame,
    codes: pl.Series,
    score: pl.Series,
    passed: pl.Series,
    pairing: Pairing,
    config: Config | None,
    limit: int,
) -> None:
    wrong = (codes >= 0) & passed.is_not_null() & (passed != (codes == 1))
    indexes = [i for i, w in enumerate(wrong) if w]
    section.disagreements_total = len(indexes)
    id_column = config.run.id_column if config is not None else "id"
    ids = frame[id_column].cast(pl.String) if id_column in frame.columns else None
    input_column = _text_column(frame, config, section.name, "input")
    output_column = _text_column(frame, config, section.name, "output")
    reasoning = _column(frame, f"{section.name}_reasoning", pl.String)
    human = frame[pairing.human_column].cast(pl.String)
    for i in indexes[:limit]:
        section.disagreements.append(
            Disagreement(
                row_id=str(ids[i]) if ids is not None else str(i),
                input=Cell(_text(frame, input_column, i)),
                output=Cell(_text(frame, output_column, i)),
                score=score[i],
                judge_passed=bool(passed[i]),
                human_label=str(human[i]),
                reasoning=Cell(str(reasoning[i] or "") if reasoning is not None else ""),
            )
        )


def _text(frame: pl.DataFrame, column: str, index: int) -> str:
    if not column:
        return ""
    value = frame[column][index]
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, pl.Series):
        value = value.to_list()
    return json.dumps(value, ensure_ascii=False, default=str)


def _cut_texts(sections: Sequence[JudgeSection]) -> None:
    """Shorten every text cell so that all tables together stay near ``_TABLE_BUDGET_BYTES``."""
    cells = sum(len(s.disagreements) for s in sections) * 3
    if not cells:
        return
    low, high = _SHORT_CHARS_RANGE
    short = max(low, min(high, _TABLE_BUDGET_BYTES // (cells * 3)))
    full = max(short, min(FULL_TEXT_CHARS, _TABLE_BUDGET_BYTES // cells))
    for section in sections:
        section.disagreements = [
            Disagreement(
                row_id=d.row_id,
                input=_cut(d.input.short, short, full),
                output=_cut(d.output.short, short, full),
                score=d.score,
                judge_passed=d.judge_passed,
                human_label=d.human_label,
                reasoning=_cut(d.reasoning.short, short, full),
            )
            for d in section.disagreements
        ]


def _cut(text: str, short: int, full: int) -> Cell:
    if len(text) <= short:
        return Cell(text)
    longer = (
        text if len(text) <= full else text[:full] + f" … ({len(text) - full:,} more characters)"
    )
    return Cell(text[:short] + "…", longer)


def _render(
    *,
    source: str,
    sections: Sequence[JudgeSection],
    metadata: Mapping[str, str],
    bootstrap: int | None,
) -> str:
    import jinja2

    template_text = resources.files("judgekit.trust").joinpath("report.html.j2").read_text("utf-8")
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    environment.filters["num"] = _num
    template = environment.from_string(template_text)
    totals: dict[str, Any] = {}
    if "judgekit.totals" in metadata:
        try:
            totals = json.loads(metadata["judgekit.totals"])
        except ValueError:
            totals = {}
    return template.render(
        source=source,
        sections=sections,
        metadata={k: v for k, v in metadata.items() if k != "judgekit.totals"},
        totals=totals,
        bootstrap=bootstrap,
        version=__version__,
    )


def _num(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"
