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

This module reads the file, chooses the judges and renders the page
(``report.html.j2``); one judge's section is built in ``html_sections``, its
disagreements table in ``html_disagreements``.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq

from judgekit import __version__
from judgekit.config import AgreementConfig, Config
from judgekit.errors import DatasetError, UsageError
from judgekit.output_parts import metadata_source
from judgekit.trust.agreement import AgreementReport, compare
from judgekit.trust.agreement_text import num
from judgekit.trust.html_disagreements import cut_texts
from judgekit.trust.html_sections import JudgeSection, fill_section
from judgekit.trust.labels import label_codes, label_vocabulary
from judgekit.trust.pairing import Pairing, pair_judges
from judgekit.trust.scored_file import check_scored_path, reading, scan_scored

SIZE_GOAL_BYTES = 5_000_000


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
        with contextlib.suppress(OSError):  # under a file, the temp file was never made
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

    check_scored_path(scored_path)  # a file, or a directory of Parquet parts
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
        fill_section(section, frame, codes, pairing, config, charts, max_disagreements)
        sections.append(section)
    tables = cut_texts([section.disagreements for section in sections])
    for section, table in zip(sections, tables, strict=True):
        section.disagreements = table
    return _render(
        source=str(scored_path),
        sections=sections,
        metadata=_metadata(scored_path),
        bootstrap=settings.bootstrap if report else None,
    )


def _read(path: Path) -> pl.DataFrame:
    with reading(path):
        frame = scan_scored(path).collect()
    return frame


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
    environment.filters["num"] = num
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
