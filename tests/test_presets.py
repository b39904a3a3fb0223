"""presets: which provider a model name picks, what a preset fills in, and the errors that
say which prefix to use."""

from __future__ import annotations

import pytest

from judgekit.config import expand_env, parse_config
from judgekit.config_connections import ConnectionConfig, resolve_connection
from judgekit.errors import ConfigError
from judgekit.presets import PRESETS, default_base_url, prefixes, provider_for_model, split_prefix

NAME_CASES = [
    ("gpt-4o-mini", "openai"),
    ("gpt-5.4-nano", "openai"),
    ("o4-mini", "openai"),
    ("o3", "openai"),
    ("claude-haiku-4-5", "anthropic"),
    ("claude-sonnet-4-5-20250929", "anthropic"),
    ("gemini-2.5-flash", "gemini"),
    ("mistral-small-latest", "mistral"),
    ("magistral-medium-latest", "mistral"),
    ("deepseek-chat", "deepseek"),
    ("deepseek-reasoner", "deepseek"),
    ("grok-4", "xai"),
    ("anthropic.claude-haiku-4-5-20251001-v1:0", "bedrock"),
    ("us.anthropic.claude-3-5-haiku-20241022-v1:0", "bedrock"),
    ("amazon.nova-lite-v1:0", "bedrock"),
    ("arn:aws:bedrock:us-east-1:123456789012:inference-profile/x", "bedrock"),
]


@pytest.mark.parametrize(("model", "provider"), NAME_CASES, ids=[m for m, _ in NAME_CASES])
def test_a_bare_name_picks_its_provider(model: str, provider: str) -> None:
    assert provider_for_model(model) == provider


ALL_PREFIXES = (
    "openai/, anthropic/, gemini/, azure/, bedrock/, together/, mistral/, groq/, deepseek/, "
    "openrouter/, xai/, vllm/, ollama/"
)
HOSTS = "groq/, together/, openrouter/, vllm/, ollama/"
ERROR_CASES = [
    (
        "llama-3.3-70b-versatile",
        "model 'llama-3.3-70b-versatile' is served by several providers; prefix it with one of "
        f"{HOSTS} (e.g. groq/llama-3.3-70b-versatile), or set 'connection'",
    ),
    (
        "gpt-oss-120b",
        "model 'gpt-oss-120b' is served by several providers; prefix it with one of "
        f"{HOSTS} (e.g. groq/gpt-oss-120b), or set 'connection'",
    ),
    (
        "mystery-judge-7",
        "cannot tell which provider serves model 'mystery-judge-7'; prefix it with one of "
        f"{ALL_PREFIXES}, or set 'connection'",
    ),
    (
        "meta-llama/Llama-3.3-70B-Instruct-Turbo",
        "unknown provider prefix 'meta-llama' in model 'meta-llama/Llama-3.3-70B-Instruct-Turbo'"
        f"; use one of {ALL_PREFIXES}, or set 'connection'",
    ),
]


@pytest.mark.parametrize(("model", "message"), ERROR_CASES, ids=[m for m, _ in ERROR_CASES])
def test_an_ambiguous_or_unknown_name_lists_the_prefixes(model: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        provider_for_model(model)
    assert str(info.value) == message
    assert prefixes() == ALL_PREFIXES


PREFIX_CASES = [
    ("anthropic/claude-haiku-4-5", ("anthropic", "claude-haiku-4-5")),
    ("openrouter/openai/gpt-4o-mini", ("openrouter", "openai/gpt-4o-mini")),
    (
        "together/meta-llama/Llama-3.3-70B-Instruct-Turbo",
        ("together", "meta-llama/Llama-3.3-70B-Instruct-Turbo"),
    ),
    ("openai:/gpt-4o", ("openai", "gpt-4o")),
    ("meta-llama/Llama-3", None),
    ("gpt-4o", None),
]


@pytest.mark.parametrize(("model", "split"), PREFIX_CASES, ids=[m for m, _ in PREFIX_CASES])
def test_a_known_prefix_is_split_off_once(model: str, split: tuple[str, str] | None) -> None:
    assert split_prefix(model) == split


def test_every_preset_makes_a_valid_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://res.example")
    for name in PRESETS:
        conn = ConnectionConfig(provider=name)  # type: ignore[call-arg]
        assert conn.provider == name
        assert expand_env(conn.base_url, name).startswith(("https://", "http://localhost"))


def test_a_preset_fills_what_the_table_leaves_out() -> None:
    cfg = parse_config(
        {
            "connections": {"g": {"provider": "groq", "model": "llama-3.3-70b-versatile"}},
            "judges": [{"name": "j", "connection": "g", "template": "correctness"}],
        },
        "x.toml",
    )
    conn = cfg.connections["g"]
    assert (conn.protocol, conn.base_url, conn.api_key_env) == (
        "chat_completions",
        default_base_url("groq"),
        "GROQ_API_KEY",
    )


def test_a_table_key_wins_over_the_preset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROQ_BASE_URL", "http://127.0.0.1:9/openai/v1")
    cfg = parse_config(
        {
            "connections": {"g": {"provider": "groq", "api_key_env": "MY_GROQ_KEY"}},
            "judges": [{"name": "j", "connection": "g", "model": "x", "template": "correctness"}],
        },
        "x.toml",
    )
    conn = cfg.connections["g"]
    assert (conn.base_url, conn.api_key_env) == ("http://127.0.0.1:9/openai/v1", "MY_GROQ_KEY")


def test_an_unknown_provider_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(
            {
                "connections": {"g": {"provider": "acme"}},
                "judges": [{"name": "j", "type": "exact"}],
            },
            "x.toml",
        )
    assert str(info.value) == (
        "x.toml: connections.g: unknown provider 'acme' (providers: openai, anthropic, gemini, "
        "azure, bedrock, together, mistral, groq, deepseek, openrouter, xai, vllm, ollama)"
    )


EXPAND_CASES = [
    ("${A}/v1", {"A": "http://a"}, "http://a/v1"),
    ("${A:-http://d}/v1", {}, "http://d/v1"),
    ("${A:-http://d}/v1", {"A": ""}, "http://d/v1"),
    ("${A:-http://d}/v1", {"A": "http://a"}, "http://a/v1"),
    ("${A:-https://x.${B:-us-east-1}.aws}", {}, "https://x.us-east-1.aws"),
    ("${A:-https://x.${B:-us-east-1}.aws}", {"B": "eu-west-1"}, "https://x.eu-west-1.aws"),
    ("${A:-https://x.${B:-us-east-1}.aws}", {"A": "http://t", "B": "z"}, "http://t"),
    ("https://h/{model}?v=1", {}, "https://h/{model}?v=1"),
    ("$A and ${not closed", {}, "$A and ${not closed"),
]


@pytest.mark.parametrize(("text", "env", "expanded"), EXPAND_CASES)
def test_expand_env_with_defaults(
    monkeypatch: pytest.MonkeyPatch, text: str, env: dict[str, str], expanded: str
) -> None:
    for name in ("A", "B"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert expand_env(text, "w") == expanded


def test_a_bare_name_resolves_to_the_preset_with_its_base_url_override(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:7")
    cfg = parse_config(
        {"judges": [{"name": "j", "model": "claude-haiku-4-5", "template": "correctness"}]},
        "x.toml",
    )
    name, conn, model = resolve_connection(cfg, cfg.judges[0])
    assert (name, conn.protocol, conn.base_url, model) == (
        "anthropic",
        "anthropic",
        "http://127.0.0.1:7",
        "claude-haiku-4-5",
    )


def test_azure_needs_its_endpoint_variable() -> None:
    cfg = parse_config(
        {"judges": [{"name": "j", "model": "azure/judge", "template": "correctness"}]}, "x.toml"
    )
    with pytest.raises(ConfigError) as info:
        resolve_connection(cfg, cfg.judges[0], "x.toml: judges[0].model")
    assert str(info.value) == (
        "x.toml: judges[0].model: provider 'azure' base_url: environment variable "
        "AZURE_OPENAI_ENDPOINT is not set (export AZURE_OPENAI_ENDPOINT=... before running, "
        "or write ${AZURE_OPENAI_ENDPOINT:-default})"
    )


def test_a_judge_without_connection_or_model_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"judges": [{"name": "j", "template": "correctness"}]}, "x.toml")
    assert str(info.value) == (
        "x.toml: judges[0]: an llm judge needs 'connection' or 'model' "
        '(e.g. model = "gpt-4o-mini" or "anthropic/claude-haiku-4-5")'
    )


@pytest.mark.parametrize(("region", "host"), [(None, "us-east-1"), ("eu-west-1", "eu-west-1")])
def test_bedrock_puts_the_region_in_the_url(
    monkeypatch: pytest.MonkeyPatch, region: str | None, host: str
) -> None:
    if region is not None:
        monkeypatch.setenv("AWS_REGION", region)
    cfg = parse_config(
        {"judges": [{"name": "j", "model": "amazon.nova-lite-v1:0", "template": "correctness"}]},
        "x.toml",
    )
    name, conn, model = resolve_connection(cfg, cfg.judges[0])
    assert (name, conn.protocol, conn.api_key_env, model) == (
        "bedrock",
        "bedrock_converse",
        "AWS_BEARER_TOKEN_BEDROCK",
        "amazon.nova-lite-v1:0",
    )
    assert conn.base_url == f"https://bedrock-runtime.{host}.amazonaws.com"


def test_an_azure_table_needs_the_endpoint_variable_when_used() -> None:
    cfg = parse_config(
        {
            "connections": {"az": {"provider": "azure"}},
            "judges": [{"name": "j", "connection": "az", "model": "d", "template": "correctness"}],
        },
        "x.toml",
    )
    with pytest.raises(ConfigError) as info:
        resolve_connection(cfg, cfg.judges[0])
    assert str(info.value) == (
        "x.toml: connections.az.base_url: environment variable AZURE_OPENAI_ENDPOINT is not set"
        " (export AZURE_OPENAI_ENDPOINT=... before running, or write"
        " ${AZURE_OPENAI_ENDPOINT:-default})"
    )
