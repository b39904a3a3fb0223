"""pricing: the dated table, lookups with overrides, cost, estimates and worst cases."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from judgekit.pricing import (
    MESSAGE_OVERHEAD_TOKENS,
    PRICES,
    PRICES_AS_OF,
    STRUCTURED_OVERHEAD_TOKENS,
    Price,
    cost_usd,
    estimate_input_tokens,
    input_token_bound,
    lookup_price,
    worst_case_usd,
)
from judgekit.records import ModelCall, Usage

LOOKUP_CASES = [
    ("exact", "gpt-4o-mini", "gpt-4o-mini"),
    ("dated snapshot", "gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
    ("gpt-4o does not capture gpt-4o-mini", "gpt-4o-2024-08-06", "gpt-4o"),
    ("gpt-5 snapshot", "gpt-5-2025-08-07", "gpt-5"),
    ("gpt-5-mini snapshot", "gpt-5-mini-2025-08-07", "gpt-5-mini"),
    ("gpt-4.1 family", "gpt-4.1-nano-2025-04-14", "gpt-4.1-nano"),
    ("o-series", "o4-mini-2025-04-16", "o4-mini"),
    ("claude compact date", "claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
    ("claude 4 vs 4-5", "claude-sonnet-4-20250514", "claude-sonnet-4"),
    ("claude latest alias", "claude-3-5-haiku-latest", "claude-3-5-haiku"),
    ("claude haiku 4.5", "claude-haiku-4-5-20251001", "claude-haiku-4-5"),
    ("case and router prefix", "openai/GPT-4.1-Mini", "gpt-4.1-mini"),
]


@pytest.mark.parametrize(
    ("model", "family"), [c[1:] for c in LOOKUP_CASES], ids=[c[0] for c in LOOKUP_CASES]
)
def test_lookup_resolves_families(model: str, family: str) -> None:
    assert lookup_price(model) is PRICES[family]


@pytest.mark.parametrize(
    "model",
    [
        "llama3.1:8b",
        "gpt-5.3",
        "gpt-4o-realtime-preview",
        "o1-mini",
        "claude-haiku-5-5",
        "",
        "gpt-4",
    ],
    ids=[
        "local",
        "unknown point release",
        "other variant",
        "o1-mini is not o1",
        "tiered",
        "empty",
        "retired",
    ],
)
def test_lookup_unknown_is_none(model: str) -> None:
    assert lookup_price(model) is None


def test_table_is_dated_and_sane() -> None:
    assert PRICES_AS_OF == "2026-11-01"
    for name, price in PRICES.items():
        assert name == name.lower()
        assert 0 < price.input_usd_per_mtok <= price.output_usd_per_mtok, name
        if price.cached_input_usd_per_mtok is not None:
            assert price.cached_input_usd_per_mtok < price.input_usd_per_mtok, name
        if price.cache_write_usd_per_mtok is not None:
            assert price.cache_write_usd_per_mtok > price.input_usd_per_mtok, name
        assert PRICES_AS_OF in price.source


SPOT_PRICES = [
    ("gpt-4o-mini", 0.15, 0.075, 0.60),
    ("gpt-5", 1.25, 0.125, 10.00),
    ("gpt-4.1", 2.00, 0.50, 8.00),
    ("o3", 2.00, 0.50, 8.00),
    ("claude-sonnet-4-5", 3.00, 0.30, 15.00),
    ("claude-haiku-4-5", 1.00, 0.10, 5.00),
    ("claude-opus-4-5", 5.00, 0.50, 25.00),
]


@pytest.mark.parametrize(
    ("model", "inp", "cached", "out"), SPOT_PRICES, ids=[c[0] for c in SPOT_PRICES]
)
def test_spot_prices(model: str, inp: float, cached: float, out: float) -> None:
    price = PRICES[model]
    assert (
        price.input_usd_per_mtok,
        price.cached_input_usd_per_mtok,
        price.output_usd_per_mtok,
    ) == (
        inp,
        cached,
        out,
    )


def test_overrides_win() -> None:
    price = lookup_price("gpt-4o-mini", input_usd_per_mtok=1.0, output_usd_per_mtok=2.0)
    assert price == Price(1.0, 2.0, None, None, "config")


def test_overrides_price_an_unknown_model() -> None:
    price = lookup_price(
        "llama3.1:8b",
        input_usd_per_mtok=0.0,
        output_usd_per_mtok=0.0,
        cached_input_usd_per_mtok=0.0,
    )
    assert price == Price(0.0, 0.0, 0.0, None, "config")


def test_a_lone_cached_override_amends_the_table() -> None:
    price = lookup_price("claude-sonnet-4-5", cached_input_usd_per_mtok=0.25)
    assert price is not None
    assert price == replace(
        PRICES["claude-sonnet-4-5"], cached_input_usd_per_mtok=0.25, source=price.source
    )
    assert price.source.endswith("overridden by config")


def test_a_lone_override_cannot_price_an_unknown_model() -> None:
    assert lookup_price("llama3.1:8b", input_usd_per_mtok=1.0) is None


OPENAI = Price(2.0, 8.0, 0.5, None, "test")
ANTHROPIC = Price(3.0, 15.0, 0.3, 3.75, "test")
NO_CACHE_RATES = Price(1.0, 4.0, None, None, "test")

COST_CASES = [
    ("plain", Usage(1_000_000, 1_000_000), OPENAI, 2.0 + 8.0),
    (
        "cached part at the cached rate",
        Usage(1_000_000, 0, cached_input_tokens=400_000),
        OPENAI,
        0.6 * 2.0 + 0.4 * 0.5,
    ),
    (
        "anthropic reads and writes",
        Usage(1_250, 60, cached_input_tokens=1_000, cache_write_tokens=200),
        ANTHROPIC,
        (50 * 3.0 + 1_000 * 0.3 + 200 * 3.75 + 60 * 15.0) / 1e6,
    ),
    (
        "no cache rates: input rate",
        Usage(1_000, 10, cached_input_tokens=500, cache_write_tokens=100),
        NO_CACHE_RATES,
        (1_000 * 1.0 + 10 * 4.0) / 1e6,
    ),
    ("reasoning is inside output", Usage(0, 100, reasoning_tokens=80), OPENAI, 100 * 8.0 / 1e6),
    (
        "inconsistent cached count is clamped",
        Usage(10, 0, cached_input_tokens=50),
        OPENAI,
        10 * 0.5 / 1e6,
    ),
    ("nothing", Usage(), OPENAI, 0.0),
]


@pytest.mark.parametrize(
    ("usage", "price", "expected"), [c[1:] for c in COST_CASES], ids=[c[0] for c in COST_CASES]
)
def test_cost_usd(usage: Usage, price: Price, expected: float) -> None:
    assert cost_usd(usage, price) == pytest.approx(expected, rel=1e-12)


SCHEMA = {"type": "object", "properties": {"score": {"type": "number"}}}


def call(system: str, user: str, **changes: object) -> ModelCall:
    base = ModelCall(
        model="m", system=system, user=user, max_output_tokens=100, output_mode="prompt"
    )
    return replace(base, **changes)  # type: ignore[arg-type]


ESTIMATE_CASES = [
    ("empty", call("", ""), 2 * MESSAGE_OVERHEAD_TOKENS),
    ("ascii", call("abcdef", "abcdefg"), 2 + 3 + 2 * MESSAGE_OVERHEAD_TOKENS),
    ("utf-8 bytes, not characters", call("", "日本語"), 3 + 2 * MESSAGE_OVERHEAD_TOKENS),
    (
        "schema counted in a JSON mode",
        call("", "", output_mode="json_schema", json_schema=SCHEMA),
        # 58 bytes: {"type":"object","properties":{"score":{"type":"number"}}}
        2 * MESSAGE_OVERHEAD_TOKENS + math.ceil(58 / 3) + STRUCTURED_OVERHEAD_TOKENS,
    ),
    (
        "schema not sent in prompt mode",
        call("", "", json_schema=SCHEMA),
        2 * MESSAGE_OVERHEAD_TOKENS,
    ),
]


@pytest.mark.parametrize(
    ("given", "expected"), [c[1:] for c in ESTIMATE_CASES], ids=[c[0] for c in ESTIMATE_CASES]
)
def test_estimate_input_tokens(given: ModelCall, expected: int) -> None:
    assert estimate_input_tokens(given) == expected


def test_estimate_errs_high_on_english() -> None:
    """About 4.5 bytes a token on English prose; the estimate must stay above that."""
    prose = "The answer correctly states that the capital of France is Paris. " * 50
    assert estimate_input_tokens(call("", prose)) > len(prose.encode()) / 4


BOUND_CASES = [
    ("empty", call("", ""), 2 * MESSAGE_OVERHEAD_TOKENS),
    ("one token a byte at most", call("abcdef", "abcdefg"), 13 + 2 * MESSAGE_OVERHEAD_TOKENS),
    ("utf-8 bytes, not characters", call("", "日本語"), 9 + 2 * MESSAGE_OVERHEAD_TOKENS),
    (
        "schema bytes in a JSON mode",
        call("", "", output_mode="json_schema", json_schema=SCHEMA),
        2 * MESSAGE_OVERHEAD_TOKENS + 58 + STRUCTURED_OVERHEAD_TOKENS,
    ),
    ("schema not sent in prompt mode", call("", "", json_schema=SCHEMA), 32),
]


@pytest.mark.parametrize(
    ("given", "expected"), [c[1:] for c in BOUND_CASES], ids=[c[0] for c in BOUND_CASES]
)
def test_input_token_bound(given: ModelCall, expected: int) -> None:
    assert input_token_bound(given) == expected


@pytest.mark.parametrize(
    "text",
    [
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 " * 40,
        "aGVsbG8gd29ybGQhIGFHVnNiRzhnZDI5eWJHUWg=" * 40,
        "Das Urteil ist korrekt, weil die Hauptstadt Paris ist. " * 40,
        "判断答案正确。" * 40,
        "🙂🙃" * 40,
    ],
    ids=["hex", "base64", "prose", "cjk", "emoji"],
)
def test_the_bound_is_never_below_what_a_byte_level_tokenizer_bills(text: str) -> None:
    """A byte-level BPE token covers at least one byte: bytes bound the billed tokens.  The
    old estimate (a third of the bytes) fell below what hex ids really bill (0.6 a byte)."""
    given = call("You are a judge.", text)
    billed_at_most = len(given.system.encode()) + len(text.encode())
    assert input_token_bound(given) >= billed_at_most


WORST_CASES = [
    ("openai", 1_000, 500, OPENAI, (1_000 * 2.0 + 500 * 8.0) / 1e6),
    (
        "anthropic: input at the cache-write rate",
        1_000,
        500,
        ANTHROPIC,
        (1_000 * 3.75 + 500 * 15.0) / 1e6,
    ),
    ("zero", 0, 0, OPENAI, 0.0),
]


@pytest.mark.parametrize(
    ("input_tokens", "max_output_tokens", "price", "expected"),
    [c[1:] for c in WORST_CASES],
    ids=[c[0] for c in WORST_CASES],
)
def test_worst_case_usd(
    input_tokens: int, max_output_tokens: int, price: Price, expected: float
) -> None:
    assert worst_case_usd(input_tokens, max_output_tokens, price) == pytest.approx(
        expected, rel=1e-12
    )


@pytest.mark.parametrize(
    "usage",
    [
        Usage(1_000, 500),
        Usage(1_000, 500, cached_input_tokens=900),
        Usage(1_000, 500, cache_write_tokens=1_000),
    ],
    ids=["plain", "cached", "written"],
)
def test_worst_case_bounds_the_real_cost(usage: Usage) -> None:
    for price in (OPENAI, ANTHROPIC, NO_CACHE_RATES):
        assert cost_usd(usage, price) <= worst_case_usd(1_000, 500, price)


def test_a_long_prompt_is_billed_wholly_at_the_long_context_tier() -> None:
    price = lookup_price("gemini-2.5-pro")
    assert price is not None
    short = cost_usd(Usage(input_tokens=200_000, output_tokens=1_000), price)
    long = cost_usd(Usage(input_tokens=200_001, output_tokens=1_000), price)
    assert short == pytest.approx((200_000 * 1.25 + 1_000 * 10.00) / 1e6)
    assert long == pytest.approx((200_001 * 2.50 + 1_000 * 15.00) / 1e6)
    assert worst_case_usd(200_001, 1_000, price) == pytest.approx(long)
    assert worst_case_usd(1_000, 1_000, price) == pytest.approx((1_000 * 1.25 + 10_000) / 1e6)


@pytest.mark.parametrize("model", ["anthropic.claude-haiku-4-5-20251001-v1:0", "judge-gpt4o"])
def test_providers_without_table_prices_need_config_prices(model: str) -> None:
    assert lookup_price("gpt-4o-mini", table=False) is None
    assert lookup_price(model, table=False) is None
    configured = lookup_price(model, input_usd_per_mtok=1.0, output_usd_per_mtok=5.0, table=False)
    assert configured is not None and configured.source == "config"
