"""What each protocol puts on the wire, and how the fallback ladder changes it: a server that
rejects structured output, ``temperature`` or ``max_tokens`` costs one 400 per step and one
notice per step, and the rest of the run goes straight to what works."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_protocols_e2e import (
    KEY,
    KEY_ENV,
    PATHS,
    PROTOCOLS,
    REPO,
    TABLE_PRICES,
    Bench,
    fake_scores,
    usd,
)

from judgekit.testing.fake_provider import FakeProvider
from judgekit.testing.fake_settings import FakeRequest


@pytest.fixture
def bench(fake: FakeProvider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Bench:
    """A bench whose connections' key is set; wide columns so rich never wraps."""
    monkeypatch.setenv(KEY_ENV, KEY)
    monkeypatch.setenv("COLUMNS", "250")
    return Bench(tmp_path, fake)


# -- what each protocol puts on the wire ------------------------------------------------------


def asked(body: dict[str, Any], protocol: str) -> tuple[Any, str]:
    """(the verdict schema, the user prompt) of a request body in json_schema mode."""
    if protocol == "chat_completions":
        fmt = body["response_format"]
        assert (fmt["type"], fmt["json_schema"]["name"]) == ("json_schema", "verdict")
        assert fmt["json_schema"]["strict"] is True
        return fmt["json_schema"]["schema"], body["messages"][-1]["content"]
    if protocol == "responses":
        fmt = body["text"]["format"]
        assert (fmt["type"], fmt["name"], fmt["strict"]) == ("json_schema", "verdict", True)
        return fmt["schema"], body["input"]
    assert body["tool_choice"] == {"type": "tool", "name": "verdict"}
    [tool] = body["tools"]
    assert tool["name"] == "verdict"
    return tool["input_schema"], body["messages"][-1]["content"]


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=PROTOCOLS)
def test_requests_carry_the_key_in_a_header_only_and_ask_for_the_verdict_schema(
    bench: Bench, protocol: str
) -> None:
    bench.fake.settings.api_key = KEY  # any other key, or none, gets a 401
    config = bench.protocol_config(protocol, extra="max_output_tokens = 300")
    result = bench.score(config, bench.dataset(3), "-v")
    assert result.exit_code == 0, result.stderr
    requests = bench.fake.requests
    assert [r.path for r in requests] == [PATHS[protocol]] * 3
    schemas = []
    for request in requests:
        headers, body = request.headers, request.body
        assert KEY not in json.dumps(body)
        assert (body["model"], body["temperature"]) == (TABLE_PRICES[protocol][0], 0.0)
        schemas.append(asked(body, protocol)[0])
        if protocol == "anthropic":
            assert (headers["x-api-key"], headers["anthropic-version"]) == (KEY, "2023-06-01")
            assert "authorization" not in headers
            assert body["max_tokens"] == 300
            assert body["system"] and [m["role"] for m in body["messages"]] == ["user"]
        else:
            assert headers["authorization"] == f"Bearer {KEY}"
            assert "x-api-key" not in headers
        if protocol == "chat_completions":
            assert body["max_tokens"] == 300
            assert [m["role"] for m in body["messages"]] == ["system", "user"]
        if protocol == "responses":
            assert (body["max_output_tokens"], body["store"]) == (300, False)
            assert body["instructions"] and isinstance(body["input"], str)
    schema = schemas[0]
    assert schemas == [schema] * 3
    assert schema["required"] == ["reasoning", "criteria", "score", "confidence"]
    dimensions = ["main_answer", "completeness", "precision"]
    assert schema["properties"]["criteria"]["required"] == dimensions
    score = schema["properties"]["score"]
    assert (score["type"], score["minimum"], score["maximum"]) == ("number", 0, 1)
    assert schema["additionalProperties"] is False
    assert KEY not in result.stdout + result.stderr
    for path in (bench.output, bench.root / "c.sqlite3", bench.summary):
        assert KEY.encode() not in path.read_bytes()


def test_the_three_protocols_example_asks_and_answers_the_same_three_ways(
    bench: Bench, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUDGEKIT_FAKE_URL", bench.fake.url)
    monkeypatch.setenv("FAKE_API_KEY", KEY)
    config = REPO / "configs" / "three_protocols.example.toml"
    result = bench.score(config, REPO / "datasets" / "demo.jsonl", "--limit", "6")
    assert result.exit_code == 0, result.stderr
    assert bench.fake.stats().by_path == {path: 6 for path in PATHS.values()}
    for row in bench.rows():
        verdicts = {
            (row[f"correctness_{p}_score"], row[f"correctness_{p}_passed"])
            for p in ("chat", "responses", "anthropic")
        }
        assert len(verdicts) == 1 and None not in verdicts.pop()
    figures = bench.figures()
    assert 0 < figures["spent_usd"] <= figures["budget_usd"] == 1.0
    protocol_of = {path: protocol for protocol, path in PATHS.items()}
    seen: dict[str, set[str]] = {protocol: set() for protocol in PROTOCOLS}
    for request in bench.fake.requests:
        protocol = protocol_of[request.path]
        seen[protocol].add(json.dumps(asked(request.body, protocol), sort_keys=True))
    assert len(seen["chat_completions"]) == 6
    assert seen["chat_completions"] == seen["responses"] == seen["anthropic"]


# -- the fallback ladder ---------------------------------------------------------------------

CONNECTION = "picky"
NOTICE = f"judgekit: connection '{CONNECTION}': "
SCHEMA_TO_OBJECT = NOTICE + (
    "the server rejected output mode json_schema; using json_object for the rest of the run"
)
OBJECT_TO_PROMPT = NOTICE + (
    "the server rejected output mode json_object; using prompt for the rest of the run"
)
SCHEMA_TO_PROMPT = NOTICE + (
    "the server rejected output mode json_schema; using prompt for the rest of the run"
)
NO_TEMPERATURE = NOTICE + "the model rejects 'temperature'; sending none for the rest of the run"
COMPLETION_TOKENS = NOTICE + (
    "the server wants 'max_completion_tokens'; using it for the rest of the run"
)
STRUCTURED_STEPS = {
    "chat_completions": [SCHEMA_TO_OBJECT, OBJECT_TO_PROMPT],
    "responses": [SCHEMA_TO_OBJECT, OBJECT_TO_PROMPT],
    "anthropic": [SCHEMA_TO_PROMPT],
}
"""Anthropic has no JSON mode: its ladder is json_schema -> prompt."""
STRUCTURED_MODES = {
    "chat_completions": ["json_schema", "json_object"],
    "responses": ["json_schema", "json_object"],
    "anthropic": ["json_schema"],
}
"""The modes a server that rejects structured output sees, in order, before ``prompt``."""


def mode(request: FakeRequest) -> str:
    """The output mode a recorded request asked for."""
    body: dict[str, Any] = request.body
    if "tool_choice" in body:
        return "json_schema"
    fmt = body.get("response_format") or body.get("text", {}).get("format")
    return str(fmt["type"]) if fmt else "prompt"


def notices(stderr: str) -> list[str]:
    """The engine's notice lines."""
    return [line for line in stderr.splitlines() if line.startswith("judgekit: ")]


def run_picky(bench: Bench, protocol: str, rows: int, *, concurrency: int = 1) -> list[str]:
    """Score ``rows`` rows on a connection called ``picky``; the notices it printed."""
    config = bench.protocol_config(protocol, run=f"concurrency = {concurrency}", name=CONNECTION)
    result = bench.score(config, bench.dataset(rows))
    assert result.exit_code == 0, result.stderr
    scored = bench.rows()
    assert [r["correct_score"] for r in scored] == fake_scores(rows)
    _, input_price, output_price = TABLE_PRICES[protocol]
    for row in scored:
        assert row["correct_error"] is None
        assert row["correct_cost_usd"] == pytest.approx(usd(row, input_price, output_price))
    return notices(result.stderr)


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=PROTOCOLS)
def test_rejected_structured_output_walks_down_the_ladder_once(bench: Bench, protocol: str) -> None:
    bench.fake.settings.reject_structured_output = True
    assert run_picky(bench, protocol, 6) == STRUCTURED_STEPS[protocol]
    steps = len(STRUCTURED_STEPS[protocol])
    assert bench.fake.stats().by_status == {400: steps, 200: 6}
    assert [mode(r) for r in bench.fake.requests] == STRUCTURED_MODES[protocol] + ["prompt"] * 6


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=PROTOCOLS)
def test_a_rejected_temperature_is_dropped_for_the_rest_of_the_run(
    bench: Bench, protocol: str
) -> None:
    bench.fake.settings.reject_temperature = True
    assert run_picky(bench, protocol, 5) == [NO_TEMPERATURE]
    assert bench.fake.stats().by_status == {400: 1, 200: 5}
    sent = ["temperature" in r.body for r in bench.fake.requests]
    assert sent == [True] + [False] * 5
    assert {mode(r) for r in bench.fake.requests} == {"json_schema"}


def test_a_rejected_max_tokens_becomes_max_completion_tokens(bench: Bench) -> None:
    bench.fake.settings.reject_max_tokens = True
    assert run_picky(bench, "chat_completions", 5) == [COMPLETION_TOKENS]
    assert bench.fake.stats().by_status == {400: 1, 200: 5}
    bodies = [r.body for r in bench.fake.requests]
    assert bodies[0]["max_tokens"] == 512 and "max_completion_tokens" not in bodies[0]
    for body in bodies[1:]:
        assert body["max_completion_tokens"] == 512 and "max_tokens" not in body


EVERYTHING = {
    "chat_completions": [SCHEMA_TO_OBJECT, OBJECT_TO_PROMPT, NO_TEMPERATURE, COMPLETION_TOKENS],
    "responses": [SCHEMA_TO_OBJECT, OBJECT_TO_PROMPT, NO_TEMPERATURE],
    "anthropic": [SCHEMA_TO_PROMPT, NO_TEMPERATURE],
}
"""Every step of a server that rejects all three, in the order the fake checks them."""


def reject_everything(fake: FakeProvider) -> None:
    """Structured output, temperature and (chat) max_tokens all get a 400."""
    fake.settings.reject_structured_output = True
    fake.settings.reject_temperature = True
    fake.settings.reject_max_tokens = True


def plain(body: dict[str, Any], protocol: str) -> bool:
    """Whether a body asks in prompt mode, without temperature, with the accepted token cap."""
    token_key = {"chat_completions": "max_completion_tokens", "responses": "max_output_tokens"}
    cap = body.get(token_key.get(protocol, "max_tokens"))
    structured = {"response_format", "text", "tools", "tool_choice"} & set(body)
    return not structured and "temperature" not in body and cap == 512


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=PROTOCOLS)
def test_every_rejection_at_once_costs_one_400_per_step(bench: Bench, protocol: str) -> None:
    reject_everything(bench.fake)
    assert run_picky(bench, protocol, 6) == EVERYTHING[protocol]
    steps = len(EVERYTHING[protocol])
    assert bench.fake.stats().by_status == {400: steps, 200: 6}
    requests = bench.fake.requests
    assert all(PATHS[protocol] == r.path for r in requests)
    assert [plain(r.body, protocol) for r in requests] == [False] * steps + [True] * 6


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=PROTOCOLS)
def test_concurrent_rows_learn_each_step_once(bench: Bench, protocol: str) -> None:
    reject_everything(bench.fake)
    concurrency, rows = 8, 12
    assert run_picky(bench, protocol, rows, concurrency=concurrency) == EVERYTHING[protocol]
    by_status = bench.fake.stats().by_status
    assert by_status[200] == rows
    # Only the rows already in flight before the first answer can meet a 400.
    assert len(EVERYTHING[protocol]) <= by_status[400] <= concurrency * len(EVERYTHING[protocol])


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=PROTOCOLS)
def test_a_rerun_after_the_ladder_makes_no_request(bench: Bench, protocol: str) -> None:
    reject_everything(bench.fake)
    run_picky(bench, protocol, 6)
    bench.fake.reset()
    reject_everything(bench.fake)
    # What the server rejects is kept in the cache: no probing again, no notice again.
    assert run_picky(bench, protocol, 6) == []
    assert bench.fake.stats().requests == 0
    assert (bench.figures()["cache_hits"], bench.figures()["spent_usd"]) == (6, 0)


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=PROTOCOLS)
def test_output_mode_prompt_never_asks_for_structured_output(bench: Bench, protocol: str) -> None:
    bench.fake.settings.reject_structured_output = True
    config = bench.protocol_config(protocol, extra='output_mode = "prompt"\n', name=CONNECTION)
    result = bench.score(config, bench.dataset(4))
    assert result.exit_code == 0, result.stderr
    assert notices(result.stderr) == []
    assert [mode(r) for r in bench.fake.requests] == ["prompt"] * 4
    assert [r["correct_error"] for r in bench.rows()] == [None] * 4


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=PROTOCOLS)
def test_a_genuine_bad_request_is_the_rows_error_and_not_retried(
    bench: Bench, protocol: str
) -> None:
    bench.fake.settings.status_400_rate = 0.5
    config = bench.protocol_config(protocol, run="concurrency = 1\nmax_error_rate = 1.0")
    result = bench.score(config, bench.dataset(4))
    assert result.exit_code == 0, result.stderr
    assert notices(result.stderr) == []
    assert [r["correct_error"] for r in bench.rows()] == [None, "bad_request"] * 2
    assert bench.fake.stats().by_status == {200: 2, 400: 2}
