"""OpenAI Chat Completions (and the many servers that copy it: vLLM, Ollama, LiteLLM ...).

Translate only: a ModelCall becomes an ``httpx.Request`` for
``POST {base_url}/chat/completions`` (joined as a URL: a query in the base is
kept), and a response body becomes a Reply.

The body is compact JSON in a fixed key order, because the engine hashes
URL + body as the cache key; the API key travels only in the Authorization
header.  The structured-output ladder is json_schema -> json_object -> prompt.

A reply is read from ``choices[0].message``: its ``content`` (a string or a list of
text parts), else the ``function.arguments`` of its single tool call.  A refusal
(``message.refusal``, ``finish_reason: "content_filter"``), a reply cut off at the
output cap (``finish_reason: "length"``, even when it holds text: its last words are
missing) and an empty one are billed but unusable: MalformedReply with that problem.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from judgekit.providers.error_replies import raise_error_reply
from judgekit.providers.failures import MalformedReply
from judgekit.providers.wire import (
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

NAME = "chat_completions"
MODES: tuple[OutputMode, ...] = ("json_schema", "json_object", "prompt")
STRUCTURED_MARKERS = ("response_format", "json_schema", "json_object", "structured output")
"""Words of a 400 body that mean the server rejects how we asked for JSON."""


def build_request(endpoint: Endpoint, call: ModelCall) -> httpx.Request:
    """The POST that asks ``call`` of a Chat Completions server (``params`` merged last)."""
    url = endpoint_url(endpoint.base_url, "chat/completions", call.model)
    return post_json(
        url,
        request_headers(endpoint),
        with_params(request_body(call), call.params),
        fixed_parts(call),
    )


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
    """The Reply in a 2xx Chat Completions body; MalformedReply when it holds no answer
    (``problem`` refused, cut_off or empty for an answer that is billed but unusable),
    ErrorReply when the body is an error object."""
    body = read_json(response)
    usage = _usage(body.get("usage"))
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise_error_reply(body, response, usage)
        raise MalformedReply("no choices in the reply", usage)
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise MalformedReply("choices[0] has no message", usage)
    finish = choices[0].get("finish_reason")
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal:
        raise MalformedReply(f"the model refused: {refusal[:120]}", usage, "refused")
    if finish == "content_filter":
        raise MalformedReply("the provider's content filter stopped the reply", usage, "refused")
    if finish == "length":
        raise MalformedReply("cut off at the output cap (finish_reason=length)", usage, "cut_off")
    text = _content_text(message.get("content")) or _tool_call_text(message.get("tool_calls"))
    if not text:
        raise MalformedReply(f"empty reply (finish_reason={finish})", usage, "empty")
    return make_reply(body, text, usage, response)


def _tool_call_text(tool_calls: Any) -> str:
    """The ``function.arguments`` of a reply's single tool call: some OpenAI-compatible
    proxies answer JSON mode with a tool call and null content.  "" otherwise."""
    if not isinstance(tool_calls, list) or len(tool_calls) != 1:
        return ""
    call = tool_calls[0]
    function = call.get("function") if isinstance(call, dict) else None
    arguments = function.get("arguments") if isinstance(function, dict) else None
    if isinstance(arguments, dict):  # a few servers send the object itself
        return json.dumps(arguments, ensure_ascii=False)
    return arguments if isinstance(arguments, str) else ""


def _content_text(content: Any) -> str:
    """A message's text: a string, or (some servers) a list of text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict)]
        return "".join(p for p in parts if isinstance(p, str))
    return ""


def _usage(usage: Any) -> Usage | None:
    """Chat usage; ``prompt_tokens`` already includes the cached ones; None when absent.
    Output is at least ``total_tokens - prompt_tokens``: Gemini's OpenAI-compatible
    endpoint (and proxies in front of it) can leave billed thinking tokens out of
    ``completion_tokens``."""
    if not reports_usage(usage, "prompt_tokens", "completion_tokens"):
        return None
    input_tokens = token_count(usage, "prompt_tokens")
    total = token_count(usage, "total_tokens")
    return Usage(
        input_tokens=input_tokens,
        output_tokens=max(token_count(usage, "completion_tokens"), total - input_tokens),
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
