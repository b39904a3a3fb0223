"""Read the tool calls an agent made, whatever shape the dataset stores them in.

``read_tool_calls`` is the one parser; the structure validators (``validators``)
use it, and the ``behavior`` template shows the judge the same cell as it is.
Accepted shapes (a JSON string holding any of them is decoded first):

- OpenAI Chat Completions ``tool_calls``:
  ``[{"id": ..., "type": "function", "function": {"name": ..., "arguments": "<JSON>"}}]``
- Anthropic content blocks: ``[{"type": "tool_use", "name": ..., "input": {...}}]``;
  other blocks (``text``, ``tool_result``) are skipped.
- OpenAI Responses output items: ``[{"type": "function_call", "name": ..., "arguments": "<JSON>"}]``
- A plain list: ``[{"name": ..., "arguments": {...}}]`` (``arguments`` may be a JSON string,
  ``args``/``input``/``parameters`` are accepted too).
- A message, or a list of messages (a whole conversation): the calls of every
  ``tool_calls`` list and of every ``content`` list, in order.  Messages
  without calls (``user``, ``tool`` results, plain text) contribute nothing.

None, an empty string and an empty list mean no call was made.  Arguments
that are absent or null read as ``{}``; their null members are dropped (a
JSONL column of objects holds every row's keys, the absent ones as null);
arguments that are not an object (or a JSON string holding one) are kept as
``{"_": value}`` so a check can still report them.  Anything else raises
``ValueError`` naming what is wrong.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

_ARGUMENT_KEYS = ("arguments", "args", "input", "parameters")


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One call: the tool's name and its arguments as an object."""

    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)


def read_tool_calls(value: object) -> list[ToolCall]:
    """The calls in ``value``, in order; ValueError when it holds no readable call shape."""
    if value is None:
        return []
    if isinstance(value, str):
        if not value.strip():
            return []
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"tool_calls is not JSON ({exc.msg} at column {exc.colno})") from None
    if isinstance(value, Mapping):
        value = [value]
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        raise ValueError(f"tool_calls is not a list of calls (got {type(value).__name__})")
    calls: list[ToolCall] = []
    for index, item in enumerate(value):
        _collect(item, calls, f"tool_calls[{index}]")
    return calls


def _collect(item: object, calls: list[ToolCall], where: str) -> None:
    """Append the calls ``item`` holds: a call, a content block, or a message."""
    if item is None:
        return
    if not isinstance(item, Mapping):
        raise ValueError(f"{where} is not an object (got {type(item).__name__})")
    kind = item.get("type")
    function = item.get("function")
    if isinstance(function, Mapping):  # OpenAI Chat Completions
        calls.append(_call(function.get("name"), function.get("arguments"), where))
    elif kind in ("tool_use", "function_call"):  # Anthropic block, Responses item
        arguments = item.get("input") if kind == "tool_use" else item.get("arguments")
        calls.append(_call(item.get("name"), arguments, where))
    elif any(item.get(key) is not None for key in ("role", "content", "tool_calls")):  # a message
        for key in ("content", "tool_calls"):
            inner = item.get(key)
            if isinstance(inner, list):
                for index, block in enumerate(inner):
                    _collect(block, calls, f"{where}.{key}[{index}]")
    elif kind is not None and item.get("name") is None:
        return  # another content block (text, tool_result, image): not a call
    else:  # the plain shape
        arguments = next((item[k] for k in _ARGUMENT_KEYS if item.get(k) is not None), None)
        calls.append(_call(item.get("name"), arguments, where))


def _call(name: object, arguments: object, where: str) -> ToolCall:
    if not isinstance(name, str) or not name:
        raise ValueError(f"{where} has no tool name")
    return ToolCall(name, _arguments(arguments))


def _arguments(value: object) -> Mapping[str, Any]:
    """Arguments as an object; a JSON string is decoded (OpenAI sends them as text)."""
    if value is None:
        return {}
    if isinstance(value, str):
        if not value.strip():
            return {}
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return {"_": value}
    if isinstance(value, Mapping):
        # Null members are dropped: JSONL objects read as one struct holding every row's
        # keys, so a key another call used reads as null here.
        return {k: v for k, v in value.items() if v is not None}
    return {"_": value}


def names(calls: Sequence[ToolCall]) -> str:
    """The called tools as ``a, b, c`` (``none`` when there are none), for reasons."""
    return ", ".join(call.name for call in calls) or "none"
