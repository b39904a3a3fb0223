"""Provider presets, and which provider a bare model name belongs to.

A preset is the defaults of a connection to one provider: wire protocol, base URL,
the name of the key's environment variable, how the key is sent.  It serves three
ways:

- ``[connections.X] provider = "groq"`` fills every key the table leaves out;
- a judge's ``model = "groq/llama-3.3-70b-versatile"`` (``PREFIX/MODEL``; the old
  ``PREFIX:/MODEL`` still works) uses the preset as an implicit connection named
  after the prefix, unless the config has a ``[connections.groq]`` table;
- a bare ``model = "gpt-4o-mini"`` picks the preset from the name
  (``provider_for_model``); a name several providers serve, or none known, is a
  config error listing the prefixes.

Base URLs are ``${VAR:-default}`` templates, expanded like any base URL, so that
``OPENAI_BASE_URL`` (and kin) can aim a preset at a proxy or a test server.
Sources: each provider's API reference (OpenAI, Anthropic, Gemini's
OpenAI compatibility page, Azure OpenAI REST reference, Bedrock Converse API and API
keys pages, Together, Mistral, Groq, DeepSeek, OpenRouter, xAI, vLLM, Ollama).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from judgekit.config_errors import did_you_mean


@dataclass(frozen=True, slots=True)
class Preset:
    """One provider's connection defaults (``ConnectionConfig`` keys) and how to show it."""

    name: str
    defaults: Mapping[str, Any]
    """Keys of ``[connections.X]`` this preset fills when the table leaves them out."""
    example: str
    """A model id this provider serves, for the README and error messages."""
    base_url_env: str | None = None
    """The variable that overrides the default base URL."""
    notes: str = ""
    priced_by: str | None = "list"
    """Which built-in price table applies: ``list`` (first-party list prices, keyed by
    model name), None (no built-in prices: deployment names, or prices that vary)."""
    local: bool = False
    """A server on this machine (vLLM, Ollama): priced at 0."""


def _url(env: str, default: str) -> str:
    return "${" + env + ":-" + default + "}"


_AZURE_URL = (
    "${AZURE_OPENAI_ENDPOINT}/openai/deployments/{model}"
    "?api-version=${AZURE_OPENAI_API_VERSION:-2024-10-21}"
)
_BEDROCK_URL = _url(
    "BEDROCK_BASE_URL", "https://bedrock-runtime.${AWS_REGION:-us-east-1}.amazonaws.com"
)


def _openai_like(env: str, default: str, key_env: str, **more: Any) -> dict[str, Any]:
    return {
        "protocol": "chat_completions",
        "base_url": _url(env, default),
        "api_key_env": key_env,
        **more,
    }


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "openai",
            _openai_like("OPENAI_BASE_URL", "https://api.openai.com/v1", "OPENAI_API_KEY"),
            "gpt-4o-mini",
            "OPENAI_BASE_URL",
        ),
        Preset(
            "anthropic",
            {
                "protocol": "anthropic",
                "base_url": _url("ANTHROPIC_BASE_URL", "https://api.anthropic.com"),
                "api_key_env": "ANTHROPIC_API_KEY",
            },
            "claude-haiku-4-5",
            "ANTHROPIC_BASE_URL",
        ),
        Preset(
            "gemini",
            _openai_like(
                "GEMINI_BASE_URL",
                "https://generativelanguage.googleapis.com/v1beta/openai",
                "GEMINI_API_KEY",
            ),
            "gemini-2.5-flash",
            "GEMINI_BASE_URL",
            "Gemini's OpenAI-compatible endpoint; the key is sent as a bearer token",
        ),
        Preset(
            "azure",
            {
                "protocol": "chat_completions",
                "base_url": _AZURE_URL,
                "api_key_env": "AZURE_OPENAI_API_KEY",
                "api_key_header": "api-key",
            },
            "my-gpt-4o-deployment",
            "AZURE_OPENAI_ENDPOINT",
            "the model is the deployment name; AZURE_OPENAI_API_VERSION (2024-10-21)",
            priced_by=None,
        ),
        Preset(
            "bedrock",
            {
                "protocol": "bedrock_converse",
                "base_url": _BEDROCK_URL,
                "api_key_env": "AWS_BEARER_TOKEN_BEDROCK",
            },
            "anthropic.claude-haiku-4-5-20251001-v1:0",
            "BEDROCK_BASE_URL",
            "Converse API with a Bedrock API key; region from AWS_REGION (us-east-1)",
            priced_by=None,
        ),
        Preset(
            "together",
            _openai_like("TOGETHER_BASE_URL", "https://api.together.xyz/v1", "TOGETHER_API_KEY"),
            "meta-llama/Llama-3.3-70B-Instruct-Turbo",
            "TOGETHER_BASE_URL",
            priced_by=None,
        ),
        Preset(
            "mistral",
            _openai_like("MISTRAL_BASE_URL", "https://api.mistral.ai/v1", "MISTRAL_API_KEY"),
            "mistral-small-latest",
            "MISTRAL_BASE_URL",
            priced_by=None,
        ),
        Preset(
            "groq",
            _openai_like("GROQ_BASE_URL", "https://api.groq.com/openai/v1", "GROQ_API_KEY"),
            "llama-3.3-70b-versatile",
            "GROQ_BASE_URL",
            priced_by=None,
        ),
        Preset(
            "deepseek",
            _openai_like(
                "DEEPSEEK_BASE_URL",
                "https://api.deepseek.com",
                "DEEPSEEK_API_KEY",
                output_mode="json_object",
            ),
            "deepseek-chat",
            "DEEPSEEK_BASE_URL",
            "JSON mode only (no json_schema)",
            priced_by=None,
        ),
        Preset(
            "openrouter",
            _openai_like(
                "OPENROUTER_BASE_URL", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"
            ),
            "openai/gpt-4o-mini",
            "OPENROUTER_BASE_URL",
            "models are vendor/model; list prices apply to first-party models",
        ),
        Preset(
            "xai",
            _openai_like("XAI_BASE_URL", "https://api.x.ai/v1", "XAI_API_KEY"),
            "grok-4",
            "XAI_BASE_URL",
            priced_by=None,
        ),
        Preset(
            "vllm",
            _openai_like(
                "VLLM_BASE_URL",
                "http://localhost:8000/v1",
                "VLLM_API_KEY",
                api_key_required=False,
            ),
            "Qwen/Qwen2.5-7B-Instruct",
            "VLLM_BASE_URL",
            "no key needed (VLLM_API_KEY is sent when set); price 0",
            local=True,
        ),
        Preset(
            "ollama",
            {
                "protocol": "chat_completions",
                "base_url": _url("OLLAMA_BASE_URL", "http://localhost:11434/v1"),
                "api_key_required": False,
            },
            "llama3.1",
            "OLLAMA_BASE_URL",
            "no key; price 0",
            local=True,
        ),
    )
}


def preset_defaults(name: str) -> dict[str, Any]:
    """The ``[connections.X]`` keys a preset fills (prices 0 for a local server);
    ValueError naming the known providers when ``name`` is none."""
    preset = PRESETS.get(name)
    if preset is None:
        raise ValueError(
            f"unknown provider '{name}'{did_you_mean(name, PRESETS)} "
            f"(providers: {', '.join(PRESETS)})"
        )
    defaults = dict(preset.defaults)
    if preset.local:
        defaults.update(input_usd_per_mtok=0.0, output_usd_per_mtok=0.0)
    return defaults


def split_prefix(model: str) -> tuple[str, str] | None:
    """(provider, model) of ``PROVIDER/MODEL`` or ``PROVIDER:/MODEL`` when PROVIDER is a
    known preset, else None.  ``openrouter/openai/gpt-4o`` -> (openrouter, openai/gpt-4o)."""
    for separator in (":/", "/"):
        head, sep, rest = model.partition(separator)
        if sep and head in PRESETS and rest:
            return head, rest
    return None


_BEDROCK_ID = re.compile(
    r"^(?:arn:aws[\w-]*:bedrock:"
    r"|(?:(?:us|eu|apac|ap|jp|au|ca|us-gov|global)\.)?"
    r"(?:anthropic|amazon|meta|mistral|cohere|ai21|deepseek|openai|qwen|writer|moonshot"
    r"|google|minimax|nvidia|twelvelabs)\.[a-z0-9])"
)
_BY_NAME: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^gpt-oss"), ""),  # open weights: served by many hosts
    (re.compile(r"^(?:gpt-|chatgpt-|o[134](?:-|$)|codex-)"), "openai"),
    (re.compile(r"^claude-"), "anthropic"),
    (re.compile(r"^gemini-"), "gemini"),
    (
        re.compile(
            r"^(?:mistral-|magistral-|codestral-|ministral-|pixtral-|devstral-|voxtral-"
            r"|open-mistral-|open-mixtral-)"
        ),
        "mistral",
    ),
    (re.compile(r"^deepseek-(?:chat|reasoner)$"), "deepseek"),
    (re.compile(r"^grok-"), "xai"),
    (_BEDROCK_ID, "bedrock"),
)
_OPEN_WEIGHTS = re.compile(r"^(?:llama|meta-llama|qwen|mixtral|phi-|gemma|kimi|glm|olmo)", re.I)
"""Open-weight families many hosts serve under similar names."""
_MANY_HOSTS = ("groq", "together", "openrouter", "vllm", "ollama")


def provider_for_model(model: str) -> str:
    """The preset a bare model name belongs to; ValueError saying which prefixes to use
    when the name is served by several providers or by none judgekit knows."""
    for pattern, provider in _BY_NAME:
        if pattern.search(model):
            if not provider:
                break
            return provider
    else:
        if "/" in model:
            head = model.split("/", 1)[0].removesuffix(":")
            guess = did_you_mean(head, PRESETS, "'{}/'", cutoff=0.75)
            raise ValueError(
                f"unknown provider prefix '{head}' in model '{model}'; use one of "
                f"{prefixes()}, or set 'connection'{guess}"
            )
        if not _OPEN_WEIGHTS.match(model):
            raise ValueError(
                f"cannot tell which provider serves model '{model}'; prefix it with one of "
                f"{prefixes()}, or set 'connection'"
            )
    hosts = ", ".join(f"{p}/" for p in _MANY_HOSTS)
    raise ValueError(
        f"model '{model}' is served by several providers; prefix it with one of {hosts} "
        f"(e.g. groq/{model}), or set 'connection'"
    )


def prefixes() -> str:
    """Every provider prefix, as shown in error messages: ``openai/, anthropic/, ...``."""
    return ", ".join(f"{name}/" for name in PRESETS)


ENVIRONMENT_VARIABLES: frozenset[str] = frozenset(
    {name for p in PRESETS.values() for name in re.findall(r"\$\{(\w+)", p.defaults["base_url"])}
    | {p.defaults["api_key_env"] for p in PRESETS.values() if "api_key_env" in p.defaults}
)
"""Every environment variable a preset reads (tests clear them)."""


def default_base_url(provider: str) -> str:
    """The base URL a preset uses when its ``*_BASE_URL`` variable is not set (``${VAR}``
    defaults inside it expanded with their own defaults).  KeyError for an unknown preset."""
    url = str(PRESETS[provider].defaults["base_url"])
    previous = None
    while previous != url:  # innermost ${VAR:-default} first
        previous = url
        url = re.sub(r"\$\{\w+:-([^${}]*)\}", r"\1", url)
    return url
