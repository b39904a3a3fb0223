"""read_tool_calls: every shape the behavior template and the structure validators accept."""

from __future__ import annotations

import json
import re

import pytest

from judgekit.tool_calls import ToolCall, names, read_tool_calls

WEATHER = ToolCall("get_weather", {"city": "Lisbon", "days": 1})
BOOK = ToolCall("book", {"party_size": 4})

OPENAI = [
    {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Lisbon", "days": 1}'},
    },
    {
        "id": "call_2",
        "type": "function",
        "function": {"name": "book", "arguments": '{"party_size": 4}'},
    },
]
ANTHROPIC = [
    {"type": "text", "text": "Let me check."},
    {
        "type": "tool_use",
        "id": "toolu_1",
        "name": "get_weather",
        "input": {"city": "Lisbon", "days": 1},
    },
    {"type": "tool_use", "id": "toolu_2", "name": "book", "input": {"party_size": 4}},
]
RESPONSES = [
    {
        "type": "function_call",
        "call_id": "c1",
        "name": "get_weather",
        "arguments": '{"city": "Lisbon", "days": 1}',
    },
    {"type": "function_call", "call_id": "c2", "name": "book", "arguments": '{"party_size": 4}'},
]
PLAIN = [
    {"name": "get_weather", "arguments": {"city": "Lisbon", "days": 1}},
    {"name": "book", "args": {"party_size": 4}},
]
CONVERSATION = [
    {"role": "user", "content": "Weather in Lisbon, then book a table for 4"},
    {"role": "assistant", "content": None, "tool_calls": OPENAI[:1]},
    {"role": "tool", "tool_call_id": "call_1", "content": '{"high_c": 24}'},
    {"role": "assistant", "content": [ANTHROPIC[0], ANTHROPIC[2]]},
    {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "toolu_2", "content": "ok"}],
    },
]

SHAPES = [
    ("openai tool_calls", OPENAI),
    ("anthropic tool_use blocks", ANTHROPIC),
    ("responses function_call items", RESPONSES),
    ("plain name/arguments list", PLAIN),
    ("a whole conversation", CONVERSATION),
    ("an openai message", {"role": "assistant", "tool_calls": OPENAI}),
    ("an anthropic message", {"role": "assistant", "content": ANTHROPIC}),
    ("a JSON string", json.dumps(OPENAI)),
]


@pytest.mark.parametrize("value", [s[1] for s in SHAPES], ids=[s[0] for s in SHAPES])
def test_every_shape_reads_as_the_same_two_calls(value: object) -> None:
    assert read_tool_calls(value) == [WEATHER, BOOK]


@pytest.mark.parametrize(
    "value", [None, "", "  ", [], "[]"], ids=["none", "empty", "blank", "empty list", "empty json"]
)
def test_nothing_means_no_call(value: object) -> None:
    assert read_tool_calls(value) == []


ARGUMENTS = [
    ("absent", {"name": "t"}, {}),
    ("null", {"name": "t", "arguments": None}, {}),
    ("empty string", {"name": "t", "arguments": ""}, {}),
    (
        "null members dropped (JSONL struct merge)",
        {"name": "t", "arguments": {"a": 1, "b": None}},
        {"a": 1},
    ),
    ("not JSON kept as text", {"name": "t", "arguments": "city=Lisbon"}, {"_": "city=Lisbon"}),
    ("a JSON list kept", {"name": "t", "arguments": "[1, 2]"}, {"_": [1, 2]}),
    ("input key", {"name": "t", "input": {"q": "x"}}, {"q": "x"}),
    ("parameters key", {"name": "t", "parameters": {"q": "x"}}, {"q": "x"}),
]


@pytest.mark.parametrize(
    ("item", "arguments"), [a[1:] for a in ARGUMENTS], ids=[a[0] for a in ARGUMENTS]
)
def test_arguments_read_as_an_object(item: dict[str, object], arguments: dict[str, object]) -> None:
    assert read_tool_calls([item]) == [ToolCall("t", arguments)]


def test_keys_another_shape_left_null_do_not_confuse_the_reader() -> None:
    # A JSONL column mixing shapes reads as one struct: every item holds every key.
    merged = {
        "name": "t",
        "arguments": {"a": 1},
        "role": None,
        "content": None,
        "type": None,
        "function": None,
    }
    assert read_tool_calls([merged]) == [ToolCall("t", {"a": 1})]


BAD = [
    (
        "not json",
        "get_weather(city=Lisbon)",
        "tool_calls is not JSON (Expecting value at column 1)",
    ),
    ("a number", 7, "tool_calls is not a list of calls (got int)"),
    ("an item that is text", ["get_weather"], "tool_calls[0] is not an object (got str)"),
    ("no name", [{"arguments": {"a": 1}}], "tool_calls[0] has no tool name"),
    (
        "openai without a name",
        [{"type": "function", "function": {"arguments": "{}"}}],
        "tool_calls[0] has no tool name",
    ),
    (
        "inside a message",
        [{"role": "assistant", "tool_calls": [{"function": {"name": ""}}]}],
        "tool_calls[0].tool_calls[0] has no tool name",
    ),
]


@pytest.mark.parametrize(("value", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_unreadable_tool_calls_say_where(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        read_tool_calls(value)


def test_names_lists_the_calls_in_order() -> None:
    assert names([WEATHER, BOOK, WEATHER]) == "get_weather, book, get_weather"
    assert names([]) == "none"
