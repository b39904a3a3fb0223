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
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

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
    message = _known_message(first, loc, root) or _message(first)
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


def _message(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    if kind == "missing":
        return "required key is missing"
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"invalid value {error.get('input')!r} (allowed: {expected})"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


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


def _unknown_key(key: str, allowed: tuple[str, ...]) -> str:
    """``unknown key; did you mean 'x'? (allowed: ...)``."""
    close = difflib.get_close_matches(key.lower(), allowed, n=1, cutoff=0.6)
    guess = f"; did you mean '{close[0]}'?" if close else ""
    listed = f" (allowed: {', '.join(allowed)})" if allowed else ""
    return f"unknown key{guess}{listed}"
