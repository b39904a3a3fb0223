"""Which batch API a connection has, where it lives, and what it charges.

Batch APIs answer the same request bodies as the online endpoints, at a discount:
OpenAI's Batch API and Anthropic's Message Batches are billed at half the online price
(https://platform.openai.com/docs/guides/batch, https://docs.anthropic.com/en/docs/build-with-claude/batch-processing).
"""

from __future__ import annotations

from dataclasses import replace

import httpx

from judgekit.batch.anthropic_batch import AnthropicBatches
from judgekit.batch.api import BatchApi
from judgekit.batch.openai_batch import OpenAIBatches
from judgekit.engine.plan import ConnectionPlan
from judgekit.errors import ConfigError
from judgekit.pricing import Price
from judgekit.records import ModelCall

DEFAULT_BATCH_DISCOUNT = 0.5
"""The share of the online price a batch request saves when a connection sets no
``batch_discount``."""

_OPENAI_PATHS = {"chat_completions": "/chat/completions", "responses": "/responses"}
_DROPPED_HEADERS = frozenset({"content-type", "content-length", "host"})


def batch_price(price: Price, discount: float | None) -> Price:
    """``price`` with every per-token figure cut by ``discount`` (default 0.5: half)."""
    keep = 1.0 - (DEFAULT_BATCH_DISCOUNT if discount is None else discount)

    def cut(value: float | None) -> float | None:
        return None if value is None else value * keep

    above = None
    if price.above is not None:
        above = (price.above[0], batch_price(price.above[1], discount))
    return replace(
        price,
        input_usd_per_mtok=price.input_usd_per_mtok * keep,
        output_usd_per_mtok=price.output_usd_per_mtok * keep,
        cached_input_usd_per_mtok=cut(price.cached_input_usd_per_mtok),
        cache_write_usd_per_mtok=cut(price.cache_write_usd_per_mtok),
        above=above,
    )


def _probe(connection: ConnectionPlan) -> httpx.Request:
    """A request as the connection would send it: its URL and headers (with the key)."""
    call = ModelCall(
        model=connection.config.model or "batch-probe",
        system="",
        user="",
        max_output_tokens=1,
        output_mode="prompt",
    )
    return connection.adapter.build_request(connection.endpoint, call)


def api_root(connection: ConnectionPlan) -> str:
    """Where the connection's batch endpoints live: ``https://api.openai.com/v1`` for the
    OpenAI protocols, the Messages URL for Anthropic.  Raises ConfigError for others."""
    protocol = connection.config.protocol
    url = str(_probe(connection).url.copy_with(query=None))
    if protocol in _OPENAI_PATHS:
        return url.removesuffix(_OPENAI_PATHS[protocol])
    if protocol == "anthropic":
        return url
    raise ConfigError(
        f"connection '{connection.name}': protocol {protocol} has no batch API; use a "
        "chat_completions, responses or anthropic connection, or drop --batch"
    )


def batch_api(connection: ConnectionPlan) -> BatchApi:
    """The batch API of ``connection``, with its headers.  Raises ConfigError when the
    connection has none, or its URL carries the model (a deployment URL)."""
    root = api_root(connection)
    probe = _probe(connection)
    if "{model}" in connection.endpoint.base_url:
        raise ConfigError(
            f"connection '{connection.name}': its base_url holds {{model}}; batch mode needs "
            "one API root for every request: drop --batch for this connection"
        )
    headers = {k: v for k, v in probe.headers.items() if k.lower() not in _DROPPED_HEADERS}
    protocol = connection.config.protocol
    if protocol == "anthropic":
        return AnthropicBatches(root, headers)
    return OpenAIBatches(root, headers, "/v1" + _OPENAI_PATHS[protocol])
