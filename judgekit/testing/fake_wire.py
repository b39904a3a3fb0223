"""Wire formats of the fake provider: read a request body, build reply and error bodies.

Four protocols, shaped like the real APIs (ids, model echo, usage objects):
``chat_completions`` (OpenAI Chat Completions), ``responses`` (OpenAI
Responses), ``anthropic`` (Anthropic Messages) and ``bedrock_converse`` (Amazon
Bedrock Converse, in ``fake_bedrock``).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from judgekit.testing import fake_bedrock

WireProtocol = Literal["chat_completions", "responses", "anthropic", "bedrock_converse"]
ErrorClass = Literal["invalid_request", "auth", "rate_limit", "server", "overloaded"]

PATH_PROTOCOLS: dict[str, WireProtocol] = {
    "/v1/chat/completions": "chat_completions",
    "/v1/responses": "responses",
    "/v1/messages": "anthropic",
}

ROUTES: dict[str, WireProtocol] = {
    **PATH_PROTOCOLS,
    "/openai/deployments/{deployment}/chat/completions": "chat_completions",  # Azure
    "/openai/deployments/{deployment}/responses": "responses",
    "/v1beta/openai/chat/completions": "chat_completions",  # Gemini
    "/openai/v1/chat/completions": "chat_completions",  # Groq, Azure v1
    "/api/v1/chat/completions": "chat_completions",  # OpenRouter
    "/model/{model_id}/converse": "bedrock_converse",  # Bedrock
}
"""aiohttp route patterns the fake answers, and their protocol: the ``/v1`` paths plus
the paths other providers' base URLs lead to."""

STRUCTURED_PARAM: dict[WireProtocol, str] = {
    "chat_completions": "response_format",
    "responses": "text.format",
    "anthropic": "tool_choice",
    "bedrock_converse": "outputConfig",
}
"""The parameter each protocol uses to ask for structured output."""

_REQUIRED: dict[WireProtocol, tuple[str, ...]] = {
    "chat_completions": ("model", "messages"),
    "responses": ("model", "input"),
    "anthropic": ("model", "messages", "max_tokens"),
    "bedrock_converse": ("messages",),
}
_JSON_MODES = ("json_schema", "json_object")


@dataclass(frozen=True, slots=True)
class WireCall:
    """What the fake needs from one request body."""

    protocol: WireProtocol
    model: str
    text: str
    """All message text (system, instructions, every message), joined by newlines."""
    structured: bool
    """The request asked for structured output (schema, JSON mode, forced tool)."""
    schema: Mapping[str, Any] | None
    tool_name: str | None
    """Anthropic: the tool the request forces; the answer is a ``tool_use`` block."""
    prefill: str
    """Anthropic: text of a trailing assistant message the reply continues."""


@dataclass(frozen=True, slots=True)
class WireUsage:
    """Token counts of one reply."""

    input_tokens: int
    output_tokens: int
    reasoning_tokens: int = 0
    hidden_reasoning: bool = False
    """Chat: ``completion_tokens`` without the reasoning tokens (``total_tokens`` has them)."""


def count_tokens(text: str) -> int:
    """Deterministic token count: ceil(UTF-8 bytes / 4)."""
    return math.ceil(len(text.encode(errors="surrogatepass")) / 4)


def read_call(protocol: WireProtocol, body: Any, path_model: str = "") -> WireCall | str:
    """Parse a request body (Bedrock: the model is ``path_model``, from the URL); a string
    return is the reason it is invalid (400)."""
    if not isinstance(body, dict):
        return "The request body must be a JSON object."
    for key in _REQUIRED[protocol]:
        if key not in body:
            return f"{key}: Field required"
    if protocol == "bedrock_converse":
        structured, schema, tool = fake_bedrock.read_structure(body)
        text = "\n".join(fake_bedrock.read_texts(body))
        return WireCall(protocol, path_model, text, structured, schema, tool, "")
    if not isinstance(body["model"], str):
        return "model: Input should be a valid string"
    if protocol == "chat_completions":
        return _read_chat(body)
    if protocol == "responses":
        return _read_responses(body)
    return _read_anthropic(body)


def _part_texts(content: Any) -> list[str]:
    """Texts of a message content: a string, or a list of parts with ``text``."""
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [
            p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        ]
    return []


def _messages_text(messages: Any) -> list[str]:
    if not isinstance(messages, list):
        return []
    texts: list[str] = []
    for message in messages:
        if isinstance(message, dict):
            texts.extend(_part_texts(message.get("content")))
    return texts


def _json_format(fmt: Any) -> tuple[bool, Mapping[str, Any] | None]:
    """(asks for JSON, its schema) for a chat ``response_format`` or responses ``text.format``."""
    if not isinstance(fmt, dict) or fmt.get("type") not in _JSON_MODES:
        return False, None
    schema = fmt.get("schema")
    if schema is None and isinstance(fmt.get("json_schema"), dict):
        schema = fmt["json_schema"].get("schema")
    return True, schema if isinstance(schema, dict) else None


def _read_chat(body: dict[str, Any]) -> WireCall:
    structured, schema = _json_format(body.get("response_format"))
    text = "\n".join(_messages_text(body["messages"]))
    return WireCall("chat_completions", body["model"], text, structured, schema, None, "")


def _read_responses(body: dict[str, Any]) -> WireCall:
    texts = [body["instructions"]] if isinstance(body.get("instructions"), str) else []
    source = body["input"]
    texts.extend([source] if isinstance(source, str) else _messages_text(source))
    text_options = body.get("text")
    fmt = text_options.get("format") if isinstance(text_options, dict) else None
    structured, schema = _json_format(fmt)
    return WireCall("responses", body["model"], "\n".join(texts), structured, schema, None, "")


def _forced_tool(body: dict[str, Any]) -> tuple[str | None, Mapping[str, Any] | None]:
    """The tool an Anthropic request forces (``tool`` or ``any`` with one tool) and its schema."""
    choice, tools = body.get("tool_choice"), body.get("tools")
    tools = [t for t in tools if isinstance(t, dict)] if isinstance(tools, list) else []
    name: str | None = None
    if isinstance(choice, dict) and choice.get("type") == "tool":
        name = choice.get("name") if isinstance(choice.get("name"), str) else None
    elif isinstance(choice, dict) and choice.get("type") == "any" and len(tools) == 1:
        name = tools[0].get("name") if isinstance(tools[0].get("name"), str) else None
    schema = next((t.get("input_schema") for t in tools if t.get("name") == name), None)
    return name, schema if isinstance(schema, dict) else None


def _read_anthropic(body: dict[str, Any]) -> WireCall:
    texts = _part_texts(body.get("system"))
    messages = body["messages"]
    texts.extend(_messages_text(messages))
    prefill = ""
    if isinstance(messages, list) and messages and isinstance(messages[-1], dict):
        last = messages[-1]
        if last.get("role") == "assistant":
            prefill = "".join(_part_texts(last.get("content")))
    tool_name, schema = _forced_tool(body)
    return WireCall(
        "anthropic",
        body["model"],
        "\n".join(texts),
        tool_name is not None,
        schema,
        tool_name,
        prefill,
    )


def _new_id(prefix: str, hex_chars: int = 24) -> str:
    return prefix + os.urandom(hex_chars // 2).hex()


def success_body(
    call: WireCall, answer: str | dict[str, Any], usage: WireUsage, model: str
) -> dict[str, Any]:
    """The 200 body for a reply; a dict answer becomes a ``tool_use`` block on Anthropic
    when the request forced a tool, and JSON text everywhere else."""
    if call.protocol == "anthropic":
        return _anthropic_body(call, answer, usage, model)
    if call.protocol == "bedrock_converse":
        return fake_bedrock.success_body(
            answer, call.tool_name, usage.input_tokens, usage.output_tokens
        )
    text = answer if isinstance(answer, str) else json.dumps(answer)
    if call.protocol == "chat_completions":
        return _chat_body(text, usage, model)
    return _responses_body(text, usage, model)


def _chat_body(text: str, usage: WireUsage, model: str) -> dict[str, Any]:
    return {
        "id": _new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": usage.input_tokens,
            "completion_tokens": usage.output_tokens
            - (usage.reasoning_tokens if usage.hidden_reasoning else 0),
            "total_tokens": usage.input_tokens + usage.output_tokens,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        },
    }


def _responses_body(text: str, usage: WireUsage, model: str) -> dict[str, Any]:
    output: list[dict[str, Any]] = []
    if usage.reasoning_tokens:
        # Reasoning models put a reasoning item before the message; parsers must skip it.
        output.append({"type": "reasoning", "id": _new_id("rs_", 48), "summary": []})
    output.append(
        {
            "type": "message",
            "id": _new_id("msg_", 48),
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }
    )
    return {
        "id": _new_id("resp_", 48),
        "object": "response",
        "created_at": int(time.time()),
        "status": "completed",
        "model": model,
        "output": output,
        "usage": {
            "input_tokens": usage.input_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": usage.output_tokens,
            "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
            "total_tokens": usage.input_tokens + usage.output_tokens,
        },
    }


def _anthropic_body(
    call: WireCall, answer: str | dict[str, Any], usage: WireUsage, model: str
) -> dict[str, Any]:
    block: dict[str, Any]
    if isinstance(answer, dict) and call.tool_name is not None:
        block = {"type": "tool_use", "id": _new_id("toolu_"), "name": call.tool_name}
        block["input"] = answer
        stop_reason = "tool_use"
    else:
        text = answer if isinstance(answer, str) else json.dumps(answer)
        if call.prefill and text.startswith(call.prefill):
            # A prefilled reply continues after the prefill, as the real API does.
            text = text[len(call.prefill) :]
        block, stop_reason = {"type": "text", "text": text}, "end_turn"
    return {
        "id": _new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [block],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


_OPENAI_TYPES: dict[ErrorClass, str] = {
    "invalid_request": "invalid_request_error",
    "auth": "invalid_request_error",
    "rate_limit": "requests",
    "server": "server_error",
    "overloaded": "server_error",
}
_ANTHROPIC_TYPES: dict[ErrorClass, str] = {
    "invalid_request": "invalid_request_error",
    "auth": "authentication_error",
    "rate_limit": "rate_limit_error",
    "server": "api_error",
    "overloaded": "overloaded_error",
}


def error_body(
    protocol: WireProtocol,
    kind: ErrorClass,
    message: str,
    *,
    param: str | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    """An error body shaped like the protocol's real one (OpenAI, Anthropic, Bedrock)."""
    if protocol == "bedrock_converse":
        return {"message": message}
    if protocol == "anthropic":
        return {"type": "error", "error": {"type": _ANTHROPIC_TYPES[kind], "message": message}}
    return {
        "error": {"message": message, "type": _OPENAI_TYPES[kind], "param": param, "code": code}
    }
