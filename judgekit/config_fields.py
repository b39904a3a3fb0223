"""What more than one config table shares: the frozen base model, bounded numbers,
and the rule for ``params`` (request-body members a connection or a judge adds)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

PositiveFloat = Annotated[float, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]


class FrozenModel(BaseModel):
    """A config table: unknown keys are errors, values never change once read."""

    model_config = ConfigDict(extra="forbid", frozen=True)


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
        json.dumps(params)
    except (TypeError, ValueError):
        raise ValueError(
            "params hold only strings, numbers, booleans, arrays and tables (no dates)"
        ) from None
    return params
