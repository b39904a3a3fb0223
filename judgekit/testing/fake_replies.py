"""The fake provider's reply shapes: the replies real providers send that are not a
plain answer.

Each reads ``FakeSettings`` and changes a reply the way a real server would:

- ``think_prefix``: reasoning text holding a decoy verdict (the score mirrored on the
  scale) before the answer.  Anthropic's forced-tool replies get a ``thinking`` block
  instead, and Responses replies also a reasoning item whose summary holds the decoy.
- ``verdict_defect``: the verdict written with a defect (see ``DEFECTS``).
- the output cap: a reply whose output tokens (visible + ``reasoning_tokens``) exceed
  the request's cap is cut off at the cap, billed the cap (chat ``finish_reason:
  "length"``, Responses ``status: "incomplete"``, Anthropic ``stop_reason:
  "max_tokens"``).
- ``refuse``, ``empty_reply``: a billed refusal, or an empty answer.
- ``tool_call_reply``: Chat Completions only: ``content`` null and the answer in the
  single tool call's ``function.arguments``.
- ``error_in_200``: a 200 whose body is the protocol's error object.

Every shape is billed as the real APIs bill it: input tokens always, output tokens
for what was generated.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, get_args

from judgekit.testing.fake_settings import FakeSettings
from judgekit.testing.fake_verdicts import FakeScale
from judgekit.testing.fake_wire import (
    ErrorClass,
    WireCall,
    WireProtocol,
    WireUsage,
    count_tokens,
    error_body,
)

DEFECTS = (
    "raw_newlines",
    "trailing_comma",
    "confidence_word",
    "criteria_words",
    "no_score",
    "unclosed",
    "lone_surrogate",
)
"""``verdict_defect`` values: line breaks inside the reasoning string, a trailing comma,
``"confidence": "high"``, every criterion a word, no ``score`` key, an object cut off
in its reasoning (never closed), half of a UTF-16 pair escaped on its own (``\\udc80``)
at the end of the reasoning and after the verdict (JSON allows it; UTF-8 cannot hold
it).  Re-asks get the same defect."""

LONE_SURROGATE = "\udc80"
"""``lone_surrogate``'s character: the second half of a UTF-16 pair, alone."""

REFUSAL_TEXT = "I'm sorry, but I can't help with evaluating this content."
ERROR_MESSAGES: dict[ErrorClass, str] = {
    "rate_limit": "Rate limit reached for requests. Please try again in 20ms.",
    "auth": "Incorrect API key provided.",
    "server": "The upstream provider returned an error.",
    "overloaded": "Overloaded",
    "invalid_request": "Invalid value for 'response_format': not supported by this model.",
}
_OPENAI_CODES: dict[ErrorClass, str | None] = {
    "rate_limit": "rate_limit_exceeded",
    "auth": "invalid_api_key",
    "server": None,
    "overloaded": None,
    "invalid_request": None,
}


@dataclass(frozen=True, slots=True)
class ShapedReply:
    """A reply's JSON body and what it bills."""

    body: dict[str, Any]
    usage: WireUsage


def error_in_200(protocol: WireProtocol, kind: str) -> dict[str, Any]:
    """The body of a 200 that carries an error of ``kind`` (an ``ErrorClass`` name)."""
    if kind not in get_args(ErrorClass):
        raise ValueError(f"error_in_200 must be one of {', '.join(get_args(ErrorClass))}")
    error_class: ErrorClass = kind  # type: ignore[assignment]
    message = ERROR_MESSAGES[error_class]
    return error_body(protocol, error_class, message, code=_OPENAI_CODES[error_class])


def with_defect(verdict: Mapping[str, Any], defect: str | None) -> dict[str, Any]:
    """The verdict dict with a value-level defect (the text-level ones come later)."""
    changed = dict(verdict)
    if defect is not None and defect not in DEFECTS:
        raise ValueError(f"verdict_defect must be one of {', '.join(DEFECTS)}")
    if defect == "raw_newlines":
        changed["reasoning"] = f"{changed.get('reasoning', '')}\nSecond line of the reasoning."
    elif defect == "confidence_word":
        changed["confidence"] = "high"
    elif defect == "criteria_words" and isinstance(changed.get("criteria"), dict):
        changed["criteria"] = {name: "good" for name in changed["criteria"]}
    elif defect == "no_score":
        changed.pop("score", None)
    elif defect == "lone_surrogate":
        changed["reasoning"] = f"{changed.get('reasoning', '')} {LONE_SURROGATE}"
    return changed


def defective_text(text: str, defect: str | None) -> str:
    """The verdict text with a text-level defect (a JSON text, possibly fenced)."""
    if defect == "raw_newlines":
        return text.replace("\\n", "\n")
    if defect == "trailing_comma":
        end = text.rfind("}")
        return text[:end] + ",}" + text[end + 1 :] if end >= 0 else text
    if defect == "unclosed":
        start = text.find('"reasoning": "')
        return text[: start + 24] if start >= 0 else text[: len(text) // 2]
    if defect == "lone_surrogate":  # the body's JSON escapes it (json.dumps, ASCII)
        return f"{text} {LONE_SURROGATE}"
    return text


def decoy(verdict: Mapping[str, Any], scale: FakeScale) -> str:
    """Reasoning text that drafts the opposite score: never the verdict."""
    score = verdict.get("score")
    mirrored = scale.low + scale.high - score if isinstance(score, int | float) else scale.high
    draft = json.dumps({"score": mirrored, "reasoning": "first impression"})
    return f"Let me think. The answer looks fine at first sight, so a draft: {draft}"


def think_text(tag: str, reasoning: str) -> str:
    """``reasoning`` in a block of ``tag``, or before a lone ``</think>`` for "lone"."""
    if tag == "lone":
        return f"{reasoning}\n</think>\n\n"
    return f"<{tag}>\n{reasoning}\n</{tag.lower()}>\n\n"


def output_cap(protocol: WireProtocol, body: Mapping[str, Any]) -> int | None:
    """The output token cap a request body asks for, if any."""
    if protocol == "bedrock_converse":
        config = body.get("inferenceConfig")
        cap = config.get("maxTokens") if isinstance(config, Mapping) else None
        return cap if isinstance(cap, int) and not isinstance(cap, bool) and cap > 0 else None
    keys = {
        "chat_completions": ("max_completion_tokens", "max_tokens"),
        "responses": ("max_output_tokens",),
        "anthropic": ("max_tokens",),
    }[protocol]
    for key in keys:
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def shape(
    call: WireCall,
    body: dict[str, Any],
    usage: WireUsage,
    s: FakeSettings,
    *,
    cap: int | None,
    reasoning: str,
) -> ShapedReply:
    """Change a success ``body`` (built from the plain answer) into the shape the
    settings ask for; ``reasoning`` is the decoy text for ``think_prefix``."""
    if call.protocol == "chat_completions":
        return _chat(body, usage, s, cap, reasoning)
    if call.protocol == "responses":
        return _responses(body, usage, s, cap, reasoning)
    if call.protocol == "bedrock_converse":
        return ShapedReply(body, usage)  # its stop reasons: fake_bedrock.with_stop_reason
    return _anthropic(body, usage, s, cap, reasoning)


def _visible(text: str, s: FakeSettings, reasoning: str) -> str:
    """The answer text with the reasoning block in front when ``think_prefix`` is set."""
    return think_text(s.think_prefix, reasoning) + text if s.think_prefix else text


def _cut(text: str, usage: WireUsage, cap: int | None) -> tuple[str, WireUsage] | None:
    """(text cut at the cap, usage billing the cap), or None when the reply fits."""
    needed = count_tokens(text) + usage.reasoning_tokens
    if cap is None or needed <= cap:
        return None
    room_bytes = max(0, cap - usage.reasoning_tokens) * 4
    cut = text.encode(errors="surrogatepass")[:room_bytes].decode(errors="ignore")
    return cut, WireUsage(usage.input_tokens, cap, min(usage.reasoning_tokens, cap))


def _billed(usage: WireUsage, text: str) -> WireUsage:
    """``usage`` with the output tokens of ``text`` (plus reasoning)."""
    output = count_tokens(text) + usage.reasoning_tokens
    return WireUsage(usage.input_tokens, output, usage.reasoning_tokens)


def _chat(
    body: dict[str, Any], usage: WireUsage, s: FakeSettings, cap: int | None, reasoning: str
) -> ShapedReply:
    choice = body["choices"][0]
    message = choice["message"]
    if s.refuse:
        message.update(content=None, refusal=REFUSAL_TEXT)
        return ShapedReply(body, _set_chat_usage(body, _billed(usage, REFUSAL_TEXT)))
    if s.empty_reply:
        message["content"] = ""
        return ShapedReply(body, _set_chat_usage(body, _billed(usage, "")))
    text = _visible(message["content"], s, reasoning)
    usage = _billed(usage, text)
    cut = _cut(text, usage, cap)
    if cut is not None:
        text, usage = cut
        choice["finish_reason"] = "length"
    if s.tool_call_reply and cut is None:
        function = {"name": "json_answer", "arguments": text}
        message.update(content=None, tool_calls=[{"id": "call_1", "type": "function"}])
        message["tool_calls"][0]["function"] = function
        choice["finish_reason"] = "tool_calls"
    else:
        message["content"] = text
    return ShapedReply(body, _set_chat_usage(body, usage))


def _set_chat_usage(body: dict[str, Any], usage: WireUsage) -> WireUsage:
    wire = body["usage"]
    wire.update(prompt_tokens=usage.input_tokens, completion_tokens=usage.output_tokens)
    wire["total_tokens"] = usage.input_tokens + usage.output_tokens
    wire["completion_tokens_details"]["reasoning_tokens"] = usage.reasoning_tokens
    return usage


def _responses(
    body: dict[str, Any], usage: WireUsage, s: FakeSettings, cap: int | None, reasoning: str
) -> ShapedReply:
    message = body["output"][-1]
    part = message["content"][0]
    if s.think_prefix:
        summary = [{"type": "summary_text", "text": reasoning}]
        item = {"type": "reasoning", "id": "rs_fake_think", "summary": summary}
        body["output"] = [o for o in body["output"] if o["type"] != "reasoning"]
        body["output"].insert(0, item)
    if s.refuse:
        message["content"] = [{"type": "refusal", "refusal": REFUSAL_TEXT}]
        return ShapedReply(body, _set_responses_usage(body, _billed(usage, REFUSAL_TEXT)))
    if s.empty_reply:
        part["text"] = ""
        return ShapedReply(body, _set_responses_usage(body, _billed(usage, "")))
    text = _visible(part["text"], s, reasoning)
    usage = _billed(usage, text)
    cut = _cut(text, usage, cap)
    if cut is not None:
        text, usage = cut
        body["status"] = message["status"] = "incomplete"
        body["incomplete_details"] = {"reason": "max_output_tokens"}
    part["text"] = text
    return ShapedReply(body, _set_responses_usage(body, usage))


def _set_responses_usage(body: dict[str, Any], usage: WireUsage) -> WireUsage:
    wire = body["usage"]
    wire.update(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens)
    wire["total_tokens"] = usage.input_tokens + usage.output_tokens
    wire["output_tokens_details"]["reasoning_tokens"] = usage.reasoning_tokens
    return usage


def _anthropic(
    body: dict[str, Any], usage: WireUsage, s: FakeSettings, cap: int | None, reasoning: str
) -> ShapedReply:
    block = body["content"][0]
    if s.refuse:
        body.update(content=[], stop_reason="refusal")
        return ShapedReply(body, _set_anthropic_usage(body, _billed(usage, "")))
    if s.empty_reply:
        body.update(content=[], stop_reason="end_turn")
        return ShapedReply(body, _set_anthropic_usage(body, _billed(usage, "")))
    thinking: list[dict[str, Any]] = []
    if block["type"] == "tool_use":
        text = json.dumps(block["input"])
        if s.think_prefix:  # extended thinking: its own block, never the answer
            thinking = [{"type": "thinking", "thinking": reasoning, "signature": "fake"}]
            text = reasoning + text  # for billing: thinking is output
    else:
        text = _visible(block["text"], s, reasoning)
    usage = _billed(usage, text)
    cut = _cut(text, usage, cap)
    if cut is not None:
        usage = cut[1]
        body["stop_reason"] = "max_tokens"
        block = {"type": "text", "text": cut[0]} if block["type"] == "text" else block
        if block["type"] == "tool_use":
            block["input"] = {}  # the tool's arguments never finished
    elif block["type"] == "text":
        block["text"] = text
    body["content"] = [*thinking, block]
    return ShapedReply(body, _set_anthropic_usage(body, usage))


def _set_anthropic_usage(body: dict[str, Any], usage: WireUsage) -> WireUsage:
    body["usage"].update(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens)
    return usage
