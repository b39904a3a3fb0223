"""Anthropic Messages API: ``POST {base_url}/v1/messages``.

Translate only.  The key travels in ``x-api-key`` (never in the URL or body)
with ``anthropic-version: 2023-06-01``.

JSON answers: ``json_schema`` mode forces a tool named ``verdict`` whose
``input_schema`` is the verdict schema; the reply's ``tool_use`` input becomes
the reply text; otherwise the ``text`` blocks are (``thinking`` blocks never are).
``stop_reason`` ``refusal`` and ``max_tokens`` (cut off at the output cap), and an
empty reply, are billed but unusable: MalformedReply with that problem.

Anthropic has no plain JSON mode, so ``json_object`` mode asks by prompt only,
exactly like ``prompt`` mode; the ladder is therefore json_schema -> prompt.

Usage: Anthropic's ``input_tokens`` counts only the input that was neither read
from nor written to its prompt cache.  ``Usage.input_tokens`` here is the total
input (``input_tokens + cache_read_input_tokens + cache_creation_input_tokens``),
with ``cached_input_tokens = cache_read_input_tokens`` and ``cache_write_tokens =
cache_creation_input_tokens``, the same meaning as for OpenAI, so that
``pricing.cost_usd`` prices each part once at its own rate.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from judgekit.providers.error_replies import raise_error_reply
from judgekit.providers.failures import MalformedReply
from judgekit.providers.wire import (
    base_path,
    cache_inclusive_usage,
    endpoint_url,
    fallback_call,
    fixed_parts,
    make_reply,
    post_json,
    read_json,
    reports_usage,
    request_headers,
    token_count,
    with_params,
)
from judgekit.records import Endpoint, ModelCall, OutputMode, Reply, Usage

NAME = "anthropic"
ANTHROPIC_VERSION = "2023-06-01"
TOOL_NAME = "verdict"
MODES: tuple[OutputMode, ...] = ("json_schema", "prompt")
STRUCTURED_MARKERS = ("tool", "json_schema", "input_schema", "structured output")
"""Words of a 400 body that mean the model rejects the forced ``verdict`` tool
(some newer models refuse forced tool use)."""


def build_request(endpoint: Endpoint, call: ModelCall) -> httpx.Request:
    """The POST that asks ``call`` of the Messages API (``params`` merged last)."""
    headers = request_headers(endpoint, "x-api-key", {"anthropic-version": ANTHROPIC_VERSION})
    body = with_params(request_body(call), call.params)
    return post_json(messages_url(endpoint.base_url, call.model), headers, body, fixed_parts(call))


def messages_url(base_url: str, model: str = "") -> str:
    """``{base}/v1/messages``, joined as a URL (a query in the base is kept); a base
    whose path already ends in ``/v1`` is not doubled."""
    path = "messages" if base_path(base_url).endswith("/v1") else "v1/messages"
    return endpoint_url(base_url, path, model)


def request_body(call: ModelCall) -> dict[str, Any]:
    """The JSON body, keys always in the same order."""
    body: dict[str, Any] = {"model": call.model}
    if call.system:  # the API rejects an empty system text
        body["system"] = call.system
    body["messages"] = [{"role": "user", "content": call.user}]
    body["max_tokens"] = call.max_output_tokens
    if call.temperature is not None:
        body["temperature"] = call.temperature
    if call.output_mode == "json_schema":
        if call.json_schema is None:
            raise ValueError("output_mode 'json_schema' needs call.json_schema")
        body["tools"] = [
            {
                "name": TOOL_NAME,
                "description": "Record the verdict.",
                "input_schema": call.json_schema,
            }
        ]
        body["tool_choice"] = {"type": "tool", "name": TOOL_NAME}
    return body


def parse_response(response: httpx.Response) -> Reply:
    """The Reply in a 2xx Messages body; MalformedReply when it holds no answer."""
    body = read_json(response)
    usage = _usage(body.get("usage"))
    content = body.get("content")
    if not isinstance(content, list):
        raise_error_reply(body, response, usage)
        raise MalformedReply("no content in the reply", usage)
    stop_reason = body.get("stop_reason")
    if stop_reason == "refusal":
        said = _text(content)[:120]
        reason = f"the model refused: {said}" if said else "the model refused"
        raise MalformedReply(reason, usage, "refused")
    if stop_reason == "max_tokens":
        raise MalformedReply("cut off at the output cap (stop_reason=max_tokens)", usage, "cut_off")
    text = _verdict_tool_text(content, usage)
    if text is None:
        text = _text(content)
    if not text:
        raise MalformedReply(f"empty reply (stop_reason={stop_reason})", usage, "empty")
    return make_reply(body, text, usage, response)


def _text(content: list[Any]) -> str:
    """The text blocks, joined (``thinking`` blocks are never the answer)."""
    texts = [b.get("text") for b in content if isinstance(b, dict) and b.get("type") == "text"]
    return "".join(t for t in texts if isinstance(t, str))


def _verdict_tool_text(content: list[Any], usage: Usage | None) -> str | None:
    """The ``verdict`` tool's input as JSON text, or None when no such block."""
    for block in content:
        if isinstance(block, dict) and block.get("type") == "tool_use":
            if block.get("name") != TOOL_NAME:
                continue
            arguments = block.get("input")
            if not isinstance(arguments, dict):
                raise MalformedReply("the verdict tool input is not an object", usage)
            return json.dumps(arguments, ensure_ascii=False)
    return None


def _usage(usage: Any) -> Usage | None:
    """Total input = uncached + cache reads + cache writes (see the module docstring);
    None when the body reports no usage."""
    if not reports_usage(usage, "input_tokens", "output_tokens"):
        return None
    return cache_inclusive_usage(
        token_count(usage, "input_tokens"),
        token_count(usage, "cache_read_input_tokens"),
        token_count(usage, "cache_creation_input_tokens"),
        token_count(usage, "output_tokens"),
    )


def adapt(call: ModelCall, error_text: str) -> ModelCall | None:
    """The call a 400 asks for (prompt-only JSON, no temperature), or None when the 400
    is a genuine bad request."""
    return fallback_call(call, error_text, modes=MODES, structured_markers=STRUCTURED_MARKERS)
