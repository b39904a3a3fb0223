"""The disagreements table of the HTML report: rows where judge and human disagree.

Each row shows its id, input, output, score, both verdicts and the judge's
reasoning.  Input and output come from the judge's mapped columns, else the
usual names (``question``/``input``/..., ``answer``/``output``/...).  Long texts
are cut so that all tables together stay near ``_TABLE_BUDGET_BYTES``; the
longer text (up to ``FULL_TEXT_CHARS``) opens with a click.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from judgekit.config import Config
from judgekit.trust.pairing import Pairing
from judgekit.trust.scored_file import column_or_none

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


def _text_column(frame: pl.DataFrame, config: Config | None, judge: str, field_name: str) -> str:
    if config is not None:
        for configured in config.judges:
            if configured.name == judge and field_name in configured.columns:
                column = configured.columns[field_name]
                if column in frame.columns:
                    return column
    names = _INPUT_NAMES if field_name == "input" else _OUTPUT_NAMES
    return next((n for n in names if n in frame.columns), "")


def find_disagreements(
    frame: pl.DataFrame,
    judge: str,
    codes: pl.Series,
    score: pl.Series,
    passed: pl.Series,
    pairing: Pairing,
    config: Config | None,
    limit: int,
) -> tuple[list[Disagreement], int]:
    """The first ``limit`` rows where ``judge`` and the human disagree, and their total.

    ``codes`` are the human labels (``labels.label_codes``); ``passed`` is null on
    a judge error (never a disagreement)."""
    wrong = (codes >= 0) & passed.is_not_null() & (passed != (codes == 1))
    indexes = [i for i, w in enumerate(wrong) if w]
    id_column = config.run.id_column if config is not None else "id"
    ids = frame[id_column].cast(pl.String) if id_column in frame.columns else None
    input_column = _text_column(frame, config, judge, "input")
    output_column = _text_column(frame, config, judge, "output")
    reasoning = column_or_none(frame, f"{judge}_reasoning", pl.String)
    human = frame[pairing.human_column].cast(pl.String)
    found = [
        Disagreement(
            row_id=str(ids[i]) if ids is not None else str(i),
            input=Cell(_text(frame, input_column, i)),
            output=Cell(_text(frame, output_column, i)),
            score=score[i],
            judge_passed=bool(passed[i]),
            human_label=str(human[i]),
            reasoning=Cell(str(reasoning[i] or "") if reasoning is not None else ""),
        )
        for i in indexes[:limit]
    ]
    return found, len(indexes)


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


def cut_texts(tables: Sequence[Sequence[Disagreement]]) -> list[list[Disagreement]]:
    """Every table with its text cells shortened so that all tables together stay near
    ``_TABLE_BUDGET_BYTES``."""
    cells = sum(len(table) for table in tables) * 3
    if not cells:
        return [list(table) for table in tables]
    low, high = _SHORT_CHARS_RANGE
    short = max(low, min(high, _TABLE_BUDGET_BYTES // (cells * 3)))
    full = max(short, min(FULL_TEXT_CHARS, _TABLE_BUDGET_BYTES // cells))
    return [
        [
            Disagreement(
                row_id=d.row_id,
                input=_cut(d.input.short, short, full),
                output=_cut(d.output.short, short, full),
                score=d.score,
                judge_passed=d.judge_passed,
                human_label=d.human_label,
                reasoning=_cut(d.reasoning.short, short, full),
            )
            for d in table
        ]
        for table in tables
    ]


def _cut(text: str, short: int, full: int) -> Cell:
    if len(text) <= short:
        return Cell(text)
    longer = (
        text if len(text) <= full else text[:full] + f" … ({len(text) - full:,} more characters)"
    )
    return Cell(text[:short] + "…", longer)
