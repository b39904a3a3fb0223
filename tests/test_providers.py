"""providers: the registry, request shapes per protocol and mode, the fallback ladder,
and a round trip through the loopback fake provider."""

from __future__ import annotations

import json
from dataclasses import replace
from types import MappingProxyType
from typing import Any

import httpx
import pytest

from judgekit.providers import PROTOCOLS, anthropic
from judgekit.providers.failures import classify_response
from judgekit.records import Endpoint, ModelCall, OutputMode, Usage
from judgekit.testing.fake_provider import FakeProvider

KEY = "sk-test-0123456789abcdef"
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"reasoning": {"type": "string"}, "score": {"type": "number"}},
    "required": ["reasoning", "score"],
    "additionalProperties": False,
}
CALL = ModelCall(
    model="judge-model",
    system="You are a strict judge.",
    user="Grade <output>Ünïcode — 42</output>",
    max_output_tokens=256,
    temperature=0.0,
    output_mode="json_schema",
    json_schema=SCHEMA,
)
ENDPOINT = Endpoint("https://llm.example.test/v1/", KEY)


def body_of(request: httpx.Request) -> Any:
    return json.loads(request.content)


def wire(body: dict[str, Any]) -> bytes:
    """The exact bytes a body must have: compact, key order kept, UTF-8 unescaped."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


CHAT_MESSAGES = [
    {"role": "system", "content": CALL.system},
    {"role": "user", "content": CALL.user},
]
CHAT_SCHEMA_FORMAT = {
    "type": "json_schema",
    "json_schema": {"name": "verdict", "strict": True, "schema": SCHEMA},
}
RESPONSES_SCHEMA_FORMAT = {
    "type": "json_schema",
    "name": "verdict",
    "strict": True,
    "schema": SCHEMA,
}
ANTHROPIC_TOOL = {"name": "verdict", "description": "Record the verdict.", "input_schema": SCHEMA}

BODY_CASES: list[tuple[str, str, ModelCall, dict[str, Any]]] = [
    (
        "chat json_schema",
        "chat_completions",
        CALL,
        {
            "model": "judge-model",
            "messages": CHAT_MESSAGES,
            "temperature": 0.0,
            "max_tokens": 256,
            "response_format": CHAT_SCHEMA_FORMAT,
        },
    ),
    (
        "chat json_object",
        "chat_completions",
        replace(CALL, output_mode="json_object"),
        {
            "model": "judge-model",
            "messages": CHAT_MESSAGES,
            "temperature": 0.0,
            "max_tokens": 256,
            "response_format": {"type": "json_object"},
        },
    ),
    (
        "chat prompt, no temperature, max_completion_tokens",
        "chat_completions",
        replace(CALL, output_mode="prompt", temperature=None, token_param="max_completion_tokens"),
        {"model": "judge-model", "messages": CHAT_MESSAGES, "max_completion_tokens": 256},
    ),
    (
        "chat without system",
        "chat_completions",
        replace(CALL, system="", output_mode="prompt", temperature=0.3),
        {
            "model": "judge-model",
            "messages": [{"role": "user", "content": CALL.user}],
            "temperature": 0.3,
            "max_tokens": 256,
        },
    ),
    (
        "responses json_schema",
        "responses",
        CALL,
        {
            "model": "judge-model",
            "instructions": CALL.system,
            "input": CALL.user,
            "temperature": 0.0,
            "max_output_tokens": 256,
            "text": {"format": RESPONSES_SCHEMA_FORMAT},
            "store": False,
        },
    ),
    (
        "responses json_object",
        "responses",
        replace(CALL, output_mode="json_object", temperature=None),
        {
            "model": "judge-model",
            "instructions": CALL.system,
            "input": CALL.user,
            "max_output_tokens": 256,
            "text": {"format": {"type": "json_object"}},
            "store": False,
        },
    ),
    (
        "responses prompt",
        "responses",
        replace(CALL, output_mode="prompt", system=""),
        {
            "model": "judge-model",
            "input": CALL.user,
            "temperature": 0.0,
            "max_output_tokens": 256,
            "store": False,
        },
    ),
    (
        "anthropic json_schema",
        "anthropic",
        CALL,
        {
            "model": "judge-model",
            "system": CALL.system,
            "messages": [{"role": "user", "content": CALL.user}],
            "max_tokens": 256,
            "temperature": 0.0,
            "tools": [ANTHROPIC_TOOL],
            "tool_choice": {"type": "tool", "name": "verdict"},
        },
    ),
    (
        "anthropic json_object is prompt-only",
        "anthropic",
        replace(CALL, output_mode="json_object"),
        {
            "model": "judge-model",
            "system": CALL.system,
            "messages": [{"role": "user", "content": CALL.user}],
            "max_tokens": 256,
            "temperature": 0.0,
        },
    ),
    (
        "anthropic prompt, no temperature, no system",
        "anthropic",
        replace(CALL, output_mode="prompt", temperature=None, system=""),
        {
            "model": "judge-model",
            "messages": [{"role": "user", "content": CALL.user}],
            "max_tokens": 256,
        },
    ),
]


def test_registry_holds_the_four_protocols() -> None:
    assert sorted(PROTOCOLS) == ["anthropic", "bedrock_converse", "chat_completions", "responses"]
    assert all(adapter.name == name for name, adapter in PROTOCOLS.items())


@pytest.mark.parametrize(
    ("protocol", "call", "expected"),
    [case[1:] for case in BODY_CASES],
    ids=[case[0] for case in BODY_CASES],
)
def test_request_body(protocol: str, call: ModelCall, expected: dict[str, Any]) -> None:
    request = PROTOCOLS[protocol].build_request(ENDPOINT, call)
    assert request.method == "POST"
    assert request.content == wire(expected)


URL_CASES = [
    ("chat_completions", "https://api.test/v1/", "https://api.test/v1/chat/completions"),
    ("chat_completions", "http://127.0.0.1:11434/v1", "http://127.0.0.1:11434/v1/chat/completions"),
    ("responses", "https://api.test/v1//", "https://api.test/v1/responses"),
    ("anthropic", "https://api.test", "https://api.test/v1/messages"),
    ("anthropic", "https://api.test/", "https://api.test/v1/messages"),
    ("anthropic", "https://proxy.test/anthropic/v1", "https://proxy.test/anthropic/v1/messages"),
    (
        "chat_completions",
        "https://x.example/openai/deployments/judge?api-version=2024-10-21",
        "https://x.example/openai/deployments/judge/chat/completions?api-version=2024-10-21",
    ),
    (
        "responses",
        "https://x.example/openai/deployments/judge/?api-version=2024-10-21#frag",
        "https://x.example/openai/deployments/judge/responses?api-version=2024-10-21",
    ),
    (
        "chat_completions",
        "https://x.example/openai/deployments/{model}?api-version=1",
        "https://x.example/openai/deployments/judge-model/chat/completions?api-version=1",
    ),
    ("anthropic", "https://x.example/v1/?beta=true", "https://x.example/v1/messages?beta=true"),
    ("anthropic", "https://x.example?beta=true", "https://x.example/v1/messages?beta=true"),
    (
        "bedrock_converse",
        "https://bedrock-runtime.eu-west-1.example",
        "https://bedrock-runtime.eu-west-1.example/model/judge-model/converse",
    ),
]


@pytest.mark.parametrize(
    ("protocol", "base_url", "expected"),
    URL_CASES,
    ids=[f"{p} {b}" for p, b, _ in URL_CASES],
)
def test_request_url(protocol: str, base_url: str, expected: str) -> None:
    request = PROTOCOLS[protocol].build_request(Endpoint(base_url, KEY), CALL)
    assert str(request.url) == expected


AUTH_CASES = [
    ("chat_completions", "authorization", f"Bearer {KEY}"),
    ("responses", "authorization", f"Bearer {KEY}"),
    ("anthropic", "x-api-key", KEY),
]


@pytest.mark.parametrize(
    ("protocol", "header", "value"), AUTH_CASES, ids=[c[0] for c in AUTH_CASES]
)
def test_key_travels_only_in_its_header(protocol: str, header: str, value: str) -> None:
    request = PROTOCOLS[protocol].build_request(ENDPOINT, CALL)
    assert request.headers[header] == value
    assert request.headers["content-type"] == "application/json"
    assert KEY not in str(request.url)
    assert KEY.encode() not in request.content
    assert [name for name, v in request.headers.items() if KEY in v] == [header]


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
def test_no_key_no_credentials_header(protocol: str) -> None:
    request = PROTOCOLS[protocol].build_request(Endpoint("http://127.0.0.1:8000/v1"), CALL)
    assert "authorization" not in request.headers
    assert "x-api-key" not in request.headers


def test_anthropic_version_header() -> None:
    request = PROTOCOLS["anthropic"].build_request(ENDPOINT, CALL)
    assert request.headers["anthropic-version"] == anthropic.ANTHROPIC_VERSION == "2023-06-01"


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
def test_same_call_same_bytes_whatever_the_key(protocol: str) -> None:
    adapter = PROTOCOLS[protocol]
    first = adapter.build_request(ENDPOINT, CALL)
    second = adapter.build_request(
        Endpoint(ENDPOINT.base_url, "another-key-entirely"), replace(CALL)
    )
    assert (first.url, first.content) == (second.url, second.content)
    assert b", " not in first.content and b'": ' not in first.content
    assert "Ünïcode — 42".encode() in first.content  # not \\u-escaped


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
def test_read_only_schema_mapping_is_encoded(protocol: str) -> None:
    frozen = replace(
        CALL, json_schema=MappingProxyType({"type": "object", "properties": MappingProxyType({})})
    )
    request = PROTOCOLS[protocol].build_request(ENDPOINT, frozen)
    encoded = '{"type":"object","properties":{}}'
    if protocol == "bedrock_converse":  # the schema travels as JSON text
        encoded = json.dumps(encoded)
    assert encoded.encode() in request.content


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
def test_schema_mode_without_a_schema_is_a_bug(protocol: str) -> None:
    with pytest.raises(ValueError, match=r"output_mode 'json_schema' needs call\.json_schema"):
        PROTOCOLS[protocol].build_request(ENDPOINT, replace(CALL, json_schema=None))


# --- adapt: the fallback ladder ------------------------------------------------------------


def openai_400(message: str, param: str | None = None, code: str | None = None) -> str:
    error = {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    return json.dumps({"error": error})


def anthropic_400(message: str) -> str:
    return json.dumps(
        {"type": "error", "error": {"type": "invalid_request_error", "message": message}}
    )


MAX_TOKENS_400 = openai_400(
    "Unsupported parameter: 'max_tokens' is not supported with this model. "
    "Use 'max_completion_tokens' instead.",
    "max_tokens",
    "unsupported_parameter",
)
TEMPERATURE_400 = openai_400(
    "Unsupported value: 'temperature' does not support 0.0 with this model. "
    "Only the default (1) value is supported.",
    "temperature",
    "unsupported_value",
)
CHAT_FORMAT_400 = openai_400(
    "Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model.",
    "response_format",
)
JSON_WORD_400 = openai_400(
    "'messages' must contain the word 'json' in some form, to use 'response_format' of type "
    "'json_object'.",
    "messages",
)
RESPONSES_FORMAT_400 = openai_400(
    "Invalid parameter: 'text.format' of type 'json_schema' is not supported with this model.",
    "text.format",
)
CONTEXT_400 = openai_400(
    "This model's maximum context length is 128000 tokens. However, your messages resulted in "
    "130001 tokens.",
    "messages",
    "context_length_exceeded",
)
TOOL_400 = anthropic_400("tool_choice: forced tool use is not supported for this model")
ANTHROPIC_TEMPERATURE_400 = anthropic_400(
    "temperature: setting a non-default value is not supported"
)
ANTHROPIC_MAX_400 = anthropic_400(
    "max_tokens: 100000 > 64000, which is the maximum allowed number of output tokens"
)


def mode(output_mode: OutputMode, **changes: Any) -> ModelCall:
    return replace(CALL, output_mode=output_mode, **changes)


ADAPT_CASES: list[tuple[str, str, ModelCall, str, ModelCall | None]] = [
    (
        "chat max_tokens",
        "chat_completions",
        CALL,
        MAX_TOKENS_400,
        replace(CALL, token_param="max_completion_tokens"),
    ),
    (
        "chat max_tokens already switched",
        "chat_completions",
        mode("json_schema", token_param="max_completion_tokens"),
        MAX_TOKENS_400,
        None,
    ),
    (
        "chat temperature",
        "chat_completions",
        CALL,
        TEMPERATURE_400,
        replace(CALL, temperature=None),
    ),
    (
        "chat temperature already dropped",
        "chat_completions",
        replace(CALL, temperature=None),
        TEMPERATURE_400,
        None,
    ),
    ("chat schema -> json_object", "chat_completions", CALL, CHAT_FORMAT_400, mode("json_object")),
    (
        "chat json_object -> prompt",
        "chat_completions",
        mode("json_object"),
        JSON_WORD_400,
        mode("prompt"),
    ),
    ("chat prompt is the floor", "chat_completions", mode("prompt"), CHAT_FORMAT_400, None),
    ("chat genuine bad request", "chat_completions", CALL, CONTEXT_400, None),
    ("chat not json body", "chat_completions", CALL, "Bad Request", None),
    (
        "chat plain-text body naming the format",
        "chat_completions",
        CALL,
        "response_format is not supported",
        mode("json_object"),
    ),
    (
        "responses schema -> json_object",
        "responses",
        CALL,
        RESPONSES_FORMAT_400,
        mode("json_object"),
    ),
    (
        "responses json_object -> prompt",
        "responses",
        mode("json_object"),
        RESPONSES_FORMAT_400,
        mode("prompt"),
    ),
    ("responses temperature", "responses", CALL, TEMPERATURE_400, replace(CALL, temperature=None)),
    ("responses ignores max_tokens advice", "responses", CALL, MAX_TOKENS_400, None),
    ("responses genuine bad request", "responses", CALL, CONTEXT_400, None),
    ("anthropic tool -> prompt", "anthropic", CALL, TOOL_400, mode("prompt")),
    ("anthropic json_object -> prompt", "anthropic", mode("json_object"), TOOL_400, mode("prompt")),
    ("anthropic prompt is the floor", "anthropic", mode("prompt"), TOOL_400, None),
    (
        "anthropic temperature",
        "anthropic",
        CALL,
        ANTHROPIC_TEMPERATURE_400,
        replace(CALL, temperature=None),
    ),
    ("anthropic max_tokens too big", "anthropic", CALL, ANTHROPIC_MAX_400, None),
]


@pytest.mark.parametrize(
    ("protocol", "call", "error_text", "expected"),
    [case[1:] for case in ADAPT_CASES],
    ids=[case[0] for case in ADAPT_CASES],
)
def test_adapt(protocol: str, call: ModelCall, error_text: str, expected: ModelCall | None) -> None:
    assert PROTOCOLS[protocol].adapt(call, error_text) == expected


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
def test_the_ladder_ends(protocol: str) -> None:
    """Every error at once: each step changes one thing, and the steps run out."""
    everything = openai_400(
        "temperature, max_completion_tokens, response_format, text.format, tool_choice", "x"
    )
    adapter, call, steps = PROTOCOLS[protocol], CALL, 0
    while (adapted := adapter.adapt(call, everything)) is not None:
        assert adapted != call
        call, steps = adapted, steps + 1
    assert call.output_mode == "prompt" and call.temperature is None
    assert steps <= 4


# --- a round trip through the loopback fake provider ---------------------------------------


def _base_url(fake: FakeProvider, protocol: str) -> str:
    return fake.openai_base_url if protocol in ("chat_completions", "responses") else fake.url


ROUND_TRIP_CASES = [
    (p, m) for p in sorted(PROTOCOLS) for m in ("json_schema", "json_object", "prompt")
]


@pytest.mark.parametrize(
    ("protocol", "output_mode"), ROUND_TRIP_CASES, ids=[f"{p} {m}" for p, m in ROUND_TRIP_CASES]
)
def test_round_trip(fake: FakeProvider, protocol: str, output_mode: OutputMode) -> None:
    adapter = PROTOCOLS[protocol]
    call = replace(CALL, model="fake-judge", output_mode=output_mode)
    with httpx.Client() as client:
        response = client.send(
            adapter.build_request(Endpoint(_base_url(fake, protocol), KEY), call)
        )
    assert classify_response(response) is None
    reply = adapter.parse_response(response)
    assert reply.text
    assert reply.model == "fake-judge"
    assert reply.usage.input_tokens > 0 and reply.usage.output_tokens > 0
    assert reply.response_id


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
def test_round_trip_falls_back_when_the_server_rejects_structured_output(
    fake: FakeProvider, protocol: str
) -> None:
    fake.settings.reject_structured_output = True
    fake.settings.reject_temperature = True
    adapter, call, statuses = PROTOCOLS[protocol], replace(CALL, model="fake-judge"), []
    with httpx.Client() as client:
        for _ in range(5):
            response = client.send(
                adapter.build_request(Endpoint(_base_url(fake, protocol), KEY), call)
            )
            statuses.append(response.status_code)
            failure = classify_response(response)
            if failure is None:
                break
            assert failure.kind == "bad_request"
            adapted = adapter.adapt(call, response.text)
            assert adapted is not None, response.text
            call = adapted
    assert statuses[-1] == 200
    assert call.temperature is None
    # The fake rejects every structured-output parameter, JSON mode included.
    assert call.output_mode == "prompt"
    assert statuses.count(400) == (2 if protocol == "anthropic" else 3)
    assert adapter.parse_response(response).text


def test_bedrock_model_ids_are_percent_encoded_in_the_path() -> None:
    call = replace(CALL, model="arn:aws:bedrock:us-east-1:1:inference-profile/us.x-v1:0")
    request = PROTOCOLS["bedrock_converse"].build_request(ENDPOINT, call)
    assert request.url.raw_path == (
        b"/v1/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fus.x-v1%3A0/converse"
    )


def test_bedrock_usage_counts_cache_reads_and_writes_as_input() -> None:
    call = replace(CALL, model="anthropic.claude-haiku-4-5-20251001-v1:0")
    request = PROTOCOLS["bedrock_converse"].build_request(ENDPOINT, call)
    body = {
        "output": {"message": {"role": "assistant", "content": [{"text": '{"score": 1}'}]}},
        "stopReason": "end_turn",
        "usage": {
            "inputTokens": 100,
            "outputTokens": 20,
            "totalTokens": 420,
            "cacheReadInputTokens": 200,
            "cacheWriteInputTokens": 100,
        },
    }
    response = httpx.Response(
        200, json=body, headers={"x-amzn-RequestId": "req-1"}, request=request
    )
    reply = PROTOCOLS["bedrock_converse"].parse_response(response)
    assert (reply.text, reply.model, reply.response_id) == (
        '{"score": 1}',
        "anthropic.claude-haiku-4-5-20251001-v1:0",
        "req-1",
    )
    assert reply.usage == Usage(
        input_tokens=400, output_tokens=20, cached_input_tokens=200, cache_write_tokens=100
    )


HEADER_CASES = [
    (Endpoint("https://h/v1", "k-123456", key_header="api-key"), {"api-key": "k-123456"}),
    (
        Endpoint("https://h/v1", "k-123456", key_header="Authorization"),
        {"authorization": "Bearer k-123456"},
    ),
    (
        Endpoint("https://h/v1", "k-123456", headers={"Authorization": "Bearer other"}),
        {"authorization": "Bearer other"},
    ),
    (
        Endpoint("https://h/v1", None, headers={"X-Title": "judgekit"}),
        {"x-title": "judgekit"},
    ),
]


@pytest.mark.parametrize(("endpoint", "expected"), HEADER_CASES)
def test_key_header_and_connection_headers(endpoint: Endpoint, expected: dict[str, str]) -> None:
    request = PROTOCOLS["chat_completions"].build_request(endpoint, CALL)
    sent = {
        k: v
        for k, v in request.headers.items()
        if k not in ("content-type", "accept", "host", "content-length")
    }
    assert sent == expected
