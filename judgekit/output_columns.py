"""The output's columns: each judge's ``J_*`` fields, the output schema, a window's arrays.

Every input column comes first, unchanged and in input order, then each judge's
``J_*`` columns (SPEC section 6).
"""

from __future__ import annotations

from array import array
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import pyarrow as pa

from judgekit.errors import UsageError
from judgekit.records import JudgeResult

_RESULT_COLUMNS: tuple[tuple[str, pa.DataType | None], ...] = (
    ("score", pa.float64()),
    ("passed", pa.bool_()),
    ("reasoning", pa.string()),
    ("confidence", pa.float64()),
    ("criteria", None),  # struct of the judge's criteria; only when it has criteria
    ("error", pa.string()),
    ("input_tokens", pa.int64()),
    ("output_tokens", pa.int64()),
    ("cost_usd", pa.float64()),
    ("latency_ms", pa.float64()),
    ("model", pa.string()),
    ("response_id", pa.string()),
)
"""(JudgeResult attribute = column suffix, Arrow type), in output order."""

CONTINUATION_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("should_continue", pa.bool_()),
    ("next_prompt", pa.string()),
)
"""After the others, for a judge with ``continue_conversation`` only."""

SAMPLING_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("score_stddev", pa.float64()),
    ("vote_share", pa.float64()),
)
"""After those, for a judge with ``samples`` > 1 only (``engine.sampling``)."""

PAIRWISE_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("winner", pa.string()),
    ("position_consistent", pa.bool_()),
)
"""Last, for a judge with the ``pairwise`` template only (``engine.pairwise``)."""


def judge_fields(
    judge: str,
    criteria: Sequence[str],
    *,
    continuation: bool = False,
    sampling: bool = False,
    pairwise: bool = False,
) -> list[pa.Field]:
    """Return the ``{judge}_*`` output fields, in order; ``J_criteria`` only with criteria,
    ``J_should_continue`` and ``J_next_prompt`` only with ``continuation``,
    ``SAMPLING_COLUMNS`` only with ``sampling``, ``PAIRWISE_COLUMNS`` only with ``pairwise``."""
    fields = []
    for attribute, type_ in _RESULT_COLUMNS:
        if type_ is None:
            if not criteria:
                continue
            type_ = pa.struct([pa.field(name, pa.float64()) for name in criteria])
        fields.append(pa.field(f"{judge}_{attribute}", type_))
    if continuation:
        fields += [pa.field(f"{judge}_{name}", type_) for name, type_ in CONTINUATION_COLUMNS]
    if sampling:
        fields += [pa.field(f"{judge}_{name}", type_) for name, type_ in SAMPLING_COLUMNS]
    if pairwise:
        fields += [pa.field(f"{judge}_{name}", type_) for name, type_ in PAIRWISE_COLUMNS]
    return fields


def output_schema(
    input_schema: pa.Schema,
    judges: Sequence[tuple[str, Sequence[str]]],
    *,
    continuing: Collection[str] = (),
    sampling: Collection[str] = (),
    pairwise: Collection[str] = (),
) -> pa.Schema:
    """Return the input fields then each judge's fields; UsageError when a name is taken twice.

    ``continuing`` names the judges with ``continue_conversation``, ``sampling`` those with
    ``samples`` > 1, ``pairwise`` those with the ``pairwise`` template."""
    fields = list(input_schema.remove_metadata())
    taken = set(input_schema.names)
    for judge, criteria in judges:
        extra = {"sampling": judge in sampling, "pairwise": judge in pairwise}
        for field in judge_fields(judge, criteria, continuation=judge in continuing, **extra):
            if field.name in taken:
                raise UsageError(
                    f"output column '{field.name}' already exists (from the dataset or another"
                    f" judge); rename judge '{judge}' or drop the column"
                )
            taken.add(field.name)
            fields.append(field)
    return pa.schema(fields)


def judge_arrays(
    judges: Sequence[tuple[str, Sequence[str]]], results: Mapping[str, Sequence[JudgeResult]]
) -> list[pa.Array]:
    """Every judge's columns for one window, in ``output_schema`` order."""
    arrays: list[pa.Array] = []
    for judge, criteria in judges:
        arrays.extend(_result_arrays(results[judge], tuple(criteria)))
    return arrays


def _result_arrays(rows: Sequence[JudgeResult], criteria: tuple[str, ...]) -> list[pa.Array]:
    """One array per ``judge_fields`` column, in the same order (attribute access, not getattr:
    this runs for every row of every judge)."""
    string, float64, int64 = pa.string(), pa.float64(), pa.int64()
    head = [
        _array([r.score for r in rows], float64),
        _array([r.passed for r in rows], pa.bool_()),
        _array([r.reasoning for r in rows], string),
        _array([r.confidence for r in rows], float64),
    ]
    tail = [
        _array([r.error for r in rows], string),
        _array([r.input_tokens for r in rows], int64),
        _array([r.output_tokens for r in rows], int64),
        _array([r.cost_usd for r in rows], float64),
        _array([r.latency_ms for r in rows], float64),
        _array([r.model for r in rows], string),
        _array([r.response_id for r in rows], string),
    ]
    return [*head, _criteria_array(rows, criteria), *tail] if criteria else [*head, *tail]


_SHARED: dict[tuple[pa.DataType, int, bool], pa.Array] = {}
"""All-null and all-zero arrays by type and length, shared by every window: a rule judge
leaves half of its columns null and its tokens and cost 0, ~40 bytes a row that an output
row group would otherwise gather."""
_SHARED_KEPT = 64


def _array(values: list[Any], type_: pa.DataType) -> pa.Array:
    """``pa.array(values, type_)``; a shared array (immutable) when every value is None, or
    is 0 in an integer or float column (never -0.0: the value is kept exactly)."""
    if not values:
        return pa.array(values, type_)
    first = values[0]
    if first is None:
        if values.count(None) != len(values):
            return pa.array(values, type_)
        key = (type_, len(values), False)
    elif first == 0 and type(first) in (int, float) and _all_zero(values, type_):
        key = (type_, len(values), True)
    else:
        return pa.array(values, type_)
    found = _SHARED.get(key)
    if found is None:
        if len(_SHARED) >= _SHARED_KEPT:  # windows of many lengths: keep the cache small
            _SHARED.clear()
        found = _SHARED[key] = pa.array(values, type_) if key[2] else pa.nulls(len(values), type_)
    return found


def _all_zero(values: list[Any], type_: pa.DataType) -> bool:
    """Whether every value is 0 (int64) or +0.0 (float64: -0.0 equals 0 but is kept)."""
    if values.count(0) != len(values):
        return False
    if pa.types.is_int64(type_):
        return True
    if pa.types.is_float64(type_):
        raw = array("d", values).tobytes()  # +0.0 is all zero bytes; -0.0 has its sign bit
        return raw.count(0) == len(raw)
    return False


def _continuation_arrays(rows: Sequence[JudgeResult]) -> list[pa.Array]:
    """``J_should_continue`` and ``J_next_prompt`` (``CONTINUATION_COLUMNS``)."""
    return [
        pa.array([r.should_continue for r in rows], pa.bool_()),
        pa.array([r.next_prompt for r in rows], pa.string()),
    ]


def _sampling_arrays(rows: Sequence[JudgeResult]) -> list[pa.Array]:
    """``J_score_stddev`` and ``J_vote_share`` (``SAMPLING_COLUMNS``)."""
    return [
        pa.array([r.score_stddev for r in rows], pa.float64()),
        pa.array([r.vote_share for r in rows], pa.float64()),
    ]


def _pairwise_arrays(rows: Sequence[JudgeResult]) -> list[pa.Array]:
    """``J_winner`` and ``J_position_consistent`` (``PAIRWISE_COLUMNS``)."""
    return [
        pa.array([r.winner for r in rows], pa.string()),
        pa.array([r.position_consistent for r in rows], pa.bool_()),
    ]


def _criteria_array(rows: Sequence[JudgeResult], criteria: tuple[str, ...]) -> pa.Array:
    # Only the configured criteria: a template's extra dimensions have no column.
    type_ = pa.struct([pa.field(name, pa.float64()) for name in criteria])
    values: list[dict[str, Any] | None] = [
        None if row.criteria is None else {name: row.criteria.get(name) for name in criteria}
        for row in rows
    ]
    return pa.array(values, type=type_)
