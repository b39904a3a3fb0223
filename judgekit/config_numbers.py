"""Numbers of the config and of the command line: finite, within their key's bounds, and
said in one sentence with the fix.

A config number (``FrozenModel``: ``allow_inf_nan=False``) and the flag that overrides it
(``--budget-usd`` for ``run.budget_usd``) obey the same bounds and read alike::

    x.toml: run.budget_usd: 0 is not above 0; give a positive number of dollars or drop the key
    --budget-usd nan: nan is not a finite number; give a positive number of dollars

``checked_flag`` validates a flag's value against its config key's own field, so the two
cannot drift apart.
"""

from __future__ import annotations

import json
import math
import typing
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from judgekit.errors import UsageError

NUMBER_ERRORS = frozenset(
    {"finite_number", "greater_than", "greater_than_equal", "less_than", "less_than_equal"}
    | {"int_from_float"}
)
"""Pydantic error types about a number's value (not its type)."""

Bounds = dict[str, float]
"""``gt`` / ``ge`` / ``lt`` / ``le`` of a field, as pydantic's ``Field`` takes them."""


def number_sentence(
    kind: str,
    value: Any,
    ctx: Mapping[str, Any],
    key: str,
    bounds: Bounds,
    *,
    optional: bool = False,
) -> str:
    """What is wrong with number ``value`` of ``key`` (a pydantic error ``kind`` and its
    ``ctx``) and what to do: ``5000 is above the maximum 4096; lower it``.  ``optional``:
    the key may be dropped (its default is "none")."""
    shown = toml_shown(value)
    drop = " or drop the key" if optional else ""
    if kind == "greater_than":
        return f"{shown} is not above {_g(ctx['gt'])}; give {wanted(bounds, key)}{drop}"
    if kind == "greater_than_equal":
        return f"{shown} is below the minimum {_g(ctx['ge'])}; raise it"
    if kind == "less_than":
        return f"{shown} is not below {_g(ctx['lt'])}; give {wanted(bounds, key)}"
    if kind == "less_than_equal":
        return f"{shown} is above the maximum {_g(ctx['le'])}; lower it"
    if kind == "int_from_float":
        return f"{shown} is not a whole number; give a whole number"
    return f"{shown} is not a finite number; give {wanted(bounds, key)}{drop}"


def wanted(bounds: Bounds, key: str) -> str:
    """``a positive number of dollars``, ``a number from 0 to 1``, ``a number above 0, at
    most 3600``: what a key with ``bounds`` takes (the unit told by the key's suffix)."""
    unit = " of dollars" if key.endswith("_usd") else " of seconds" if key.endswith("_s") else ""
    low = (
        f"above {_g(bounds['gt'])}"
        if "gt" in bounds
        else f"at least {_g(bounds['ge'])}"
        if "ge" in bounds
        else ""
    )
    high = (
        f"below {_g(bounds['lt'])}"
        if "lt" in bounds
        else f"at most {_g(bounds['le'])}"
        if "le" in bounds
        else ""
    )
    if bounds.get("gt") == 0 and not high:
        return f"a positive number{unit}"
    if "ge" in bounds and "le" in bounds:
        return f"a number{unit} from {_g(bounds['ge'])} to {_g(bounds['le'])}"
    limits = (", " if "gt" in bounds else " and ").join(part for part in (low, high) if part)
    return f"a number{unit} {limits}" if limits else f"a number{unit}"


def field_bounds(field: FieldInfo | None) -> Bounds:
    """The bounds of ``field``, also inside ``Annotated[float, Field(gt=0)] | None``."""
    if field is None:
        return {}
    return _bounds(field.metadata) | _annotation_bounds(field.annotation)


def _annotation_bounds(annotation: Any) -> Bounds:
    found: Bounds = {}
    if typing.get_origin(annotation) is Annotated:
        for extra in typing.get_args(annotation)[1:]:
            found |= _bounds(getattr(extra, "metadata", [extra]))
    for argument in typing.get_args(annotation):
        if typing.get_origin(annotation) is not Annotated:
            found |= _annotation_bounds(argument)
    return found


def _bounds(metadata: list[Any]) -> Bounds:
    return {
        name: float(getattr(item, name))
        for item in metadata
        for name in ("gt", "ge", "lt", "le")
        if getattr(item, name, None) is not None
    }


def toml_shown(value: Any) -> str:
    """``value`` as the config file writes it: ``"16"``, ``true``, ``inf``, ``a table``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else _g(value)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, str):
        return json.dumps(value)
    return str(value)


def _g(number: Any) -> str:
    return f"{number:g}" if isinstance(number, float) else str(number)


def checked_flag(flag: str, value: float | None, model: type[BaseModel], key: str) -> float | None:
    """``value`` of ``flag`` when ``model``'s ``key`` (the config key it overrides) would
    take it; UsageError in the config's words otherwise (``--budget-usd nan: nan is not a
    finite number; give a positive number of dollars``).  None passes (flag not given)."""
    field = model.model_fields[key]
    return _checked(flag, value, Annotated[field.annotation, field], key, field_bounds(field))


def checked_share(
    flag: str, value: float | None, low: float = 0.0, high: float = 1.0
) -> float | None:
    """``value`` of ``flag`` when a finite number from ``low`` to ``high`` (a flag with no
    config key: ``--fail-under``, ``--holdout``); UsageError as ``checked_flag``."""
    bounds = {"ge": low, "le": high}
    return _checked(flag, value, Annotated[float, Field(ge=low, le=high)], "", bounds)


def _checked(
    flag: str, value: float | None, annotation: Any, key: str, bounds: Bounds
) -> float | None:
    if value is None:
        return None
    adapter: TypeAdapter[Any] = TypeAdapter(annotation, config=ConfigDict(allow_inf_nan=False))
    try:
        adapter.validate_python(value)
    except ValidationError as exc:
        error = exc.errors()[0]
        sentence = number_sentence(error["type"], value, error.get("ctx") or {}, key, bounds)
        raise UsageError(f"{flag} {toml_shown(value)}: {sentence}") from None
    return value
