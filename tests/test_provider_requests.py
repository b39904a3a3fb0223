"""Every provider preset end to end: a judge naming only its model, aimed at the fake by the
preset's base-URL variable, and the exact request the fake receives (path, query, auth
header, body keys); Bedrock's stop reasons and usage; URLs joined as URLs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from judgekit.testing.fake_bedrock import GUARDRAIL_TEXT

if TYPE_CHECKING:
    from conftest import Workspace

KEY = "sk-preset-SECRET-5150"
JUDGE = """
[[judges]]
name = "j"
{where}
template = "correctness"
threshold = 0.5
[judges.columns]
input = "question"
output = "answer"
expected = "reference"
"""
CHAT_KEYS = ["model", "messages", "temperature", "max_tokens", "response_format"]


@dataclass(frozen=True)
class Case:
    """A judge's ``model``, the variables that aim its preset at the fake, and what the
    fake must receive."""

    model: str
    base_env: str
    base_path: str
    """Appended to the fake's URL to make the base URL."""
    key_env: str | None
    path: str
    auth: tuple[str, str] | None
    """(header, value) carrying the key; None: no key header at all."""
    body_keys: list[str]
    body_model: str | None
    query: str = ""
    extra_env: tuple[tuple[str, str], ...] = ()


CASES = {
    "openai": Case(
        "gpt-4o-mini", "OPENAI_BASE_URL", "/v1", "OPENAI_API_KEY",
        "/v1/chat/completions", ("authorization", f"Bearer {KEY}"), CHAT_KEYS, "gpt-4o-mini",
    ),
    "anthropic": Case(
        "claude-haiku-4-5", "ANTHROPIC_BASE_URL", "", "ANTHROPIC_API_KEY",
        "/v1/messages", ("x-api-key", KEY),
        ["model", "system", "messages", "max_tokens", "temperature", "tools", "tool_choice"],
        "claude-haiku-4-5",
    ),
    "gemini": Case(
        "gemini-2.5-flash", "GEMINI_BASE_URL", "/v1beta/openai", "GEMINI_API_KEY",
        "/v1beta/openai/chat/completions", ("authorization", f"Bearer {KEY}"), CHAT_KEYS,
        "gemini-2.5-flash",
    ),
    "azure": Case(
        "azure/judge-gpt4o", "AZURE_OPENAI_ENDPOINT", "", "AZURE_OPENAI_API_KEY",
        "/openai/deployments/judge-gpt4o/chat/completions", ("api-key", KEY), CHAT_KEYS,
        "judge-gpt4o", query="api-version=2024-10-21",
    ),
    "azure-version": Case(
        "azure/judge-gpt4o", "AZURE_OPENAI_ENDPOINT", "", "AZURE_OPENAI_API_KEY",
        "/openai/deployments/judge-gpt4o/chat/completions", ("api-key", KEY), CHAT_KEYS,
        "judge-gpt4o", query="api-version=2025-04-01-preview",
        extra_env=(("AZURE_OPENAI_API_VERSION", "2025-04-01-preview"),),
    ),
    "bedrock": Case(
        "anthropic.claude-haiku-4-5-20251001-v1:0", "BEDROCK_BASE_URL", "",
        "AWS_BEARER_TOKEN_BEDROCK", "/model/anthropic.claude-haiku-4-5-20251001-v1:0/converse",
        ("authorization", f"Bearer {KEY}"),
        ["system", "messages", "inferenceConfig", "outputConfig"], None,
    ),
    "together": Case(
        "together/meta-llama/Llama-3.3-70B-Instruct-Turbo", "TOGETHER_BASE_URL", "/v1",
        "TOGETHER_API_KEY", "/v1/chat/completions", ("authorization", f"Bearer {KEY}"),
        CHAT_KEYS, "meta-llama/Llama-3.3-70B-Instruct-Turbo",
    ),
    "mistral": Case(
        "mistral-small-latest", "MISTRAL_BASE_URL", "/v1", "MISTRAL_API_KEY",
        "/v1/chat/completions", ("authorization", f"Bearer {KEY}"), CHAT_KEYS,
        "mistral-small-latest",
    ),
    "groq": Case(
        "groq/llama-3.3-70b-versatile", "GROQ_BASE_URL", "/openai/v1", "GROQ_API_KEY",
        "/openai/v1/chat/completions", ("authorization", f"Bearer {KEY}"), CHAT_KEYS,
        "llama-3.3-70b-versatile",
    ),
    "deepseek": Case(
        "deepseek-chat", "DEEPSEEK_BASE_URL", "/v1", "DEEPSEEK_API_KEY",
        "/v1/chat/completions", ("authorization", f"Bearer {KEY}"), CHAT_KEYS, "deepseek-chat",
    ),
    "openrouter": Case(
        "openrouter/openai/gpt-4o-mini", "OPENROUTER_BASE_URL", "/api/v1", "OPENROUTER_API_KEY",
        "/api/v1/chat/completions", ("authorization", f"Bearer {KEY}"), CHAT_KEYS,
        "openai/gpt-4o-mini",
    ),
    "xai": Case(
        "grok-4", "XAI_BASE_URL", "/v1", "XAI_API_KEY",
        "/v1/chat/completions", ("authorization", f"Bearer {KEY}"), CHAT_KEYS, "grok-4",
    ),
    "vllm": Case(
        "vllm/Qwen/Qwen2.5-7B-Instruct", "VLLM_BASE_URL", "/v1", None,
        "/v1/chat/completions", None, CHAT_KEYS, "Qwen/Qwen2.5-7B-Instruct",
    ),
    "ollama": Case(
        "ollama/llama3.1", "OLLAMA_BASE_URL", "/v1", None,
        "/v1/chat/completions", None, CHAT_KEYS, "llama3.1",
    ),
}  # fmt: skip


def judge(model: str) -> str:
    """A judge naming only its model."""
    return JUDGE.format(where=f'model = "{model}"')


@pytest.mark.parametrize("case", CASES.values(), ids=CASES)
def test_a_model_alone_sends_its_providers_request(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, case: Case
) -> None:
    ws = workspace
    monkeypatch.setenv(case.base_env, ws.fake.url + case.base_path)
    for name, value in case.extra_env:
        monkeypatch.setenv(name, value)
    if case.key_env is not None:
        monkeypatch.setenv(case.key_env, KEY)
        ws.fake.settings.api_key = KEY  # any other key (or none) gets 401/403
    data = ws.write_rows(ws.qa_rows(2))
    output = ws.root / "out.parquet"
    result = ws.score(data, ws.write_config(judges=judge(case.model)), output)
    assert result.exit_code == 0, result.stderr
    requests = ws.fake.requests
    assert [(r.path, r.query) for r in requests] == [(case.path, case.query)] * 2
    for request in requests:
        key_headers = {"authorization", "x-api-key", "api-key"} & set(request.headers)
        if case.auth is None:
            assert key_headers == set()
        else:
            assert key_headers == {case.auth[0]}
            assert request.headers[case.auth[0]] == case.auth[1]
        assert list(request.body) == case.body_keys
        assert request.body.get("model") == case.body_model
    rows = ws.read_rows(output)
    assert [r["j_error"] for r in rows] == [None, None]
    assert rows[0]["j_score"] == 1.0 and rows[1]["j_score"] < 0.5
    served = case.body_model or case.model
    assert {r["j_model"] for r in rows} == {served}


def test_bedrock_reply_maps_usage_model_and_request_id(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = workspace
    case = CASES["bedrock"]
    monkeypatch.setenv(case.base_env, ws.fake.url)
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", KEY)
    output = ws.root / "out.parquet"
    config = ws.write_config(judges=judge(case.model))
    assert ws.score(ws.write_rows(ws.qa_rows(2)), config, output).exit_code == 0
    rows = ws.read_rows(output)
    stats = ws.fake.stats()
    assert sum(r["j_input_tokens"] for r in rows) == stats.input_tokens > 0
    assert sum(r["j_output_tokens"] for r in rows) == stats.output_tokens > 0
    assert all(len(r["j_response_id"]) == 36 for r in rows)  # x-amzn-RequestId, a UUID
    assert {r["j_cost_usd"] for r in rows} == {None}  # Bedrock has no built-in price
    schema_text = ws.fake.requests[0].body["outputConfig"]["textFormat"]["structure"]
    assert json.loads(schema_text["jsonSchema"]["schema"])["required"] == [
        "reasoning",
        "criteria",  # correctness declares its dimensions
        "score",
        "confidence",
    ]


STOP_CASES = [
    ("guardrail_intervened", "the model refused: a guardrail intervened"),
    ("content_filtered", "the model refused: the content was filtered"),
    ("malformed_model_output", "no answer (stopReason=malformed_model_output)"),
    ("model_context_window_exceeded", "no answer (stopReason=model_context_window_exceeded)"),
]


@pytest.mark.parametrize(("stop", "reason"), STOP_CASES, ids=[s for s, _ in STOP_CASES])
def test_bedrock_stop_reasons_that_hold_no_verdict(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, stop: str, reason: str
) -> None:
    ws = workspace
    monkeypatch.setenv("BEDROCK_BASE_URL", ws.fake.url)
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", KEY)
    ws.fake.settings.bedrock_stop_reason = stop
    connection = '[connections.bedrock]\nprovider = "bedrock"\nmax_retries = 3\n'
    config = ws.write_config(connection=connection, judges=judge("bedrock/amazon.nova-lite-v1:0"))
    output = ws.root / "out.parquet"
    result = ws.score(ws.write_rows(ws.qa_rows(1)), config, output, "--max-error-rate", "1")
    assert result.exit_code == 0, result.stderr
    [row] = ws.read_rows(output)
    assert row["j_error"] == "malformed_response"
    assert reason in row["j_reasoning"]
    assert GUARDRAIL_TEXT not in row["j_reasoning"]
    # Billed and it would come back the same: one request, never retried unchanged.
    assert len(ws.fake.requests) == 1


def test_bedrock_max_tokens_is_asked_again_once_with_twice_the_cap(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = workspace
    monkeypatch.setenv("BEDROCK_BASE_URL", ws.fake.url)
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", KEY)
    ws.fake.settings.bedrock_stop_reason = "max_tokens"
    connection = (
        '[connections.bedrock]\nprovider = "bedrock"\nmax_retries = 0\noutput_mode = "prompt"\n'
    )
    config = ws.write_config(connection=connection, judges=judge("bedrock/amazon.nova-lite-v1:0"))
    output = ws.root / "out.parquet"
    result = ws.score(ws.write_rows(ws.qa_rows(1)), config, output, "--max-error-rate", "1")
    assert result.exit_code == 0, result.stderr
    [row] = ws.read_rows(output)
    # Cut off at the cap: one re-ask with the cap doubled (as for the other protocols),
    # cut off again, and the row names the cause and the fix.
    assert (row["j_score"], row["j_error"]) == (None, "malformed_response")
    caps = [r.body["inferenceConfig"]["maxTokens"] for r in ws.fake.requests]
    assert caps == [512, 1024]
    assert row["j_reasoning"] == (
        "cut off at max_output_tokens = 1024 (asked again with twice the configured 512); "
        "raise max_output_tokens"
    )


def test_bedrock_rejects_structured_output_down_the_ladder(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = workspace
    monkeypatch.setenv("BEDROCK_BASE_URL", ws.fake.url)
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", KEY)
    ws.fake.settings.reject_structured_output = True
    config = ws.write_config(
        run="concurrency = 1", judges=judge("bedrock/meta.llama3-70b-instruct-v1:0")
    )
    output = ws.root / "out.parquet"
    assert ws.score(ws.write_rows(ws.qa_rows(2)), config, output).exit_code == 0
    sent = [
        sorted(set(r.body) - {"system", "messages", "inferenceConfig"}) for r in ws.fake.requests
    ]
    assert sent[:3] == [["outputConfig"], ["toolConfig"], []]
    assert ws.fake.stats().by_status == {400: 2, 200: 2}


def test_a_bad_bedrock_key_stops_the_run(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = workspace
    monkeypatch.setenv("BEDROCK_BASE_URL", ws.fake.url)
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "not-the-key")
    ws.fake.settings.api_key = KEY
    config = ws.write_config(judges=judge(CASES["bedrock"].model))
    output = ws.root / "out.parquet"
    result = ws.score(ws.write_rows(ws.qa_rows(2)), config, output)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] + "\n" == (
        "error: connection 'bedrock': the provider refused the credentials (HTTP 403 Forbidden: "
        "Authentication failed: Please make sure your API Key is valid.); "
        "check AWS_BEARER_TOKEN_BEDROCK\n"
    )
    assert not output.exists()


MODEL_ERRORS = [
    (
        "llama-3.3-70b-versatile",
        "is served by several providers; prefix it with one of groq/, together/, openrouter/, "
        "vllm/, ollama/ (e.g. groq/llama-3.3-70b-versatile), or set 'connection'",
    ),
    ("mystery-judge-7", "cannot tell which provider serves model 'mystery-judge-7'; prefix it"),
]


@pytest.mark.parametrize(("model", "message"), MODEL_ERRORS, ids=[m for m, _ in MODEL_ERRORS])
@pytest.mark.parametrize("command", ["validate", "score"])
def test_a_model_name_without_a_provider_is_a_usage_error(
    workspace: Workspace, model: str, message: str, command: str
) -> None:
    ws = workspace
    config = ws.write_config(judges=judge(model))
    data = ws.write_rows(ws.qa_rows(1))
    if command == "validate":
        result = ws.invoke("validate", "-c", str(config), str(data))
    else:
        result = ws.score(data, config, ws.root / "out.parquet")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.startswith(f"error: {config}: judges[0].model: ")
    assert message in result.stderr
    assert result.stderr.count("\n") == 1
    assert ws.fake.stats().requests == 0


def test_gemini_prices_come_from_the_table(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = workspace
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    result = ws.invoke("validate", "-c", str(ws.write_config(judges=judge("gemini-2.5-flash"))))
    assert result.exit_code == 0, result.stderr
    [row] = [r for r in ws.table(result.stdout) if r[0] == "j"]
    assert row[2:5] == [
        "gemini (chat_completions)",
        "gemini-2.5-flash",
        "0.3 / 2.5 (Google Gemini API list price, 2026-11-01)",
    ]


def test_reasoning_left_out_of_completion_tokens_is_still_counted(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Gemini's OpenAI-compatible endpoint: ``total_tokens`` holds thinking tokens that
    ``completion_tokens`` does not; they are billed, so they land on the row."""
    ws = workspace
    monkeypatch.setenv("GEMINI_BASE_URL", ws.fake.url + "/v1beta/openai")
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    ws.fake.settings.reasoning_tokens = 300
    ws.fake.settings.hidden_reasoning_usage = True
    output = ws.root / "out.parquet"
    config = ws.write_config(judges=judge("gemini-2.5-flash"))
    assert ws.score(ws.write_rows(ws.qa_rows(2)), config, output).exit_code == 0
    rows = ws.read_rows(output)
    assert sum(r["j_output_tokens"] for r in rows) == ws.fake.stats().output_tokens
    for row in rows:
        assert row["j_output_tokens"] > 300
        expected = (row["j_input_tokens"] * 0.30 + row["j_output_tokens"] * 2.50) / 1e6
        assert row["j_cost_usd"] == pytest.approx(expected)


# -- URLs are joined as URLs ----------------------------------------------------------------

URL_CASES = [
    ("chat_completions", "/openai/deployments/judge?api-version=2024-10-21",
     "/openai/deployments/judge/chat/completions", "api-version=2024-10-21"),
    ("chat_completions", "/openai/deployments/judge/?api-version=2024-10-21",
     "/openai/deployments/judge/chat/completions", "api-version=2024-10-21"),
    ("responses", "/openai/deployments/judge?api-version=2024-10-21",
     "/openai/deployments/judge/responses", "api-version=2024-10-21"),
    ("responses", "/openai/deployments/judge/?api-version=2024-10-21",
     "/openai/deployments/judge/responses", "api-version=2024-10-21"),
    ("anthropic", "?beta=true", "/v1/messages", "beta=true"),
    ("anthropic", "/?beta=true", "/v1/messages", "beta=true"),
    ("anthropic", "/v1?beta=true", "/v1/messages", "beta=true"),
    ("anthropic", "/v1/?beta=true", "/v1/messages", "beta=true"),
    ("bedrock_converse", "/?x=1", "/model/fake-judge/converse", "x=1"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("protocol", "base", "path", "query"), URL_CASES, ids=[f"{c[0]} {c[1]}" for c in URL_CASES]
)
def test_endpoint_urls_are_joined_as_urls(
    workspace: Workspace, protocol: str, base: str, path: str, query: str
) -> None:
    ws = workspace
    connection = (
        f'[connections.joined]\nprotocol = "{protocol}"\nbase_url = "{ws.fake.url}{base}"\n'
        f'model = "fake-judge"\napi_key_env = "{ws.key_env}"\n'
    )
    config = ws.write_config(
        connection=connection, judges=JUDGE.format(where='connection = "joined"')
    )
    output = ws.root / "out.parquet"
    result = ws.score(ws.write_rows(ws.qa_rows(2)), config, output)
    assert result.exit_code == 0, result.stderr
    assert [(r.path, r.query) for r in ws.fake.requests] == [(path, query)] * 2
