"""Amazon Bedrock Converse API: ``POST {base_url}/model/{modelId}/converse``.

Translate only.  ``base_url`` is a region's runtime endpoint,
``https://bedrock-runtime.{region}.amazonaws.com``; the model id (or inference
profile id, or ARN) goes in the path, percent-encoded as the AWS SDKs do
(``anthropic.claude-haiku-4-5-20251001-v1:0`` -> ``...-v1%3A0``).  The key is a
Bedrock API key sent as ``Authorization: Bearer`` (``AWS_BEARER_TOKEN_BEDROCK``);
judgekit does not sign SigV4 requests.  Wire format: the Converse API reference,
docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html.

Body, keys always in this order: ``system`` (``[{"text"}]``, only when there is
one), ``messages`` (one user message, ``content: [{"text"}]``), ``inferenceConfig``
(``maxTokens``, ``temperature``), then the JSON request of the output mode:

- ``json_schema``: ``outputConfig.textFormat`` = ``{"type": "json_schema",
  "structure": {"jsonSchema": {"schema": "<the schema as JSON text>", "name":
  "verdict"}}}`` (Bedrock structured outputs; the schema is a string on the wire).
- ``json_object``: Converse has no plain JSON mode, so this forces a tool named
  ``verdict`` (``toolConfig.tools[0].toolSpec.inputSchema.json`` = the schema,
  ``toolChoice = {"tool": {"name": "verdict"}}``), which Claude, Mistral Large and
  Nova models accept; the ``toolUse`` input becomes the reply text.
- ``prompt``: nothing; the prompt alone asks for JSON.

The ladder is json_schema -> json_object -> prompt.

Reply: the text blocks of ``output.message.content`` (``reasoningContent`` blocks
are skipped), or the ``verdict`` tool's input.  ``stopReason``: ``end_turn``,
``tool_use``, ``stop_sequence`` and ``max_tokens`` hand whatever text there is to
the verdict parser (an empty one is a MalformedReply naming the reason);
``guardrail_intervened`` and ``content_filtered`` are refusals (the text is the
guardrail's canned message, not a verdict); ``malformed_model_output``,
``malformed_tool_use`` and ``model_context_window_exceeded`` are MalformedReply.

Usage: ``inputTokens`` counts only input that was neither read from nor written to
the prompt cache, as on Anthropic, so ``Usage.input_tokens`` is ``inputTokens +
cacheReadInputTokens + cacheWriteInputTokens`` with the cache parts kept apart for
pricing.  The reply names neither model nor id: the model is the one in the URL and
the response id is the ``x-amzn-RequestId`` header.  Errors are ``{"message": ...}``
with an ``x-amzn-ErrorType`` header; ``failures`` reads the message.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, unquote

import httpx

from judgekit.providers.failures import MalformedReply
from judgekit.providers.wire import (
    cache_inclusive_usage,
    encode_body,
    endpoint_url,
    fallback_call,
    fixed_parts,
    post_json,
    read_json,
    request_headers,
    token_count,
    with_params,
)
from judgekit.records import Endpoint, ModelCall, OutputMode, Reply, Usage

NAME = "bedrock_converse"
TOOL_NAME = "verdict"
MODES: tuple[OutputMode, ...] = ("json_schema", "json_object", "prompt")
STRUCTURED_MARKERS = (
    "outputconfig",
    "textformat",
    "structured output",
    "json_schema",
    "toolconfig",
    "toolchoice",
    "tool",
)
"""Words (lowercase) of a 400 body that mean the model rejects how we asked for JSON."""
ANSWER_STOPS = frozenset({"end_turn", "tool_use", "stop_sequence", "max_tokens"})
REFUSAL_STOPS = {
    "guardrail_intervened": "a guardrail intervened",
    "content_filtered": "the content was filtered",
}


def build_request(endpoint: Endpoint, call: ModelCall) -> httpx.Request:
    """The POST that asks ``call`` of the Converse API (``params`` merged last)."""
    url = converse_url(endpoint.base_url, call.model)
    return post_json(
        url,
        request_headers(endpoint),
        with_params(request_body(call), call.params),
        fixed_parts(call),
    )


def converse_url(base_url: str, model: str) -> str:
    """``{base}/model/{percent-encoded model id}/converse``."""
    return endpoint_url(base_url, f"model/{quote(model, safe='')}/converse")


def request_body(call: ModelCall) -> dict[str, Any]:
    """The JSON body, keys always in the same order (see the module docstring)."""
    body: dict[str, Any] = {}
    if call.system:  # an empty system text block is rejected
        body["system"] = [{"text": call.system}]
    body["messages"] = [{"role": "user", "content": [{"text": call.user}]}]
    inference: dict[str, Any] = {"maxTokens": call.max_output_tokens}
    if call.temperature is not None:
        inference["temperature"] = call.temperature
    body["inferenceConfig"] = inference
    if call.output_mode != "prompt" and call.json_schema is None:
        raise ValueError(f"output_mode '{call.output_mode}' needs call.json_schema")
    if call.output_mode == "json_schema":
        schema_text = encode_body(dict(call.json_schema or {})).decode()
        json_schema = {"schema": schema_text, "name": TOOL_NAME}
        body["outputConfig"] = {
            "textFormat": {"type": "json_schema", "structure": {"jsonSchema": json_schema}}
        }
    elif call.output_mode == "json_object":
        spec = {
            "name": TOOL_NAME,
            "description": "Record the verdict.",
            "inputSchema": {"json": call.json_schema},
        }
        body["toolConfig"] = {
            "tools": [{"toolSpec": spec}],
            "toolChoice": {"tool": {"name": TOOL_NAME}},
        }
    return body


def parse_response(response: httpx.Response) -> Reply:
    """The Reply in a 2xx Converse body; MalformedReply when it holds no answer."""
    body = read_json(response)
    usage = _usage(body.get("usage"))
    stop = body.get("stopReason")
    # Billed but unusable replies carry their kind: the engine never retries them
    # unchanged (the same request gets the same paid answer); a cut-off one is asked
    # again once with a larger output cap.
    if stop in REFUSAL_STOPS:
        reason = f"the model refused: {REFUSAL_STOPS[stop]} (stopReason={stop})"
        raise MalformedReply(reason, usage, "refused")
    if stop == "max_tokens":
        raise MalformedReply("cut off at the output cap (stopReason=max_tokens)", usage, "cut_off")
    if isinstance(stop, str) and stop not in ANSWER_STOPS:
        raise MalformedReply(f"no answer (stopReason={stop})", usage, "empty")
    output = body.get("output")
    message = output.get("message") if isinstance(output, dict) else None
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, list):
        raise MalformedReply("no output.message.content in the reply", usage)
    text = _verdict_tool_text(content, usage)
    if text is None:
        texts = [b.get("text") for b in content if isinstance(b, dict)]
        text = "".join(t for t in texts if isinstance(t, str))
    if not text:
        raise MalformedReply(f"empty reply (stopReason={stop})", usage, "empty")
    return Reply(
        text=text,
        usage=usage,
        model=_model_in_url(response),
        response_id=response.headers.get("x-amzn-requestid"),
    )


def _verdict_tool_text(content: list[Any], usage: Usage) -> str | None:
    """The ``verdict`` tool's input as JSON text, or None when no such block."""
    for block in content:
        tool_use = block.get("toolUse") if isinstance(block, dict) else None
        if not isinstance(tool_use, dict) or tool_use.get("name") != TOOL_NAME:
            continue
        arguments = tool_use.get("input")
        if not isinstance(arguments, dict):
            raise MalformedReply("the verdict tool input is not an object", usage)
        return json.dumps(arguments, ensure_ascii=False)
    return None


def _model_in_url(response: httpx.Response) -> str:
    """The model id of the request's path (``/model/{id}/converse``), decoded."""
    try:
        raw = response.request.url.raw_path.decode("ascii").split("?", 1)[0]
    except RuntimeError:  # a response built without a request
        return ""
    parts = raw.rstrip("/").split("/")
    return unquote(parts[-2]) if len(parts) >= 3 and parts[-1] == "converse" else ""


def _usage(usage: Any) -> Usage:
    """Total input = uncached + cache reads + cache writes (see the module docstring)."""
    return cache_inclusive_usage(
        token_count(usage, "inputTokens"),
        token_count(usage, "cacheReadInputTokens"),
        token_count(usage, "cacheWriteInputTokens"),
        token_count(usage, "outputTokens"),
    )


def adapt(call: ModelCall, error_text: str) -> ModelCall | None:
    """The call a 400 asks for (a lower output mode, no temperature), or None when the
    400 is a genuine bad request."""
    return fallback_call(call, error_text, modes=MODES, structured_markers=STRUCTURED_MARKERS)
