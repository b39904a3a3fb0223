"""Every billed token lands on its row: whatever the fake provider does, the summary's
tokens and spend (--summary-json and the Parquet metadata alike) are exactly the sums of
the rows' ``J_input_tokens``, ``J_output_tokens`` and ``J_cost_usd`` (over the non-null
values), and the rows hold every token the fake billed."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from test_provider_replies import KEY_ENV, Run

from judgekit.testing.fake_provider import FakeProvider, FakeSettings
from judgekit.testing.fake_replies import DEFECTS

ROWS = 6
Fault = tuple[str, dict[str, Any], str]

FAULTS: list[Fault] = [
    ("latency_ms", {"latency_ms": 5}, ""),
    ("fail_5xx_rate", {"fail_5xx_rate": 0.5}, ""),
    ("fail_5xx_first_n", {"fail_5xx_first_n": 3}, ""),
    ("fail_status", {"fail_status": 529, "fail_5xx_first_n": 3}, ""),
    ("status_401", {"status_401": True}, ""),
    ("api_key", {"api_key": "sk-another-key-0000"}, ""),
    ("malformed_rate", {"malformed_rate": 0.5}, ""),
    ("malformed_first_n", {"malformed_first_n": 3}, ""),
    ("bad_verdict_first_n", {"bad_verdict_first_n": 3}, ""),
    ("bad_verdict_always", {"bad_verdict_always": True}, ""),
    ("out_of_scale", {"out_of_scale": True}, ""),
    ("examples_shift", {"examples_shift": -0.5}, ""),
    ("rate_limit_per_s", {"rate_limit_per_s": 3, "retry_after_s": 0.05}, ""),
    ("retry_after_s", {"rate_limit_first_n": 2, "retry_after_s": 0.01}, ""),
    ("send_retry_after", {"rate_limit_first_n": 1, "send_retry_after": False}, ""),
    ("rate_limit_first_n", {"rate_limit_first_n": 3, "retry_after_s": 0.01}, ""),
    ("reject_structured_output", {"reject_structured_output": True}, ""),
    ("reject_temperature", {"reject_temperature": True}, ""),
    ("reject_max_tokens", {"reject_max_tokens": True}, ""),
    ("status_400_rate", {"status_400_rate": 0.5}, ""),
    ("hang", {"hang": True}, "timeout_s = 0.5\nmax_retries = 0"),
    ("hang_first_n", {"hang_first_n": 2}, "timeout_s = 0.5"),
    ("fence_every", {"fence_every": 1}, 'output_mode = "prompt"'),
    ("reasoning_tokens-reask", {"reasoning_tokens": 600}, ""),
    ("reasoning_tokens-cut-twice", {"reasoning_tokens": 5000}, ""),
    ("reply_model", {"reply_model": "fake-judge-2025-01-01"}, ""),
    ("record", {"record": False}, ""),
    ("think_prefix", {"think_prefix": "think"}, ""),
    *[(f"verdict_defect-{d}", {"verdict_defect": d}, "") for d in DEFECTS],
    ("refuse", {"refuse": True}, ""),
    ("empty_reply", {"empty_reply": True}, ""),
    ("tool_call_reply", {"tool_call_reply": True}, ""),
    ("gzip_replies", {"gzip_replies": True}, ""),
    ("error_in_200-server", {"error_in_200": "server"}, ""),
    # A 429 is waited out without spending retries until it proves lasting (7 rounds):
    # a short hint keeps that quick.
    ("error_in_200-rate_limit", {"error_in_200": "rate_limit", "retry_after_s": 0.01}, ""),
    ("error_in_200-auth", {"error_in_200": "auth"}, ""),
    ("omit_usage", {"omit_usage": True}, ""),
    ("input_tokens_per_byte", {"input_tokens_per_byte": 0.6}, ""),
    ("no_api_status", {"no_api_status": 404}, ""),
    ("redirect_to", {"redirect_to": "https://127.0.0.1:9"}, ""),
    ("drop_first_n", {"drop_first_n": 2}, ""),
    ("retry_hint", {"rate_limit_first_n": 2, "retry_hint": "litellm", "retry_after_s": 0.01}, ""),
    ("quota_exceeded", {"quota_exceeded": True}, ""),
    # Only continuation judges read it (tests/test_continuation.py); here it must change nothing.
    ("should_continue", {"should_continue": False}, ""),
    # Only pairwise judges read it (tests/test_pairwise.py); here it must change nothing.
    ("position_bias", {"position_bias": 1.0}, ""),
    ("hidden_reasoning_usage", {"hidden_reasoning_usage": True, "reasoning_tokens": 100}, ""),
    *[
        (f"bedrock_stop_reason-{r}", {"bedrock_stop_reason": r}, "")
        for r in ("guardrail_intervened", "max_tokens", "malformed_model_output")
    ],
]
"""Every switch of ``FakeSettings``, turned on (``test_every_fake_switch_is_covered``)."""

REPLY_SHAPES = {
    "malformed_first_n",
    "bad_verdict_first_n",
    "reasoning_tokens-reask",
    "reasoning_tokens-cut-twice",
    "think_prefix",
    "verdict_defect-unclosed",
    "verdict_defect-trailing_comma",
    "verdict_defect-lone_surrogate",
    "refuse",
    "empty_reply",
    "error_in_200-server",
    "gzip_replies",
}
"""The faults that change a reply's shape, run on the other two protocols too."""

STOPS_THE_RUN = {"status_401", "api_key", "error_in_200-auth", "no_api_status", "redirect_to"}
USAGE_UNREADABLE = {"malformed_rate", "malformed_first_n", "omit_usage"}
"""The fake billed a reply whose usage the client cannot read (a body cut in half, or no
``usage`` in it): those rows' token columns are null, never a made-up number."""

BEDROCK_ONLY = {name for name, _, _ in FAULTS if name.startswith("bedrock_")}
"""Faults of Bedrock's wire shape: run on ``bedrock_converse`` only."""

CASES = [
    ("bedrock_converse" if fault[0] in BEDROCK_ONLY else "chat_completions", *fault)
    for fault in FAULTS
] + [
    (protocol, *fault)
    for protocol in ("responses", "anthropic")
    for fault in FAULTS
    if fault[0] in REPLY_SHAPES
]


BATCH_SWITCHES = {"batch_polls_to_finish", "batch_ending", "batch_fail_every", "batch_hang_at"}
"""Switches of the batch APIs only (``score --batch``): covered by test_batch*.py."""


def test_every_fake_switch_is_covered() -> None:
    switched = {name for _, settings, _ in FAULTS for name in settings}
    assert switched | BATCH_SWITCHES == {f.name for f in dataclasses.fields(FakeSettings)}
    defects = {settings.get("verdict_defect") for _, settings, _ in FAULTS}
    assert defects >= set(DEFECTS)


@pytest.fixture
def runner(fake: FakeProvider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    """A Run whose connection key is set."""
    monkeypatch.setenv(KEY_ENV, "sk-replies-test-0000")
    monkeypatch.setenv("COLUMNS", "250")
    return Run(tmp_path, fake)


def column_sum(rows: list[dict[str, Any]], name: str) -> Any:
    """The sum of a column's non-null values."""
    return sum(row[f"j_{name}"] for row in rows if row[f"j_{name}"] is not None)


@pytest.mark.parametrize(
    ("protocol", "name", "settings", "connection"),
    CASES,
    ids=[f"{c[0]}-{c[1]}" for c in CASES],
)
def test_the_summary_is_the_sum_of_the_rows(
    runner: Run, protocol: str, name: str, settings: dict[str, Any], connection: str
) -> None:
    for key, value in settings.items():
        setattr(runner.fake.settings, key, value)
    connection = connection if "max_retries" in connection else f"max_retries = 2\n{connection}"
    # A high output price: the summary's 6-decimal rounding is small against each row.
    result = runner.score(
        ROWS,
        protocol=protocol,
        connection=connection,
        output_usd_per_mtok=400,
        extra=("--max-error-rate", "1"),
    )
    if name in STOPS_THE_RUN:
        assert result.exit_code == 2
        assert not runner.output.exists()
        assert runner.fake.stats().input_tokens == 0  # refused: nothing billed
        return
    assert result.exit_code == 0, result.stderr
    rows = runner.rows()
    totals = json.loads(pq.read_metadata(runner.output).metadata[b"judgekit.totals"])
    for figures in (runner.figures(), totals):
        assert figures["input_tokens"] == column_sum(rows, "input_tokens")
        assert figures["output_tokens"] == column_sum(rows, "output_tokens")
        assert figures["spent_usd"] == pytest.approx(column_sum(rows, "cost_usd"), abs=6e-7)
    if name not in USAGE_UNREADABLE:
        stats = runner.fake.stats()
        assert column_sum(rows, "input_tokens") == stats.input_tokens
        assert column_sum(rows, "output_tokens") == stats.output_tokens


def test_a_cached_rerun_keeps_the_rows_and_spent_plus_saved_is_their_cost(
    fake: FakeProvider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Cut off once, then answered at twice the cap: only the answer is cached, so the
    # rerun pays for the cut-off attempt again and takes the answer from the cache.
    monkeypatch.setenv(KEY_ENV, "sk-replies-test-0000")
    runner = Run(tmp_path, fake)
    fake.settings.reasoning_tokens = 600
    first = runner.score(ROWS, output_usd_per_mtok=400)
    assert first.exit_code == 0, first.stderr
    paid = column_sum(runner.rows(), "cost_usd")
    rerun = runner.score(ROWS, output_usd_per_mtok=400)
    assert rerun.exit_code == 0, rerun.stderr
    figures = runner.figures()
    assert column_sum(runner.rows(), "cost_usd") == pytest.approx(paid, rel=1e-9)
    assert figures["spent_usd"] + figures["saved_by_cache_usd"] == pytest.approx(paid, abs=2e-6)
    assert figures["cache_hits"] == ROWS
