"""providers.anthropic.parse_response on realistic Messages API bodies."""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import pytest

from judgekit.providers.anthropic import parse_response
from judgekit.providers.failures import MalformedReply
from judgekit.records import Reply, Usage

VERDICT_INPUT = {"reasoning": "Cites the context — correctly.", "score": 0.8}

# Shaped like a real claude-sonnet-4-5 reply to a forced ``verdict`` tool.
TOOL_BODY: dict[str, Any] = {
    "id": "msg_01Aq9w938a90dw8q",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5-20250929",
    "content": [
        {
            "type": "tool_use",
            "id": "toolu_01A09q90qw90lq917835lq9",
            "name": "verdict",
            "input": VERDICT_INPUT,
        }
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 50,
        "cache_creation_input_tokens": 200,
        "cache_read_input_tokens": 1000,
        "output_tokens": 60,
        "service_tier": "standard",
    },
}
TEXT_BODY: dict[str, Any] = {
    **TOOL_BODY,
    "content": [{"type": "text", "text": '{"score": 0.2, "reasoning": "Wrong."}'}],
    "stop_reason": "end_turn",
    "usage": {"input_tokens": 812, "output_tokens": 31},
}


def reply_to(body: Any) -> httpx.Response:
    request = httpx.Request(
        "POST",
        "https://llm.example.test/v1/messages",
        content=json.dumps({"model": "claude-haiku-4-5", "messages": []}).encode(),
    )
    if isinstance(body, bytes):
        return httpx.Response(200, content=body, request=request)
    return httpx.Response(200, json=body, request=request)


def with_fields(base: dict[str, Any], **fields: Any) -> dict[str, Any]:
    body = copy.deepcopy(base)
    for name, value in fields.items():
        if value is ...:
            del body[name]
        else:
            body[name] = value
    return body


def test_tool_use_becomes_json_text_and_usage_totals_the_input() -> None:
    assert parse_response(reply_to(TOOL_BODY)) == Reply(
        text=json.dumps(VERDICT_INPUT, ensure_ascii=False),
        # Anthropic's input_tokens excludes cache reads and writes; Usage holds the total.
        usage=Usage(
            input_tokens=1250, output_tokens=60, cached_input_tokens=1000, cache_write_tokens=200
        ),
        model="claude-sonnet-4-5-20250929",
        response_id="msg_01Aq9w938a90dw8q",
    )


def test_text_reply() -> None:
    reply = parse_response(reply_to(TEXT_BODY))
    assert reply.text == '{"score": 0.2, "reasoning": "Wrong."}'
    assert reply.usage == Usage(input_tokens=812, output_tokens=31)


TEXT_CASES = [
    (
        "text blocks joined, thinking skipped",
        with_fields(
            TEXT_BODY,
            content=[
                {"type": "thinking", "thinking": "Let me see.", "signature": "sig"},
                {"type": "text", "text": '{"score": '},
                {"type": "text", "text": "1}"},
            ],
        ),
        '{"score": 1}',
    ),
    (
        "preamble text before the tool",
        with_fields(
            TOOL_BODY,
            content=[{"type": "text", "text": "Here is my verdict."}, *TOOL_BODY["content"]],
        ),
        json.dumps(VERDICT_INPUT, ensure_ascii=False),
    ),
    (
        "another tool is ignored",
        with_fields(
            TOOL_BODY,
            content=[
                {"type": "tool_use", "id": "t1", "name": "search", "input": {"q": "x"}},
                {"type": "text", "text": "{}"},
            ],
        ),
        "{}",
    ),
]


@pytest.mark.parametrize(
    ("body", "text"), [c[1:] for c in TEXT_CASES], ids=[c[0] for c in TEXT_CASES]
)
def test_text(body: dict[str, Any], text: str) -> None:
    assert parse_response(reply_to(body)).text == text


MALFORMED_CASES = [
    ("not json", b'{"type": "message", "content": [', "body is not JSON", "malformed"),
    ("no content", with_fields(TEXT_BODY, content=...), "no content in the reply", "malformed"),
    (
        "refusal",
        with_fields(TEXT_BODY, stop_reason="refusal", content=[]),
        "^the model refused$",
        "refused",
    ),
    (
        "refusal with text",
        with_fields(TEXT_BODY, stop_reason="refusal", content=[{"type": "text", "text": "No."}]),
        "^the model refused: No.$",
        "refused",
    ),
    (
        "empty at max_tokens",
        with_fields(TEXT_BODY, stop_reason="max_tokens", content=[]),
        r"cut off at the output cap \(stop_reason=max_tokens\)",
        "cut_off",
    ),
    ("cut off text", with_fields(TEXT_BODY, stop_reason="max_tokens"), "cut off", "cut_off"),
    ("empty", with_fields(TEXT_BODY, content=[]), r"empty reply \(stop_reason=end_turn\)", "empty"),
    (
        "tool input not an object",
        with_fields(
            TOOL_BODY, content=[{"type": "tool_use", "id": "t", "name": "verdict", "input": "{}"}]
        ),
        "the verdict tool input is not an object",
        "malformed",
    ),
    (
        "bad usage",
        with_fields(TEXT_BODY, usage={"input_tokens": "812", "output_tokens": 31}),
        r"usage\.input_tokens is not a token count",
        "malformed",
    ),
]


@pytest.mark.parametrize(
    ("body", "reason", "problem"),
    [c[1:] for c in MALFORMED_CASES],
    ids=[c[0] for c in MALFORMED_CASES],
)
def test_malformed_replies(body: Any, reason: str, problem: str) -> None:
    with pytest.raises(MalformedReply, match=reason) as caught:
        parse_response(reply_to(body))
    assert caught.value.problem == problem


def test_missing_model_falls_back_to_the_request() -> None:
    assert parse_response(reply_to(with_fields(TEXT_BODY, model=...))).model == "claude-haiku-4-5"
