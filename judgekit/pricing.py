"""Prices in USD per million tokens, the cost of a call, and its worst case.

The built-in table holds standard-tier list prices (no Batch, Flex or Priority
discount, no regional or data-residency uplift) as of ``PRICES_AS_OF``:

- OpenAI: developers.openai.com/api/docs/pricing, cross-checked with dated
  third-party copies of that page (2026-05 to 2026-11).  GPT-5.4 and GPT-5.5 bill
  prompts above 272K input tokens at a higher rate; judge prompts stay far below.
- Anthropic: platform.claude.com/docs/en/about-claude/pricing and the model
  overview pages; cache writes are the 5-minute rate.  Sonnet 5.5's cache-read
  cut to $0.10 (2026-10-07) is from third-party changelogs of that page.
  Claude Haiku 5.5 is left out on purpose: its price depends on each prompt's
  length, which one flat row cannot express (set a price in the config).
- Google Gemini: ai.google.dev/gemini-api/docs/pricing (Standard tier, text input,
  paid tier), cross-checked with dated third-party copies (2026-01 to 2026-06).
  Gemini 2.5 Pro bills a prompt above 200K tokens at its long-context rates, every
  token of that call: ``Price.above`` holds them and both the cost and the worst
  case use them.  Thinking tokens are output tokens.
- Not in the table: Azure (deployment names are yours), Bedrock, Together, Mistral,
  Groq, DeepSeek (time-of-day prices) and xAI: their prices change often or depend on
  the region or hour; set ``input_usd_per_mtok`` / ``output_usd_per_mtok``.

Prices change: a connection's ``input_usd_per_mtok`` / ``output_usd_per_mtok`` /
``cached_input_usd_per_mtok`` override the table.  An unknown model has no price
(``lookup_price`` returns None); a run with a budget then refuses to start.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from judgekit.records import ModelCall, Usage

PRICES_AS_OF = "2026-11-01"
MESSAGE_OVERHEAD_TOKENS = 16
"""Role markers and separators a provider adds around each message."""
STRUCTURED_OVERHEAD_TOKENS = 400
"""Tokens a provider may add to ask for structured output (Anthropic's forced-tool
system prompt alone is about 350), on top of the schema itself."""

_OPENAI = f"OpenAI list price, {PRICES_AS_OF}"
_ANTHROPIC = f"Anthropic list price, {PRICES_AS_OF}"
_GOOGLE = f"Google Gemini API list price, {PRICES_AS_OF}"


@dataclass(frozen=True, slots=True)
class Price:
    """What one million tokens of each kind cost, in USD."""

    input_usd_per_mtok: float
    output_usd_per_mtok: float
    cached_input_usd_per_mtok: float | None = None
    """Input read from the provider's prompt cache; None: billed as plain input."""
    cache_write_usd_per_mtok: float | None = None
    """Input written to Anthropic's prompt cache; None: billed as plain input."""
    source: str = "config"
    """Where the figures come from: the built-in table (dated) or ``config``."""
    above: tuple[int, Price] | None = None
    """(N, price): a call whose input exceeds N tokens is billed wholly at ``price``."""


def _openai(input_usd: float, cached_usd: float | None, output_usd: float) -> Price:
    return Price(input_usd, output_usd, cached_usd, None, _OPENAI)


def _anthropic(input_usd: float, write_usd: float, read_usd: float, output_usd: float) -> Price:
    return Price(input_usd, output_usd, read_usd, write_usd, _ANTHROPIC)


def _google(
    input_usd: float,
    cached_usd: float | None,
    output_usd: float,
    above: tuple[int, float, float | None, float] | None = None,
) -> Price:
    long = None
    if above is not None:
        tokens, long_input, long_cached, long_output = above
        long = (tokens, Price(long_input, long_output, long_cached, None, _GOOGLE))
    return Price(input_usd, output_usd, cached_usd, None, _GOOGLE, long)


PRICES: dict[str, Price] = {
    # OpenAI: input, cached input, output
    "gpt-5.5": _openai(5.00, 0.50, 30.00),
    "gpt-5.5-pro": _openai(30.00, None, 180.00),
    "gpt-5.4": _openai(2.50, 0.25, 15.00),
    "gpt-5.4-mini": _openai(0.75, 0.075, 4.50),
    "gpt-5.4-nano": _openai(0.20, 0.02, 1.25),
    "gpt-5.4-pro": _openai(30.00, None, 180.00),
    "gpt-5.2": _openai(1.75, 0.175, 14.00),
    "gpt-5.2-pro": _openai(21.00, None, 168.00),
    "gpt-5.1": _openai(1.25, 0.125, 10.00),
    "gpt-5": _openai(1.25, 0.125, 10.00),
    "gpt-5-chat-latest": _openai(1.25, 0.125, 10.00),
    "gpt-5-mini": _openai(0.25, 0.025, 2.00),
    "gpt-5-nano": _openai(0.05, 0.005, 0.40),
    "gpt-5-pro": _openai(15.00, None, 120.00),
    "gpt-4.1": _openai(2.00, 0.50, 8.00),
    "gpt-4.1-mini": _openai(0.40, 0.10, 1.60),
    "gpt-4.1-nano": _openai(0.10, 0.025, 0.40),
    "gpt-4o": _openai(2.50, 1.25, 10.00),
    "gpt-4o-mini": _openai(0.15, 0.075, 0.60),
    "o4-mini": _openai(1.10, 0.275, 4.40),
    "o3": _openai(2.00, 0.50, 8.00),
    "o3-mini": _openai(1.10, 0.55, 4.40),
    "o3-pro": _openai(20.00, None, 80.00),
    "o1": _openai(15.00, 7.50, 60.00),
    # Anthropic: input, 5-minute cache write, cache read, output
    "claude-fable-5-1": _anthropic(10.00, 12.50, 0.25, 50.00),
    "claude-fable-5": _anthropic(10.00, 12.50, 1.00, 50.00),
    "claude-opus-5-5": _anthropic(4.00, 5.00, 0.20, 20.00),
    "claude-opus-5": _anthropic(5.00, 6.25, 0.50, 25.00),
    "claude-opus-4-8": _anthropic(5.00, 6.25, 0.50, 25.00),
    "claude-opus-4-7": _anthropic(5.00, 6.25, 0.50, 25.00),
    "claude-opus-4-6": _anthropic(5.00, 6.25, 0.50, 25.00),
    "claude-opus-4-5": _anthropic(5.00, 6.25, 0.50, 25.00),
    "claude-opus-4-1": _anthropic(15.00, 18.75, 1.50, 75.00),
    "claude-opus-4-0": _anthropic(15.00, 18.75, 1.50, 75.00),
    "claude-opus-4": _anthropic(15.00, 18.75, 1.50, 75.00),
    "claude-sonnet-5-5": _anthropic(2.00, 2.50, 0.10, 10.00),
    "claude-sonnet-5": _anthropic(2.00, 2.50, 0.20, 10.00),
    "claude-sonnet-4-6": _anthropic(3.00, 3.75, 0.30, 15.00),
    "claude-sonnet-4-5": _anthropic(3.00, 3.75, 0.30, 15.00),
    "claude-sonnet-4-0": _anthropic(3.00, 3.75, 0.30, 15.00),
    "claude-sonnet-4": _anthropic(3.00, 3.75, 0.30, 15.00),
    "claude-3-7-sonnet": _anthropic(3.00, 3.75, 0.30, 15.00),
    "claude-haiku-4-5": _anthropic(1.00, 1.25, 0.10, 5.00),
    "claude-3-5-haiku": _anthropic(0.80, 1.00, 0.08, 4.00),
    "claude-3-haiku": _anthropic(0.25, 0.30, 0.03, 1.25),
    # Google: input, cached input, output (, above N input tokens: the same three)
    "gemini-2.5-pro": _google(1.25, 0.125, 10.00, above=(200_000, 2.50, 0.25, 15.00)),
    "gemini-2.5-flash": _google(0.30, 0.03, 2.50),
    "gemini-2.5-flash-lite": _google(0.10, 0.01, 0.40),
    "gemini-2.0-flash": _google(0.10, 0.025, 0.40),
    "gemini-2.0-flash-lite": _google(0.075, None, 0.30),
}

_SNAPSHOT_SUFFIX = re.compile(r"(?:-(?:\d{4}-\d{2}-\d{2}|\d{8}|\d{4}))?(?:-latest)?")
"""What may follow a family name: a dated snapshot (``-2024-07-18``, ``-20250929``,
``-0613``) and/or ``-latest``.  Anything else (``-mini``, ``.3``, ``-realtime``)
is another model, possibly dearer, so it does not inherit the family's price."""


def lookup_price(
    model: str,
    *,
    input_usd_per_mtok: float | None = None,
    output_usd_per_mtok: float | None = None,
    cached_input_usd_per_mtok: float | None = None,
    table: bool = True,
) -> Price | None:
    """The price of ``model``: config overrides win over the table; None when unknown.
    ``table=False`` (a provider whose prices the table does not hold: Azure deployments,
    Bedrock, ...): only the config's prices."""
    built_in = _table_price(model) if table else None
    if input_usd_per_mtok is not None and output_usd_per_mtok is not None:
        return Price(input_usd_per_mtok, output_usd_per_mtok, cached_input_usd_per_mtok)
    if built_in is None:
        return None
    overridden = (input_usd_per_mtok, output_usd_per_mtok, cached_input_usd_per_mtok)
    if all(value is None for value in overridden):
        return built_in
    return replace(
        built_in,
        input_usd_per_mtok=_or(input_usd_per_mtok, built_in.input_usd_per_mtok),
        output_usd_per_mtok=_or(output_usd_per_mtok, built_in.output_usd_per_mtok),
        cached_input_usd_per_mtok=(
            built_in.cached_input_usd_per_mtok
            if cached_input_usd_per_mtok is None
            else cached_input_usd_per_mtok
        ),
        source=f"{built_in.source}, overridden by config",
    )


def _table_price(model: str) -> Price | None:
    """Exact id, else the longest family name followed only by a snapshot suffix."""
    name = model.strip().lower().rsplit("/", 1)[-1]  # "openai/gpt-4o" (routers) -> "gpt-4o"
    if name in PRICES:
        return PRICES[name]
    families = [f for f in PRICES if name.startswith(f) and _is_snapshot(name[len(f) :])]
    return PRICES[max(families, key=len)] if families else None


def _is_snapshot(suffix: str) -> bool:
    return _SNAPSHOT_SUFFIX.fullmatch(suffix) is not None


def cost_usd(usage: Usage, price: Price) -> float:
    """USD cost of one reply's usage.

    ``usage.input_tokens`` is the total input; its cached and cache-write parts are
    priced at their own rates (the input rate when the price has none) and the rest
    at the input rate.  Reasoning tokens are part of ``output_tokens``.  A price with
    an ``above`` tier bills the whole call at it when the input exceeds its size."""
    price = _tier(price, usage.input_tokens)
    cached = min(usage.cached_input_tokens, usage.input_tokens)
    written = min(usage.cache_write_tokens, usage.input_tokens - cached)
    uncached = usage.input_tokens - cached - written
    total = (
        uncached * price.input_usd_per_mtok
        + cached * _or(price.cached_input_usd_per_mtok, price.input_usd_per_mtok)
        + written * _or(price.cache_write_usd_per_mtok, price.input_usd_per_mtok)
        + usage.output_tokens * price.output_usd_per_mtok
    )
    return total / 1_000_000


def _tier(price: Price, input_tokens: int) -> Price:
    """The price that applies to a call of ``input_tokens`` (the long-context tier)."""
    if price.above is not None and input_tokens > price.above[0]:
        return price.above[1]
    return price


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


def estimate_input_tokens(call: ModelCall) -> int:
    """A deliberately high estimate of a call's input tokens, before sending it.

    ceil(UTF-8 bytes / 3) per message plus ``MESSAGE_OVERHEAD_TOKENS``; in a JSON
    mode with a schema, the schema the same way plus ``STRUCTURED_OVERHEAD_TOKENS``
    (an over-count where the protocol does not send the schema).
    Tokenizers average about 4 bytes a token on English and code (a third too
    high here) and about one token per 3-byte CJK character (about right); dense
    random strings (ids, base64) can run below 3 bytes a token, so this is a pacing
    and guard figure, never the budget's: that reserves ``input_token_bound``."""
    # -(-n // 3) is ceil(n / 3) in integers, as exact and without a float
    tokens = -(-_utf8_bytes(call.system) // 3) - (-_utf8_bytes(call.user) // 3)
    tokens += 2 * MESSAGE_OVERHEAD_TOKENS
    if call.output_mode != "prompt" and call.json_schema is not None:
        tokens += -(-_schema_bytes(call.json_schema) // 3) + STRUCTURED_OVERHEAD_TOKENS
    return tokens


# A judge's schema is one object shared by all its calls: measure it once.  The
# entry keeps the schema alive, so its id() cannot be reused by another object.
_SCHEMA_BYTES: dict[int, tuple[Mapping[str, Any], int]] = {}


def _schema_bytes(schema: Mapping[str, Any]) -> int:
    known = _SCHEMA_BYTES.get(id(schema))
    if known is not None and known[0] is schema:
        return known[1]
    size = len(json.dumps(schema, separators=(",", ":"), default=dict).encode())
    if len(_SCHEMA_BYTES) < 1024:
        _SCHEMA_BYTES[id(schema)] = (schema, size)
    return size


def input_token_bound(call: ModelCall) -> int:
    """The most input tokens a provider can bill for ``call``: the budget's reservation.

    Every tokenizer in use is byte-level BPE (or SentencePiece with byte fallback), whose
    tokens each cover at least one UTF-8 byte, so a text never bills more tokens than it
    has bytes; each message adds ``MESSAGE_OVERHEAD_TOKENS`` of role markers, a JSON mode
    ``STRUCTURED_OVERHEAD_TOKENS`` plus the schema's bytes.  Typical text bills 3-4 bytes
    a token, dense text (hex ids, base64, hashes) as little as 1.7: only the bytes are a
    bound.  The reservation is settled to the real cost as soon as the reply is in, so
    the pessimism only holds back calls near the end of a budget."""
    tokens = _utf8_bytes(call.system) + _utf8_bytes(call.user) + 2 * MESSAGE_OVERHEAD_TOKENS
    if call.output_mode != "prompt" and call.json_schema is not None:
        tokens += _schema_bytes(call.json_schema) + STRUCTURED_OVERHEAD_TOKENS
    return tokens


def _utf8_bytes(text: str) -> int:
    # An ASCII str's length is its byte count: no encode() of every prompt on the hot path.
    return len(text) if text.isascii() else len(text.encode())


def worst_case_usd(input_tokens: int, max_output_tokens: int, price: Price) -> float:
    """The most a call can cost: every input token at the dearest input rate (a cache
    write can cost more than plain input) and ``max_output_tokens`` of output, at the
    long-context tier when the input estimate passes it."""
    price = _tier(price, input_tokens)
    input_rate = max(price.input_usd_per_mtok, price.cache_write_usd_per_mtok or 0.0)
    return (input_tokens * input_rate + max_output_tokens * price.output_usd_per_mtok) / 1_000_000
