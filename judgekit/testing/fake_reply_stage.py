"""The fake provider's last stage: the reply to a request every fault let through.

The stand-in judge (``fake_judges``, ``fake_verdicts``) gives a verdict; the
switches of the reply stage then write it as a real provider would:
``error_in_200``, ``bad_verdict_*``, ``verdict_defect``, the shapes of
``fake_replies`` (output cap, ``think_prefix``, ``refuse`` ...), Bedrock's stop
reason, ``omit_usage``, ``malformed_*`` (a truncated body), and last ``gzip_replies``.
"""

from __future__ import annotations

import gzip
import json
import math
import zlib
from typing import Any

from aiohttp import web

from judgekit.testing import fake_bedrock
from judgekit.testing import fake_replies as shapes
from judgekit.testing.fake_faults import FaultGate
from judgekit.testing.fake_judges import answer_for
from judgekit.testing.fake_settings import FakeSettings
from judgekit.testing.fake_verdicts import BAD_VERDICT_TEXT, read_prompt, verdict_text
from judgekit.testing.fake_wire import WireCall, WireUsage, count_tokens, success_body


def reply(
    call: WireCall, s: FakeSettings, gate: FaultGate, cap: int | None
) -> tuple[web.Response, WireUsage | None]:
    """The reply to ``call`` under settings ``s``, and the tokens it bills (None for an
    ``error_in_200`` reply, which bills nothing).  ``cap``: the request's output cap."""
    if s.error_in_200 is not None:
        # A gateway that forwards the provider's hint: ``retry_after_s`` as retry-after-ms.
        headers = None
        if s.retry_after_s is not None:
            headers = {"retry-after-ms": str(round(s.retry_after_s * 1000))}
        body = shapes.error_in_200(call.protocol, s.error_in_200)
        return web.json_response(body, headers=headers), None
    facts = read_prompt(call.text, call.schema)
    verdict = answer_for(
        facts,
        call.schema,
        should_continue=s.should_continue,
        out_of_scale=s.out_of_scale,
        position_bias=s.position_bias,
        examples_shift=s.examples_shift,
    )
    answer: str | dict[str, Any]
    if gate.bad_verdict(s, reask=facts.reask):
        answer = BAD_VERDICT_TEXT
    elif call.structured:
        answer = shapes.with_defect(verdict, s.verdict_defect)
    else:
        # Prompt-only replies: prose + a code fence for some prompts, chosen by
        # content so a repeated request gets the same reply.
        fenced = s.fence_every > 0 and zlib.crc32(call.text.encode()) % s.fence_every == 0
        answer = verdict_text(shapes.with_defect(verdict, s.verdict_defect), fenced=fenced)
    out_text = answer if isinstance(answer, str) else json.dumps(answer)
    if answer is not BAD_VERDICT_TEXT:
        out_text = shapes.defective_text(out_text, s.verdict_defect)
    reasoning = max(s.reasoning_tokens, 0)
    input_tokens = count_tokens(call.text)
    if s.input_tokens_per_byte > 0:
        input_tokens = math.ceil(len(call.text.encode()) * s.input_tokens_per_byte)
    usage = WireUsage(
        input_tokens,
        count_tokens(out_text) + reasoning,
        reasoning,
        s.hidden_reasoning_usage,
    )
    wire_answer = answer if call.tool_name else out_text  # a dict only for tool_use
    body = success_body(call, wire_answer, usage, s.reply_model or call.model)
    decoy = shapes.decoy(verdict, facts.scale)
    shaped = shapes.shape(call, body, usage, s, cap=cap, reasoning=decoy)
    reply_body = shaped.body
    if call.protocol == "bedrock_converse" and s.bedrock_stop_reason:
        reply_body = fake_bedrock.with_stop_reason(reply_body, s.bedrock_stop_reason)
    if s.omit_usage:
        reply_body = {k: v for k, v in reply_body.items() if k != "usage"}
    payload = json.dumps(reply_body)
    if gate.malformed(s):
        payload = payload[: len(payload) // 2]
    headers = fake_bedrock.reply_headers() if call.protocol == "bedrock_converse" else None
    if s.gzip_replies:
        encoded = {**(headers or {}), "Content-Encoding": "gzip"}
        body_bytes = gzip.compress(payload.encode(errors="surrogatepass"))
        response = web.Response(body=body_bytes, content_type="application/json", headers=encoded)
    else:
        response = web.Response(text=payload, content_type="application/json", headers=headers)
    return response, shaped.usage
