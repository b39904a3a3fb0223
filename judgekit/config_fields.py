"""What more than one config table shares: the frozen base model, bounded numbers,
and the rule for ``params`` (request-body members a connection or a judge adds)."""

from __future__ import annotations

import json
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from judgekit.config_numbers import toml_shown

PositiveFloat = Annotated[float, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]


class FrozenModel(BaseModel):
    """A config table: unknown keys are errors, values never change once read, and a
    number is a TOML number (``concurrency = "16"`` or ``= true`` is an error, not 16 or 1:
    quotes around a number usually mean a value pasted from somewhere else); a number is
    finite (``1e999`` and ``nan`` are errors); a boolean is ``true`` or ``false``
    (``local_only = "yes"`` is an error, not true)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _numbers_are_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str | bool) and info.field_name is not None:
            field = cls.model_fields.get(info.field_name)
            if field is not None and _is_number(field.annotation):
                fix = "write it without quotes" if isinstance(value, str) else "give a number"
                raise ValueError(f"must be a number, not {json.dumps(value)}; {fix}")
        if not isinstance(value, bool) and info.field_name is not None:
            field = cls.model_fields.get(info.field_name)
            if field is not None and _is_bool(field.annotation) and value is not None:
                # Pydantic would read "yes", "false", 1 as booleans.
                quoted = isinstance(value, str) and value.lower() in ("true", "false")
                fix = "; write it without quotes" if quoted else ""
                raise ValueError(f"must be true or false, not {toml_shown(value)}{fix}")
        return value


def _is_bool(annotation: Any) -> bool:
    """Whether a field holds a bool (maybe optional) and nothing else."""
    if annotation is bool:
        return True
    args = [a for a in get_args(annotation) if a is not type(None)]
    return get_origin(annotation) in (Union, UnionType) and args == [bool]


def _is_number(annotation: Any) -> bool:
    """Whether a field holds an int or float (maybe optional, maybe constrained), and
    nothing else: ``int``, ``float | None``, ``Annotated[float, Field(gt=0)]``."""
    if annotation is int or annotation is float:
        return True
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) is Annotated:
        return _is_number(args[0])
    if get_origin(annotation) in (Union, UnionType) and args:
        return all(_is_number(a) for a in args)
    return False


RESERVED_PARAMS: dict[str, str] = {
    "model": "set 'model'",
    "messages": "judgekit writes the prompt",
    "input": "judgekit writes the prompt",
    "instructions": "judgekit writes the prompt",
    "system": "judgekit writes the prompt",
    "stream": "judgekit reads whole replies",
    "temperature": "set the connection's 'temperature'",
    "max_tokens": "set the connection's 'max_output_tokens'",
    "max_completion_tokens": "set the connection's 'max_output_tokens'",
    "max_output_tokens": "set the connection's 'max_output_tokens'",
    "response_format": "set the connection's 'output_mode'",
    "tools": "judgekit asks for the verdict itself",
    "tool_choice": "judgekit asks for the verdict itself",
}
"""Body members ``params`` may not set, and why."""


def check_params(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` when every member may go in a request body; ValueError otherwise."""
    for key in params:
        if key in RESERVED_PARAMS:
            raise ValueError(f"'{key}' cannot be a param ({RESERVED_PARAMS[key]})")
    try:
        json.dumps(params, allow_nan=False)
    except TypeError:
        raise ValueError(
            "params hold only strings, numbers, booleans, arrays and tables (no dates)"
        ) from None
    except ValueError:  # inf or nan: no JSON number, so no request body could carry it
        raise ValueError("params hold finite numbers only (not inf or nan)") from None
    return params
