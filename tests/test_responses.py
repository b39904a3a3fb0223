"""providers.responses.parse_response on realistic Responses API bodies."""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import pytest

from judgekit.providers.failures import MalformedReply
from judgekit.providers.responses import parse_response
from judgekit.records import Reply, Usage

VERDICT = '{"reasoning": "Faithful to the context.", "score": 1}'


def message(*parts: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "message",
        "id": "msg_67ccd3acc8d48190a77525dc6de64b4104becb25c4b6cc7e",
        "status": "completed",
        "role": "assistant",
        "content": list(parts),
    }


def output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": []}


# Shaped like a real o4-mini reply: a reasoning item, then the message.
BODY: dict[str, Any] = {
    "id": "resp_67ccd3a9da748190baa7f1570fe91ac604becb25c4b6cc7e",
    "object": "response",
    "created_at": 1741476777,
    "status": "completed",
    "error": None,
    "incomplete_details": None,
    "instructions": "You are a strict judge.",
    "max_output_tokens": 512,
    "model": "o4-mini-2025-04-16",
    "output": [
        {"type": "reasoning", "id": "rs_67ccd3acc8d48190a7", "summary": []},
        message(output_text(VERDICT)),
    ],
    "store": False,
    "text": {"format": {"type": "json_schema", "name": "verdict", "strict": True}},
    "usage": {
        "input_tokens": 328,
        "input_tokens_details": {"cached_tokens": 128},
        "output_tokens": 52,
        "output_tokens_details": {"reasoning_tokens": 24},
        "total_tokens": 380,
    },
}
USAGE = Usage(input_tokens=328, output_tokens=52, cached_input_tokens=128, reasoning_tokens=24)


def reply_to(body: Any) -> httpx.Response:
    request = httpx.Request(
        "POST",
        "https://llm.example.test/v1/responses",
        content=json.dumps({"model": "o4-mini", "input": "x"}).encode(),
    )
    if isinstance(body, bytes):
        return httpx.Response(200, content=body, request=request)
    return httpx.Response(200, json=body, request=request)


def with_fields(**fields: Any) -> dict[str, Any]:
    body = copy.deepcopy(BODY)
    for name, value in fields.items():
        if value is ...:
            del body[name]
        else:
            body[name] = value
    return body


def test_parses_a_reply_skipping_the_reasoning_item() -> None:
    assert parse_response(reply_to(BODY)) == Reply(
        text=VERDICT,
        usage=USAGE,
        model="o4-mini-2025-04-16",
        response_id="resp_67ccd3a9da748190baa7f1570fe91ac604becb25c4b6cc7e",
    )


TEXT_CASES = [
    (
        "several parts and messages",
        with_fields(
            output=[
                message(output_text('{"score": '), output_text("0.5}")),
                message(output_text("")),
            ]
        ),
        '{"score": 0.5}',
    ),
    (
        "top-level output_text only",
        with_fields(output=[], output_text=VERDICT),
        VERDICT,
    ),
    (
        "tool call items are skipped",
        with_fields(
            output=[
                {"type": "function_call", "name": "x", "arguments": "{}"},
                message(output_text(VERDICT)),
            ]
        ),
        VERDICT,
    ),
]


@pytest.mark.parametrize(
    ("body", "text"), [c[1:] for c in TEXT_CASES], ids=[c[0] for c in TEXT_CASES]
)
def test_text(body: dict[str, Any], text: str) -> None:
    assert parse_response(reply_to(body)).text == text


MALFORMED_CASES = [
    ("not json", b"upstream connect error", "body is not JSON", "malformed"),
    ("no output at all", with_fields(output=...), "no output in the reply", "malformed"),
    (
        "incomplete, all tokens spent reasoning",
        with_fields(
            status="incomplete",
            incomplete_details={"reason": "max_output_tokens"},
            output=[{"type": "reasoning", "id": "rs_1", "summary": []}],
        ),
        r"cut off at the output cap \(max_output_tokens\)",
        "cut_off",
    ),
    (
        "incomplete, a verdict cut short",
        with_fields(
            status="incomplete",
            incomplete_details={"reason": "max_output_tokens"},
            output=[message(output_text('{"reasoning": "cut'))],
        ),
        r"cut off at the output cap \(max_output_tokens\)",
        "cut_off",
    ),
    (
        "incomplete, content filter",
        with_fields(status="incomplete", incomplete_details={"reason": "content_filter"}),
        "the provider's content filter stopped the reply",
        "refused",
    ),
    ("empty output list", with_fields(output=[]), r"empty reply \(no output_text\)", "empty"),
    (
        "refusal",
        with_fields(output=[message({"type": "refusal", "refusal": "I can't assist with that."})]),
        "the model refused: I can't assist with that.",
        "refused",
    ),
    (
        "failed",
        with_fields(status="failed", error={"code": "server_error", "message": "Something broke."}),
        "^HTTP 200 with an error body \\(server_error\\): Something broke.$",
        "malformed",
    ),
    (
        "bad usage",
        with_fields(usage={"input_tokens": -1, "output_tokens": 2}),
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


def test_an_empty_incomplete_reply_keeps_the_billed_usage() -> None:
    body = with_fields(
        status="incomplete", output=[{"type": "reasoning", "id": "rs", "summary": []}]
    )
    with pytest.raises(MalformedReply) as caught:
        parse_response(reply_to(body))
    assert caught.value.usage == USAGE


def test_missing_model_falls_back_to_the_request() -> None:
    assert parse_response(reply_to(with_fields(model=...))).model == "o4-mini"
