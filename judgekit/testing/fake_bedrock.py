"""The fake provider's Amazon Bedrock Converse wire: ``POST /model/{modelId}/converse``.

Shaped like the real API (docs.aws.amazon.com/bedrock/latest/APIReference/
API_runtime_Converse.html): the model id is in the path, not the body; the reply is
``output.message.content`` blocks (``text``, or ``toolUse`` when the request forced a
tool), ``stopReason``, ``usage`` (``inputTokens``/``outputTokens``/``totalTokens``)
and ``metrics``, with an ``x-amzn-RequestId`` header; errors are ``{"message"}``
with an ``x-amzn-ErrorType`` header.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

ERROR_TYPES: dict[str, str] = {
    "invalid_request": "ValidationException",
    "auth": "AccessDeniedException",
    "rate_limit": "ThrottlingException",
    "server": "InternalServerException",
    "overloaded": "ServiceUnavailableException",
}
"""The fake's error classes -> Bedrock's exception names (``x-amzn-ErrorType``)."""
AUTH_STATUS = 403
"""Bedrock answers a bad API key with 403 (AccessDeniedException), not 401."""


def read_texts(body: Mapping[str, Any]) -> list[str]:
    """Every text of ``system`` and of the messages' content blocks."""
    texts: list[str] = []
    system = body.get("system")
    for block in system if isinstance(system, list) else []:
        if isinstance(block, dict) and isinstance(block.get("text"), str):
            texts.append(block["text"])
    messages = body.get("messages")
    for message in messages if isinstance(messages, list) else []:
        content = message.get("content") if isinstance(message, dict) else None
        for block in content if isinstance(content, list) else []:
            if isinstance(block, dict) and isinstance(block.get("text"), str):
                texts.append(block["text"])
    return texts


def read_structure(
    body: Mapping[str, Any],
) -> tuple[bool, Mapping[str, Any] | None, str | None]:
    """(asks for JSON, its schema, the forced tool's name) from ``outputConfig`` (whose
    schema is JSON text) or a ``toolConfig`` forcing one tool."""
    output = body.get("outputConfig")
    text_format = output.get("textFormat") if isinstance(output, dict) else None
    if isinstance(text_format, dict) and text_format.get("type") == "json_schema":
        structure = text_format.get("structure")
        definition = structure.get("jsonSchema") if isinstance(structure, dict) else None
        raw = definition.get("schema") if isinstance(definition, dict) else None
        try:
            schema = json.loads(raw) if isinstance(raw, str) else None
        except ValueError:
            schema = None
        return True, schema if isinstance(schema, dict) else None, None
    tools = body.get("toolConfig")
    if not isinstance(tools, dict):
        return False, None, None
    choice = tools.get("toolChoice")
    forced = choice.get("tool") if isinstance(choice, dict) else None
    name = forced.get("name") if isinstance(forced, dict) else None
    if not isinstance(name, str):
        return False, None, None
    for tool in tools.get("tools") or []:
        spec = tool.get("toolSpec") if isinstance(tool, dict) else None
        if isinstance(spec, dict) and spec.get("name") == name:
            schema = (spec.get("inputSchema") or {}).get("json")
            return True, schema if isinstance(schema, dict) else None, name
    return True, None, name


def success_body(
    answer: str | dict[str, Any], tool_name: str | None, input_tokens: int, output_tokens: int
) -> dict[str, Any]:
    """A Converse 200 body: a ``toolUse`` block for a dict answer to a forced tool, else
    a ``text`` block."""
    block: dict[str, Any]
    if isinstance(answer, dict) and tool_name is not None:
        tool_use = {"toolUseId": "tooluse_" + uuid.uuid4().hex[:22], "name": tool_name}
        block, stop = {"toolUse": {**tool_use, "input": answer}}, "tool_use"
    else:
        text = answer if isinstance(answer, str) else json.dumps(answer)
        block, stop = {"text": text}, "end_turn"
    return {
        "output": {"message": {"role": "assistant", "content": [block]}},
        "stopReason": stop,
        "usage": {
            "inputTokens": input_tokens,
            "outputTokens": output_tokens,
            "totalTokens": input_tokens + output_tokens,
        },
        "metrics": {"latencyMs": 1},
    }


GUARDRAIL_TEXT = "Sorry, the model cannot answer this question."
"""What a Bedrock guardrail puts in place of the model's answer (its blocked message)."""


def with_stop_reason(body: dict[str, Any], stop_reason: str) -> dict[str, Any]:
    """``body`` as Bedrock sends it when generation ends with ``stop_reason``."""
    message = body["output"]["message"]
    content: list[dict[str, Any]] = message["content"]
    if stop_reason in ("guardrail_intervened", "content_filtered"):
        content = [{"text": GUARDRAIL_TEXT}]
    elif stop_reason == "max_tokens" and "text" in content[0]:
        text = content[0]["text"]
        content = [{"text": text[: len(text) // 2]}]
    elif stop_reason in ("malformed_model_output", "model_context_window_exceeded"):
        content = []
    return {
        **body,
        "output": {"message": {**message, "content": content}},
        "stopReason": stop_reason,
    }


def reply_headers() -> dict[str, str]:
    """Headers of a Converse reply: the request id."""
    return {"x-amzn-RequestId": str(uuid.uuid4())}


def error_headers(kind: str) -> dict[str, str]:
    """Headers of a Converse error: its exception name."""
    return {"x-amzn-ErrorType": f"{ERROR_TYPES[kind]}:http://internal.amazon.com/coral/"}
