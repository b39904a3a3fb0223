"""OpenAI Chat Completions (and the many servers that copy it: vLLM, Ollama, LiteLLM ...).

Translate only: a ModelCall becomes an ``httpx.Request`` for
``POST {base_url}/chat/completions``, and a response body becomes a Reply.

The body is compact JSON in a fixed key order, because the engine hashes
URL + body as the cache key; the API key travels only in the Authorization
header.  The structured-output ladder is json_schema -> json_object -> prompt.
"""

from __future__ import annotations

from typing import Any

import httpx

from judgekit.providers.failures import MalformedReply
from judgekit.providers.wire import (
    bearer_headers,
    fallback_call,
    make_reply,
    post_json,
    read_json,
    reports_usage,
    token_count,
)
from judgekit.records import Endpoint, ModelCall, OutputMode, Reply, Usage

NAME = "chat_completions"
MODES: tuple[OutputMode, ...] = ("json_schema", "json_object", "prompt")
STRUCTURED_MARKERS = ("response_format", "json_schema", "json_object", "structured output")
"""Words of a 400 body that mean the server rejects how we asked for JSON."""


def build_request(endpoint: Endpoint, call: ModelCall) -> httpx.Request:
    """The POST that asks ``call`` of a Chat Completions server."""
    url = endpoint.base_url.rstrip("/") + "/chat/completions"
    return post_json(url, bearer_headers(endpoint.api_key), request_body(call))


def request_body(call: ModelCall) -> dict[str, Any]:
    """The JSON body, keys always in the same order."""
    messages = [{"role": "user", "content": call.user}]
    if call.system:  # some servers reject an empty system message
        messages.insert(0, {"role": "system", "content": call.system})
    body: dict[str, Any] = {"model": call.model, "messages": messages}
    if call.temperature is not None:
        body["temperature"] = call.temperature
    body[call.token_param] = call.max_output_tokens
    response_format = _response_format(call)
    if response_format is not None:
        body["response_format"] = response_format
    return body


def _response_format(call: ModelCall) -> dict[str, Any] | None:
    if call.output_mode == "json_schema":
        if call.json_schema is None:
            raise ValueError("output_mode 'json_schema' needs call.json_schema")
        schema = {"name": "verdict", "strict": True, "schema": call.json_schema}
        return {"type": "json_schema", "json_schema": schema}
    if call.output_mode == "json_object":
        return {"type": "json_object"}
    return None


def parse_response(response: httpx.Response) -> Reply:
    """The Reply in a 2xx Chat Completions body; MalformedReply when it holds no answer."""
    body = read_json(response)
    usage = _usage(body.get("usage"))
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise MalformedReply("no choices in the reply", usage)
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise MalformedReply("choices[0] has no message", usage)
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal:
        raise MalformedReply(f"the model refused: {refusal[:120]}", usage)
    text = _content_text(message.get("content"))
    if not text:
        finish = choices[0].get("finish_reason")
        raise MalformedReply(f"empty content (finish_reason={finish})", usage)
    return make_reply(body, text, usage, response)


def _content_text(content: Any) -> str:
    """A message's text: a string, or (some servers) a list of text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict)]
        return "".join(p for p in parts if isinstance(p, str))
    return ""


def _usage(usage: Any) -> Usage | None:
    """Chat usage; ``prompt_tokens`` already includes the cached ones; None when absent."""
    if not reports_usage(usage, "prompt_tokens", "completion_tokens"):
        return None
    return Usage(
        input_tokens=token_count(usage, "prompt_tokens"),
        output_tokens=token_count(usage, "completion_tokens"),
        cached_input_tokens=token_count(usage, "prompt_tokens_details", "cached_tokens"),
        cache_write_tokens=token_count(usage, "prompt_tokens_details", "cache_write_tokens"),
        reasoning_tokens=token_count(usage, "completion_tokens_details", "reasoning_tokens"),
    )


def adapt(call: ModelCall, error_text: str) -> ModelCall | None:
    """The call a 400 asks for (a lower output mode, no temperature, max_completion_tokens),
    or None when the 400 is a genuine bad request."""
    return fallback_call(
        call, error_text, modes=MODES, structured_markers=STRUCTURED_MARKERS, token_switch=True
    )
