"""providers.chat_completions.parse_response on realistic Chat Completions bodies."""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import pytest

from judgekit.providers.chat_completions import parse_response
from judgekit.providers.failures import MalformedReply
from judgekit.records import Reply, Usage

VERDICT = '{"reasoning": "Matches the reference.", "score": 0.9}'

# Shaped like a real gpt-4o reply with a prompt-cache hit.
BODY: dict[str, Any] = {
    "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
    "object": "chat.completion",
    "created": 1741570283,
    "model": "gpt-4o-2024-08-06",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": VERDICT,
                "refusal": None,
                "annotations": [],
            },
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 1117,
        "completion_tokens": 46,
        "total_tokens": 1163,
        "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    },
    "service_tier": "default",
    "system_fingerprint": "fp_fc9f1d7035",
}
USAGE = Usage(input_tokens=1117, output_tokens=46, cached_input_tokens=1024)


def reply_to(body: Any, *, requested: str = "gpt-4o") -> httpx.Response:
    request = httpx.Request(
        "POST",
        "https://llm.example.test/v1/chat/completions",
        content=json.dumps({"model": requested, "messages": []}).encode(),
    )
    if isinstance(body, bytes):
        return httpx.Response(200, content=body, request=request)
    return httpx.Response(200, json=body, request=request)


def changed(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    """BODY with the value at ``path`` replaced (``...`` as value: deleted)."""
    body = copy.deepcopy(BODY)
    target = body
    for key in path[:-1]:
        target = target[key]
    if value is ...:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return body


def test_parses_a_reply() -> None:
    assert parse_response(reply_to(BODY)) == Reply(
        text=VERDICT,
        usage=USAGE,
        model="gpt-4o-2024-08-06",
        response_id="chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
    )


REPLY_CASES = [
    (
        "reasoning model",
        changed(("usage", "completion_tokens_details", "reasoning_tokens"), 30),
        Usage(1117, 46, cached_input_tokens=1024, reasoning_tokens=30),
    ),
    ("no usage (a local server)", changed(("usage",), ...), None),
    ("null usage", changed(("usage",), None), None),
    (
        "null details",
        changed(("usage", "prompt_tokens_details"), None),
        Usage(1117, 46),
    ),
    (
        "cache writes reported",
        changed(("usage", "prompt_tokens_details", "cache_write_tokens"), 64),
        Usage(1117, 46, cached_input_tokens=1024, cache_write_tokens=64),
    ),
]


@pytest.mark.parametrize(
    ("body", "usage"), [c[1:] for c in REPLY_CASES], ids=[c[0] for c in REPLY_CASES]
)
def test_usage_variants(body: dict[str, Any], usage: Usage | None) -> None:
    assert parse_response(reply_to(body)).usage == usage


def test_content_as_a_list_of_parts() -> None:
    parts = [{"type": "text", "text": '{"score": '}, {"type": "text", "text": "1}"}]
    reply = parse_response(reply_to(changed(("choices", 0, "message", "content"), parts)))
    assert reply.text == '{"score": 1}'


def test_missing_model_and_id_fall_back_to_the_request() -> None:
    body = changed(("model",), ...)
    del body["id"]
    reply = parse_response(reply_to(body, requested="my-local-model"))
    assert (reply.model, reply.response_id) == ("my-local-model", None)


MALFORMED_CASES = [
    ("not json", b"<html>502 Bad Gateway</html>", "body is not JSON", "malformed"),
    ("truncated json", json.dumps(BODY).encode()[:-20], "body is not JSON", "malformed"),
    ("a list", b"[]", "body is not a JSON object", "malformed"),
    ("no choices", changed(("choices",), []), "no choices in the reply", "malformed"),
    ("choices not a list", changed(("choices",), {}), "no choices in the reply", "malformed"),
    (
        "no message",
        changed(("choices", 0, "message"), ...),
        r"choices\[0\] has no message",
        "malformed",
    ),
    (
        "refusal",
        changed(
            ("choices", 0, "message"),
            {"role": "assistant", "content": None, "refusal": "I can't help with that."},
        ),
        "the model refused: I can't help with that.",
        "refused",
    ),
    (
        "content filter",
        changed(("choices", 0, "finish_reason"), "content_filter"),
        "the provider's content filter stopped the reply",
        "refused",
    ),
    (
        "null content",
        changed(("choices", 0, "message", "content"), None),
        r"empty reply \(finish_reason=stop\)",
        "empty",
    ),
    (
        "length, nothing left after reasoning",
        changed(
            ("choices", 0),
            {
                "index": 0,
                "message": {"role": "assistant", "content": ""},
                "finish_reason": "length",
            },
        ),
        r"cut off at the output cap \(finish_reason=length\)",
        "cut_off",
    ),
    (
        "length, a verdict cut short",
        changed(("choices", 0, "finish_reason"), "length"),
        r"cut off at the output cap \(finish_reason=length\)",
        "cut_off",
    ),
    (
        "two tool calls",
        changed(
            ("choices", 0, "message"),
            {"role": "assistant", "content": None, "tool_calls": [{}, {}]},
        ),
        r"empty reply \(finish_reason=stop\)",
        "empty",
    ),
    (
        "usage is a string",
        changed(("usage", "prompt_tokens"), "1117"),
        r"usage\.prompt_tokens is not a token count",
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


TOOL_CALL_MESSAGE = {
    "role": "assistant",
    "content": None,
    "tool_calls": [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "json", "arguments": VERDICT},
        }
    ],
}


def test_a_single_tool_calls_arguments_are_the_reply() -> None:
    body = changed(("choices", 0, "message"), TOOL_CALL_MESSAGE)
    assert parse_response(reply_to(body)).text == VERDICT


def test_a_refusal_keeps_the_billed_usage() -> None:
    body = changed(("choices", 0, "message", "refusal"), "No.")
    with pytest.raises(MalformedReply) as caught:
        parse_response(reply_to(body))
    assert caught.value.usage == USAGE
