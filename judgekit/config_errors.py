"""A pydantic validation error of the config, as one line that says where, what and what to do.

``source: key.path[1].x: message (+N more: other.path, ...)``.  The path names the offending key
itself (``judges[0].columns.expectd``); an unknown key gets the allowed keys
and a guess; the mistakes people make (a threshold on the template's scale, a
judge name with capitals, ``[judges]`` for ``[[judges]]``) get words, not
pydantic's.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from judgekit.config_numbers import NUMBER_ERRORS, field_bounds, number_sentence, toml_shown

UNKNOWN_FIELD = "unknown_template_field"
"""Error type raised for an unknown key of a dict field; its ctx holds ``key`` and
``allowed`` (comma-separated)."""

_SCALE_EXAMPLE = "on a 1-5 template, 4 becomes (4 - 1) / (5 - 1) = 0.75"


def describe(exc: ValidationError, source: str, root: type[BaseModel]) -> str:
    """One line for the first error of ``exc`` (validating ``root``) read from ``source``:
    an unknown key first (a misspelt ``[[judge]]`` also leaves ``judges`` missing, and the
    guess is the useful line), then the others' key paths, up to ``SHOWN_MORE``."""
    errors = sorted(exc.errors(), key=lambda e: e["type"] not in _UNKNOWN_KEY_TYPES)
    first = errors[0]
    loc = _loc(first)
    where = _key_path(loc)
    message = _known_message(first, loc, root) or _message(first, loc, root)
    more = ""
    if len(errors) > 1:
        paths = [_key_path(_loc(error)) or "(top)" for error in errors[1 : SHOWN_MORE + 1]]
        etc = ", ..." if len(errors) > SHOWN_MORE + 1 else ""
        more = f" (+{len(errors) - 1} more: {', '.join(paths)}{etc})"
    return f"{source}: {where}: {message}{more}" if where else f"{source}: {message}{more}"


SHOWN_MORE = 3
"""How many further errors a config error names by their key path."""
_UNKNOWN_KEY_TYPES = ("extra_forbidden", UNKNOWN_FIELD)


def _loc(error: Mapping[str, Any]) -> tuple[int | str, ...]:
    """Where an error is; a dict's unknown key: the path names the key itself."""
    loc = tuple(error["loc"])
    if error["type"] == UNKNOWN_FIELD:
        loc += (error["ctx"]["key"],)
    return loc


def _key_path(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif str(item).startswith(("function-after", "function-before")):
            continue
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts)


def _message(error: Mapping[str, Any], loc: tuple[int | str, ...], root: type[BaseModel]) -> str:
    """Pydantic's error as a plain sentence with the fix (``config_numbers`` for numbers)."""
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    key = str(loc[-1]) if loc else ""
    field = _field_at(root, loc)
    if kind in NUMBER_ERRORS:
        optional = field is not None and field.default is None and not field.is_required()
        return number_sentence(kind, value, ctx, key, field_bounds(field), optional=optional)
    if kind == "missing":
        if loc == ("judges",):
            return "missing; add at least one [[judges]] table (see judgekit init)"
        if isinstance(loc[-1:][0] if loc else None, int):
            return "an item is missing; give [low, high]"
        return f"missing; add {key} = ... (a required key)"
    if kind == "too_short" and loc == ("judges",):
        return "no judge; add at least one [[judges]] table (see judgekit init)"
    if kind in ("too_short", "too_long"):
        bound = ctx.get("min_length") if kind == "too_short" else ctx.get("max_length")
        least = "at least" if kind == "too_short" else "at most"
        actual = ctx.get("actual_length")
        given = "no item" if actual == 0 else f"{actual} item{'s' if actual != 1 else ''}"
        return f"{given} given; give {least} {bound} item{'s' if bound != 1 else ''}"
    if kind == "string_too_short":
        return "empty; give a value or drop the key"
    if kind in _TYPE_WORDS:
        return f"must be {_TYPE_WORDS[kind]}, not {toml_shown(value)}"
    if kind == "literal_error":
        return f"invalid value {value!r} (allowed: {ctx.get('expected', '')})"
    if kind == "string_pattern_mismatch":
        return f"{value!r} does not have the allowed form (pattern {ctx.get('pattern')})"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


_TYPE_WORDS = {
    "string_type": "text in quotes",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
    "list_type": "an array [...]",
    "tuple_type": "an array [...]",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
}
"""A type error's expected kind, in the config file's words."""


def _field_at(root: type[BaseModel], loc: tuple[int | str, ...]) -> FieldInfo | None:
    """The field a key path ends at, when it is a key of a model; None otherwise."""
    if not loc or isinstance(loc[-1], int):
        return None
    model = _model_at(root, loc[:-1])
    return model.model_fields.get(str(loc[-1])) if model is not None else None


def _known_message(
    error: Mapping[str, Any], loc: tuple[int | str, ...], root: type[BaseModel]
) -> str | None:
    """What to do, for the mistakes people make; None for pydantic's own words."""
    kind, key, value = error["type"], loc[-1] if loc else "", error.get("input")
    if kind == UNKNOWN_FIELD:
        return _unknown_key(str(key), tuple(error["ctx"]["allowed"].split(", ")))
    if kind == "extra_forbidden":
        model = _model_at(root, loc[:-1])
        return _unknown_key(str(key), tuple(model.model_fields) if model else ())
    if key == "threshold" and kind in ("less_than_equal", "greater_than_equal"):
        return (
            f"{value!r} is outside 0..1: every score is normalised to 0..1, and so is the "
            f"threshold ({_SCALE_EXAMPLE})"
        )
    if key == "name" and kind == "string_pattern_mismatch" and isinstance(value, str):
        suggestion = re.sub(r"[^a-z0-9_]+", "_", value.lower()).strip("_")
        hint = f"; e.g. '{suggestion}'" if re.fullmatch(r"[a-z][a-z0-9_]*", suggestion) else ""
        return (
            f"{value!r} is not a judge name: use lowercase letters, digits and underscores, "
            f"starting with a letter (it begins the output column names){hint}"
        )
    if loc == ("judges",) and kind == "list_type":
        return "a single [judges] table; write [[judges]] (double brackets) before each judge"
    if len(loc) == 2 and loc[0] == "connections" and kind == "model_type":
        return (
            f"'{key}' is not a connection table; write [connections.NAME] with {key} = ... under it"
        )
    if key == "api_key_header" and kind == "string_pattern_mismatch":
        return (
            f"{value!r} is not a header name: use letters, digits and -, no spaces (e.g. 'api-key')"
        )
    if key == "api_key_env" and kind == "string_pattern_mismatch":
        return (
            f"{value!r} is not an environment variable name: use letters, digits and "
            "underscores, not starting with a digit (the NAME of the variable, not the key)"
        )
    return None


def _model_at(root: type[BaseModel], path: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model whose keys sit at ``path`` (``("judges", 0)`` -> the judge model)."""
    model, items = root, list(path)
    while items:
        field = model.model_fields.get(str(items.pop(0)))
        if field is None:
            return None
        inner, contained = _inner_model(field.annotation)
        if inner is None:
            return None
        if contained and items:  # a list index or a dict key: no key of a model
            items.pop(0)
        model = inner
    return model


def _inner_model(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """(the model in ``annotation``, whether inside a list or a dict)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if origin in (list, dict) and arguments:
        inner, _ = _inner_model(arguments[-1])
        return inner, True
    if origin in (typing.Union, types.UnionType):  # X | None
        for argument in arguments:
            inner, contained = _inner_model(argument)
            if inner is not None:
                return inner, contained
    return None, False


def did_you_mean(
    name: str, known: Iterable[str], form: str = "'{}'", *, cutoff: float = 0.6
) -> str:
    """``; did you mean 'x'?`` for the name of ``known`` closest to ``name`` (compared
    case-insensitively, ``difflib`` ratio at least ``cutoff``; ``form`` quotes it), or ""
    when none is close."""
    by_lower = {item.lower(): item for item in known}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=cutoff)
    return f"; did you mean {form.format(by_lower[close[0]])}?" if close else ""


def _unknown_key(key: str, allowed: tuple[str, ...]) -> str:
    """``unknown key; did you mean 'x'? (allowed: ...)``."""
    guess = did_you_mean(key, allowed)
    listed = f" (allowed: {', '.join(allowed)})" if allowed else ""
    return f"unknown key{guess}{listed}"
