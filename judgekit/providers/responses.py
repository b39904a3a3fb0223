"""OpenAI Responses API: ``POST {base_url}/responses``.

Translate only.  The system prompt goes in ``instructions``, the user prompt is
the string ``input``, and ``store`` is false (judgekit never reads a response
back, so nothing is kept on the provider's side).  The structured-output
ladder is json_schema -> json_object -> prompt, through ``text.format``.

A reply with ``status: "incomplete"`` is billed but unusable: cut off at
``max_output_tokens`` (problem ``cut_off``, even when it holds text: its last
words are missing), or stopped by a content filter (``refused``); so are a
refusal part and an empty reply.  Reasoning items never hold the answer.  A
``status: "failed"`` body, or one without ``output`` that holds an ``error``, is
that error (``error_replies``).
"""

from __future__ import annotations

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

NAME = "responses"
MODES: tuple[OutputMode, ...] = ("json_schema", "json_object", "prompt")
STRUCTURED_MARKERS = (
    "text.format",
    "response_format",
    "json_schema",
    "json_object",
    "structured output",
)
"""Words of a 400 body that mean the server rejects how we asked for JSON."""


def build_request(endpoint: Endpoint, call: ModelCall) -> httpx.Request:
    """The POST that asks ``call`` of a Responses server (``params`` merged last)."""
    url = endpoint_url(endpoint.base_url, "responses", call.model)
    return post_json(
        url,
        request_headers(endpoint),
        with_params(request_body(call), call.params),
        fixed_parts(call),
    )


def request_body(call: ModelCall) -> dict[str, Any]:
    """The JSON body, keys always in the same order."""
    body: dict[str, Any] = {"model": call.model}
    if call.system:
        body["instructions"] = call.system
    body["input"] = call.user
    if call.temperature is not None:
        body["temperature"] = call.temperature
    body["max_output_tokens"] = call.max_output_tokens
    text_format = _text_format(call)
    if text_format is not None:
        body["text"] = {"format": text_format}
    body["store"] = False
    return body


def _text_format(call: ModelCall) -> dict[str, Any] | None:
    if call.output_mode == "json_schema":
        if call.json_schema is None:
            raise ValueError("output_mode 'json_schema' needs call.json_schema")
        return {
            "type": "json_schema",
            "name": "verdict",
            "strict": True,
            "schema": call.json_schema,
        }
    if call.output_mode == "json_object":
        return {"type": "json_object"}
    return None


def parse_response(response: httpx.Response) -> Reply:
    """The Reply in a 2xx Responses body; MalformedReply when it holds no answer."""
    body = read_json(response)
    usage = _usage(body.get("usage"))
    status = body.get("status")
    if status == "failed" or body.get("output") is None:
        raise_error_reply(body, response, usage)
    if status == "failed":
        raise MalformedReply(f"the response failed: {_error_message(body)}", usage)
    text, refusal = _output_text(body)
    if refusal and not text:
        raise MalformedReply(f"the model refused: {refusal[:120]}", usage, "refused")
    if status == "incomplete":
        why = _incomplete_reason(body)
        if why == "incomplete: max_output_tokens":
            raise MalformedReply("cut off at the output cap (max_output_tokens)", usage, "cut_off")
        if why == "incomplete: content_filter":
            raise MalformedReply(
                "the provider's content filter stopped the reply", usage, "refused"
            )
        if not text:
            raise MalformedReply(f"empty reply ({why})", usage, "empty")
    if not text:
        raise MalformedReply("empty reply (no output_text)", usage, "empty")
    return make_reply(body, text, usage, response)


def _output_text(body: dict[str, Any]) -> tuple[str, str]:
    """(text of every output_text part of the message items, any refusal text).

    A top-level ``output_text`` (an SDK convenience some servers also send) is used
    when the output items hold none."""
    texts: list[str] = []
    refusals: list[str] = []
    output = body.get("output")
    items = output if isinstance(output, list) else []
    for item in items:
        if not isinstance(item, dict) or item.get("type") != "message":
            continue  # reasoning items and tool calls carry no answer text
        content = item.get("content")
        for part in content if isinstance(content, list) else []:
            if not isinstance(part, dict):
                continue
            if part.get("type") == "output_text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif part.get("type") == "refusal" and isinstance(part.get("refusal"), str):
                refusals.append(part["refusal"])
    if not texts and isinstance(body.get("output_text"), str):
        texts.append(body["output_text"])
    if output is None and not texts:
        raise MalformedReply("no output in the reply")
    return "".join(texts), " ".join(refusals)


def _incomplete_reason(body: dict[str, Any]) -> str:
    details = body.get("incomplete_details")
    reason = details.get("reason") if isinstance(details, dict) else None
    return f"incomplete: {reason}" if isinstance(reason, str) else "incomplete"


def _error_message(body: dict[str, Any]) -> str:
    error = body.get("error")
    message = error.get("message") if isinstance(error, dict) else None
    return message[:120] if isinstance(message, str) else "no reason given"


def _usage(usage: Any) -> Usage | None:
    """Responses usage; ``input_tokens`` already includes the cached ones; None when absent."""
    if not reports_usage(usage, "input_tokens", "output_tokens"):
        return None
    return Usage(
        input_tokens=token_count(usage, "input_tokens"),
        output_tokens=token_count(usage, "output_tokens"),
        cached_input_tokens=token_count(usage, "input_tokens_details", "cached_tokens"),
        cache_write_tokens=token_count(usage, "input_tokens_details", "cache_write_tokens"),
        reasoning_tokens=token_count(usage, "output_tokens_details", "reasoning_tokens"),
    )


def adapt(call: ModelCall, error_text: str) -> ModelCall | None:
    """The call a 400 asks for (a lower output mode, no temperature), or None when the
    400 is a genuine bad request."""
    return fallback_call(call, error_text, modes=MODES, structured_markers=STRUCTURED_MARKERS)
