"""Structure validators: what each one accepts, refuses, and says about it."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from judgekit.records import Verdict
from judgekit.validators import ValidatorKind, apply_validator, make_spec

CALLS = [
    {"name": "search_restaurants", "arguments": {"query": "Casa Lola"}},
    {"name": "get_weather", "arguments": {"city": "Lisbon", "days": 1, "units": {"temp": "C"}}},
    {"name": "create_reservation", "arguments": {"party_size": 4, "time": "20:00"}},
]
FORECAST = {
    "type": "object",
    "required": ["city", "high_c"],
    "properties": {"city": {"type": "string"}, "high_c": {"type": "number"}},
}

# (id, kind, settings, output, tool_calls, score, reasoning)
CASES: list[tuple[str, ValidatorKind, dict[str, Any], object, object, float, str]] = [
    ("called", "tool_called", {"tool": "get_weather"}, None, CALLS, 1.0, "get_weather was called"),
    (
        "called with a subset of its arguments",
        "tool_called",
        {"tool": "get_weather", "arguments": {"city": "Lisbon"}},
        None,
        CALLS,
        1.0,
        'get_weather was called with {"city": "Lisbon"}',
    ),
    (
        "nested arguments compared member by member",
        "tool_called",
        {"tool": "get_weather", "arguments": {"units": {"temp": "C"}}},
        None,
        CALLS,
        1.0,
        'get_weather was called with {"units": {"temp": "C"}}',
    ),
    (
        "1 is not true",
        "tool_called",
        {"tool": "get_weather", "arguments": {"days": True}},
        None,
        CALLS,
        0.0,
        'get_weather was called, but never with {"days": true} (got {"days": 1})',
    ),
    (
        "called with other arguments",
        "tool_called",
        {"tool": "get_weather", "arguments": {"city": "Paris"}},
        None,
        CALLS,
        0.0,
        'get_weather was called, but never with {"city": "Paris"} (got {"city": "Lisbon"})',
    ),
    (
        "an argument the call lacks",
        "tool_called",
        {"tool": "search_restaurants", "arguments": {"city": "Lisbon"}},
        None,
        CALLS,
        0.0,
        'search_restaurants was called, but never with {"city": "Lisbon"} (got {})',
    ),
    (
        "not called",
        "tool_called",
        {"tool": "cancel"},
        None,
        CALLS,
        0.0,
        "cancel was not called (calls: search_restaurants, get_weather, create_reservation)",
    ),
    (
        "no calls at all",
        "tool_called",
        {"tool": "cancel"},
        None,
        None,
        0.0,
        "cancel was not called (calls: none)",
    ),
    (
        "not called, as wanted",
        "tool_not_called",
        {"tool": "cancel"},
        None,
        CALLS,
        1.0,
        "cancel was not called (calls: search_restaurants, get_weather, create_reservation)",
    ),
    (
        "called, though it must not be",
        "tool_not_called",
        {"tool": "create_reservation"},
        None,
        CALLS,
        0.0,
        "create_reservation was called (call 3 of 3)",
    ),
    (
        "in order, other calls between",
        "tool_order",
        {"tools": ("search_restaurants", "create_reservation")},
        None,
        CALLS,
        1.0,
        "called search_restaurants, create_reservation in this order",
    ),
    (
        "the wrong order",
        "tool_order",
        {"tools": ("create_reservation", "search_restaurants")},
        None,
        CALLS,
        0.0,
        "search_restaurants was not called after create_reservation "
        "(calls: search_restaurants, get_weather, create_reservation)",
    ),
    (
        "the first one missing",
        "tool_order",
        {"tools": ("login", "create_reservation")},
        None,
        CALLS,
        0.0,
        "login was not called (calls: search_restaurants, get_weather, create_reservation)",
    ),
    (
        "short enough",
        "length",
        {"max_words": 5},
        "Sunny, 24 degrees.",
        None,
        1.0,
        "3 words, within max_words 5",
    ),
    (
        "both units",
        "length",
        {"min_chars": 5, "max_chars": 20, "max_words": 5},
        "  Sunny, 24 degrees.  ",
        None,
        1.0,
        "18 characters and 3 words, within min_chars 5, max_chars 20, max_words 5",
    ),
    (
        "too long",
        "length",
        {"max_chars": 10},
        "Sunny, 24 degrees.",
        None,
        0.0,
        "18 characters, above max_chars 10",
    ),
    ("too short", "length", {"min_words": 4}, "Sunny.", None, 0.0, "1 word, below min_words 4"),
    ("empty output", "length", {"max_words": 4}, None, None, 0.0, "output is empty"),
    (
        "valid",
        "json_schema",
        {"schema": FORECAST},
        '{"city": "Lisbon", "high_c": 24}',
        None,
        1.0,
        "matches the JSON Schema",
    ),
    (
        "structured cell, nulls dropped",
        "json_schema",
        {"schema": FORECAST},
        {"city": "Lisbon", "high_c": 24, "low_c": None},
        None,
        1.0,
        "matches the JSON Schema",
    ),
    (
        "a required key missing",
        "json_schema",
        {"schema": FORECAST},
        '{"city": "Lisbon"}',
        None,
        0.0,
        "does not match the JSON Schema at $: 'high_c' is a required property",
    ),
    (
        "a wrong type, two errors",
        "json_schema",
        {"schema": FORECAST},
        '{"city": 7, "high_c": "hot"}',
        None,
        0.0,
        "does not match the JSON Schema at $.high_c: 'hot' is not of type 'number' (+1 more)",
    ),
    (
        "not JSON",
        "json_schema",
        {"schema": FORECAST},
        "Sunny, 24 degrees",
        None,
        0.0,
        "invalid JSON: Expecting value (line 1, column 1)",
    ),
    (
        "NaN is not JSON",
        "json_schema",
        {"schema": {}},
        "NaN",
        None,
        0.0,
        "invalid JSON: NaN is not valid JSON",
    ),
    (
        "formats are checked",
        "json_schema",
        {"schema": {"type": "string", "format": "email"}},
        '"not-an-email"',
        None,
        0.0,
        "does not match the JSON Schema at $: 'not-an-email' is not a 'email'",
    ),
]


@pytest.mark.parametrize(
    ("kind", "settings", "output", "tool_calls", "score", "reasoning"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_validator(
    kind: ValidatorKind,
    settings: dict[str, Any],
    output: object,
    tool_calls: object,
    score: float,
    reasoning: str,
) -> None:
    verdict = apply_validator(make_spec(kind, **settings), output, tool_calls)
    assert verdict == Verdict(score=score, reasoning=reasoning)


def test_unreadable_tool_calls_raise_for_the_engine_to_record() -> None:
    with pytest.raises(ValueError, match=re.escape("tool_calls[0] has no tool name")):
        apply_validator(make_spec("tool_called", tool="t"), None, [{"arguments": {}}])


BAD_SCHEMAS = [
    (
        "wrong type name",
        {"type": "strng"},
        "invalid JSON Schema at $.type: 'strng' is not valid under any of the given schemas",
    ),
    (
        "minimum not a number",
        {"minimum": "3"},
        "invalid JSON Schema at $.minimum: '3' is not of type 'number'",
    ),
    (
        "required not a list",
        {"required": "city"},
        "invalid JSON Schema at $.required: 'city' is not of type 'array'",
    ),
]


@pytest.mark.parametrize(
    ("schema", "message"), [b[1:] for b in BAD_SCHEMAS], ids=[b[0] for b in BAD_SCHEMAS]
)
def test_an_invalid_schema_is_refused_before_any_row(schema: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        make_spec("json_schema", schema=schema)


def test_the_draft_the_schema_names_is_used() -> None:
    # Draft 4: exclusiveMaximum is a boolean modifier of maximum.
    schema = {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "maximum": 5,
        "exclusiveMaximum": True,
    }
    spec = make_spec("json_schema", schema=schema)
    assert apply_validator(spec, "4", None).score == 1.0
    assert apply_validator(spec, "5", None) == Verdict(
        0.0, "does not match the JSON Schema at $: 5 is greater than or equal to the maximum of 5"
    )


# -- end to end ------------------------------------------------------------------------------

RULES = """
[[judges]]
name = "forecast_called"
type = "tool_called"
tool = "get_weather"
arguments = { city = "Lisbon" }

[[judges]]
name = "no_booking"
type = "tool_not_called"
tool = "create_reservation"

[[judges]]
name = "search_first"
type = "tool_order"
tools = ["search_restaurants", "create_reservation"]

[[judges]]
name = "no_disclaimer"
type = "not_contains"
text = ["as an AI", "I cannot"]
columns = { output = "answer" }

[[judges]]
name = "short"
type = "length"
max_words = 8
columns = { output = "answer" }

[[judges]]
name = "forecast_json"
type = "json_schema"
schema_file = "schemas/forecast.json"
columns = { output = "answer" }
"""

AGENT_ROWS: list[dict[str, Any]] = [
    {"id": "a1", "answer": '{"city": "Lisbon", "high_c": 24}', "tool_calls": CALLS[1:2]},
    {
        "id": "a2",
        "answer": '{"city": "Lisbon"}',
        "tool_calls": [
            {"type": "function", "function": {"name": n, "arguments": "{}"}}
            for n in ("create_reservation", "search_restaurants")
        ],
    },
    {"id": "a3", "answer": "As an AI, I cannot check the weather.", "tool_calls": None},
    {"id": "a4", "answer": "ok", "tool_calls": "get_weather(city=Lisbon)"},
]


def _rules_workspace(ws: Any, schema: str = json.dumps(FORECAST)) -> Any:
    (ws.root / "schemas").mkdir(exist_ok=True)
    (ws.root / "schemas" / "forecast.json").write_text(schema, encoding="utf-8")
    config = ws.root / "rules.toml"
    config.write_text(RULES, encoding="utf-8")
    return config


def test_structure_validators_end_to_end(workspace: Any) -> None:
    config = _rules_workspace(workspace)
    data = workspace.write_rows(AGENT_ROWS[:3])
    out = workspace.root / "out.parquet"
    result = workspace.score(data, config, out, "-q")
    assert result.exit_code == 0, result.stderr
    rows = workspace.read_rows(out)
    names = [
        "forecast_called",
        "no_booking",
        "search_first",
        "no_disclaimer",
        "short",
        "forecast_json",
    ]
    assert [[r[f"{n}_score"] for n in names] for r in rows] == [
        [1.0, 1.0, 0.0, 1.0, 1.0, 1.0],
        [0.0, 0.0, 0.0, 1.0, 1.0, 0.0],
        [0.0, 1.0, 0.0, 0.0, 1.0, 0.0],
    ]
    assert rows[1]["search_first_reasoning"] == (
        "create_reservation was not called after search_restaurants "
        "(calls: create_reservation, search_restaurants)"
    )
    assert rows[2]["no_disclaimer_reasoning"] == "contains 'as an AI'"
    assert workspace.fake.stats().requests == 0  # free and offline
    assert all(r[f"{n}_cost_usd"] == 0.0 for r in rows for n in names)


def test_an_unreadable_tool_calls_cell_is_that_rows_bad_request(workspace: Any) -> None:
    config = _rules_workspace(workspace)
    out = workspace.root / "out.parquet"
    result = workspace.score(
        workspace.write_rows(AGENT_ROWS), config, out, "-q", "--max-error-rate", "1"
    )
    assert result.exit_code == 0, result.stderr
    last = workspace.read_rows(out)[-1]
    assert (last["forecast_called_error"], last["forecast_called_reasoning"]) == (
        "bad_request",
        "tool_calls is not JSON (Expecting value at column 1)",
    )


SCHEMA_FILE_ERRORS = [
    ("missing", None, "judges[5].schema_file: {root}/schemas/forecast.json: no such file"),
    (
        "not JSON",
        "{type: object}",
        "judges[5].schema_file: {root}/schemas/forecast.json: invalid JSON "
        "(Expecting property name enclosed in double quotes at line 1, column 2)",
    ),
    (
        "not an object",
        "[1]",
        "judges[5].schema_file: {root}/schemas/forecast.json: "
        "not a JSON Schema (the file must hold an object)",
    ),
    (
        "not a valid schema",
        '{"type": "strng"}',
        "judges[5].schema_file: invalid JSON Schema at $.type: "
        "'strng' is not valid under any of the given schemas",
    ),
]


@pytest.mark.parametrize(
    ("schema", "message"),
    [e[1:] for e in SCHEMA_FILE_ERRORS],
    ids=[e[0] for e in SCHEMA_FILE_ERRORS],
)
def test_a_bad_schema_file_exits_2_before_any_row(
    workspace: Any, schema: str | None, message: str
) -> None:
    config = _rules_workspace(workspace)
    if schema is None:
        (workspace.root / "schemas" / "forecast.json").unlink()
    else:
        (workspace.root / "schemas" / "forecast.json").write_text(schema, encoding="utf-8")
    out = workspace.root / "out.parquet"
    result = workspace.score(workspace.write_rows(AGENT_ROWS[:1]), config, out)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == f"error: {config}: {message.format(root=workspace.root)}\n"
    assert not out.exists()


def test_an_inline_schema_error_names_the_key(workspace: Any) -> None:
    config = workspace.root / "inline.toml"
    config.write_text(
        '[[judges]]\nname = "j"\ntype = "json_schema"\njson_schema = { type = "strng" }\n',
        encoding="utf-8",
    )
    result = workspace.invoke("validate", "-c", str(config))
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {config}: judges[0].json_schema: invalid JSON Schema at $.type: "
        "'strng' is not valid under any of the given schemas\n"
    )


def test_a_schema_file_that_cannot_be_read_exits_2(workspace: Any) -> None:
    config = _rules_workspace(workspace)
    path = workspace.root / "schemas" / "forecast.json"
    path.unlink()
    path.mkdir()
    result = workspace.score(
        workspace.write_rows(AGENT_ROWS[:1]), config, workspace.root / "o.parquet"
    )
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        f"error: {config}: judges[5].schema_file: {path}: cannot read "
        f"([Errno 21] Is a directory: '{path}')\n"
    )
