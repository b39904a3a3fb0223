"""Wire formats of the model APIs judgekit speaks, one module per protocol.

A protocol translates; it never sends.  Each gives three pure functions:

- ``build_request(endpoint, call) -> httpx.Request``: a POST whose body is compact
  JSON in a fixed key order (the engine hashes URL + body as the cache key); the API
  key goes in a header only.
- ``parse_response(response) -> Reply``: raises ``failures.MalformedReply`` when a
  2xx body holds no usable answer.
- ``adapt(call, error_text) -> ModelCall | None``: given the body of a 400, the call
  with the one rejected parameter changed (a lower output mode, no temperature,
  ``max_completion_tokens``), or None for a genuine bad request.

The engine owns the client, timeouts, retries and fallbacks; ``failures``
classifies what went wrong.  ``PROTOCOLS`` is the registry, keyed like the
config's ``protocol`` values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx

from judgekit.providers import anthropic, bedrock_converse, chat_completions, responses
from judgekit.records import Endpoint, ModelCall, Reply


@dataclass(frozen=True, slots=True)
class ProtocolAdapter:
    """One wire format: how to ask, how to read the answer, how to fall back."""

    name: str
    build_request: Callable[[Endpoint, ModelCall], httpx.Request]
    parse_response: Callable[[httpx.Response], Reply]
    adapt: Callable[[ModelCall, str], ModelCall | None]


PROTOCOLS: dict[str, ProtocolAdapter] = {
    module.NAME: ProtocolAdapter(
        name=module.NAME,
        build_request=module.build_request,
        parse_response=module.parse_response,
        adapt=module.adapt,
    )
    for module in (chat_completions, responses, anthropic, bedrock_converse)
}
