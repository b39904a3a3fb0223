"""Structure validators: rule judges that check what an agent did and the shape of its output.

Free, offline and deterministic, like the rules in ``judgekit.rules``; each
turns one row into a ``Verdict`` scored 1.0 (holds) or 0.0 (does not) with a
reason naming what was found.

- ``tool_called``: the ``tool_calls`` cell holds a call of ``tool``; with
  ``arguments``, one such call's arguments contain every given key with an
  equal value (objects are compared the same way, member by member; lists and
  scalars must be equal; ``ignore_case`` does not apply).
- ``tool_not_called``: no call of ``tool``.
- ``tool_order``: ``tools`` are called in this order; other calls may come
  before, between and after them.
- ``length``: the output, stripped, has between ``min_chars`` and ``max_chars``
  characters and between ``min_words`` and ``max_words`` words (whitespace
  separated); every bound is optional and inclusive.
- ``json_schema``: the output is JSON and validates against the schema (any
  draft ``jsonschema`` knows, Draft 2020-12 when the schema names none;
  ``format`` is checked for the formats ``jsonschema`` checks without optional
  packages).  A structured cell (a JSONL object) is validated as it is, its
  null members dropped: a JSONL column of objects holds every row's keys.

The tool calls are read by ``judgekit.tool_calls.read_tool_calls`` (its shapes
are documented there); a cell that is null or empty means no call was made.
A missing output scores 0 ("output is empty") for ``length`` and
``json_schema``.  A ``tool_calls`` cell that cannot be read raises
``ValueError``; the engine records it as ``bad_request``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, NoReturn

from judgekit.records import Verdict
from judgekit.tool_calls import ToolCall, names, read_tool_calls

ValidatorKind = Literal["tool_called", "tool_not_called", "tool_order", "length", "json_schema"]
VALIDATOR_KINDS: frozenset[str] = frozenset(
    {"tool_called", "tool_not_called", "tool_order", "length", "json_schema"}
)
TOOL_KINDS: frozenset[str] = frozenset({"tool_called", "tool_not_called", "tool_order"})

_HOLDS, _FAILS = 1.0, 0.0
_EMPTY_OUTPUT = Verdict(score=0.0, reasoning="output is empty")


@dataclass(frozen=True, slots=True)
class ValidatorSpec:
    """A validator's settings from the judge config, checked and ready to apply."""

    kind: ValidatorKind
    tool: str | None = None
    arguments: Mapping[str, Any] | None = None
    tools: tuple[str, ...] = ()
    min_chars: int | None = None
    max_chars: int | None = None
    min_words: int | None = None
    max_words: int | None = None
    schema: dict[str, Any] | None = None
    checker: Any = field(default=None, repr=False, compare=False)
    """The ``jsonschema`` validator built once from ``schema``."""


def make_spec(kind: ValidatorKind, **settings: Any) -> ValidatorSpec:
    """A ``ValidatorSpec``; ValueError naming the problem when the JSON Schema is invalid."""
    spec = ValidatorSpec(kind=kind, **settings)
    if kind != "json_schema":
        return spec
    if spec.schema is None:
        raise ValueError("json_schema needs a schema")
    import jsonschema.validators  # here: a config without a json_schema judge never loads it

    cls = jsonschema.validators.validator_for(spec.schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(spec.schema)
    except jsonschema.exceptions.SchemaError as exc:
        where = exc.json_path if exc.path else "the top level"
        raise ValueError(f"invalid JSON Schema at {where}: {exc.message}") from None
    return replace(spec, checker=cls(spec.schema, format_checker=cls.FORMAT_CHECKER))


def apply_validator(spec: ValidatorSpec, output: object, tool_calls: object) -> Verdict:
    """Score one row; ValueError when its ``tool_calls`` cell cannot be read."""
    if spec.kind in TOOL_KINDS:
        calls = read_tool_calls(tool_calls)
        if spec.kind == "tool_called":
            return _tool_called(spec, calls)
        if spec.kind == "tool_not_called":
            return _tool_not_called(spec, calls)
        return _tool_order(spec.tools, calls)
    if output is None:
        return _EMPTY_OUTPUT
    if spec.kind == "length":
        return _length(spec, output)
    return _json_schema(spec, output)


def _tool_called(spec: ValidatorSpec, calls: Sequence[ToolCall]) -> Verdict:
    assert spec.tool is not None
    matching = [call for call in calls if call.name == spec.tool]
    if not matching:
        return Verdict(_FAILS, f"{spec.tool} was not called (calls: {names(calls)})")
    if not spec.arguments:
        return Verdict(_HOLDS, f"{spec.tool} was called")
    wanted = _show(spec.arguments)
    if any(_contains(call.arguments, spec.arguments) for call in matching):
        return Verdict(_HOLDS, f"{spec.tool} was called with {wanted}")
    # Only the keys asked about: the rest of a call's arguments would bury the difference.
    seen = "; ".join(
        _show({k: call.arguments[k] for k in spec.arguments if k in call.arguments})
        for call in matching[:3]
    )
    return Verdict(_FAILS, f"{spec.tool} was called, but never with {wanted} (got {seen})")


def _tool_not_called(spec: ValidatorSpec, calls: Sequence[ToolCall]) -> Verdict:
    for index, call in enumerate(calls, 1):
        if call.name == spec.tool:
            return Verdict(_FAILS, f"{spec.tool} was called (call {index} of {len(calls)})")
    return Verdict(_HOLDS, f"{spec.tool} was not called (calls: {names(calls)})")


def _tool_order(tools: Sequence[str], calls: Sequence[ToolCall]) -> Verdict:
    position = 0
    for index, tool in enumerate(tools):
        found = next((i for i in range(position, len(calls)) if calls[i].name == tool), None)
        if found is None:
            after = f" after {tools[index - 1]}" if index else ""
            return Verdict(_FAILS, f"{tool} was not called{after} (calls: {names(calls)})")
        position = found + 1
    return Verdict(_HOLDS, f"called {', '.join(tools)} in this order")


def _contains(actual: object, wanted: object) -> bool:
    """Whether ``actual`` holds ``wanted``: objects member by member, the rest by equality."""
    if isinstance(wanted, Mapping):
        return isinstance(actual, Mapping) and all(
            key in actual and _contains(actual[key], value) for key, value in wanted.items()
        )
    if isinstance(wanted, bool) or isinstance(actual, bool):  # True == 1 in Python
        return type(wanted) is type(actual) and wanted == actual
    if isinstance(wanted, list | tuple):
        return isinstance(actual, list | tuple) and list(actual) == list(wanted)
    return bool(actual == wanted)


def _show(arguments: Mapping[str, Any]) -> str:
    """Arguments for a reason, cut so a huge call cannot flood the output."""
    text = json.dumps(arguments, ensure_ascii=False, default=str, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _length(spec: ValidatorSpec, output: object) -> Verdict:
    text = _text(output).strip()
    checks = (
        (len(text), "characters", spec.min_chars, spec.max_chars, "chars"),
        (len(text.split()), "words", spec.min_words, spec.max_words, "words"),
    )
    measured, bounds = [], []
    for count, units, low, high, key in checks:
        unit = units if count != 1 else units[:-1]
        if low is not None and count < low:
            return Verdict(_FAILS, f"{count} {unit}, below min_{key} {low}")
        if high is not None and count > high:
            return Verdict(_FAILS, f"{count} {unit}, above max_{key} {high}")
        if low is not None or high is not None:
            measured.append(f"{count} {unit}")
        bounds += [f"{name}_{key} {value}" for name, value in (("min", low), ("max", high))]
    shown = ", ".join(b for b in bounds if not b.endswith(" None"))
    return Verdict(_HOLDS, f"{' and '.join(measured)}, within {shown}")


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def _json_schema(spec: ValidatorSpec, output: object) -> Verdict:
    if isinstance(output, str):
        try:
            instance = json.loads(output, parse_constant=_reject_constant)
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno}, column {exc.colno}"
            return Verdict(_FAILS, f"invalid JSON: {exc.msg} ({where})")
        except ValueError as exc:
            return Verdict(_FAILS, f"invalid JSON: {exc}")
    else:
        instance = _without_nulls(output)
    errors = list(spec.checker.iter_errors(instance))
    if not errors:
        return Verdict(_HOLDS, "matches the JSON Schema")
    import jsonschema.exceptions

    error = jsonschema.exceptions.best_match(errors)
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    message = error.message if len(error.message) <= 120 else error.message[:117] + "..."
    return Verdict(_FAILS, f"does not match the JSON Schema at {error.json_path}: {message}{more}")


def _without_nulls(value: object) -> object:
    if isinstance(value, Mapping):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_without_nulls(v) for v in value]
    return value
