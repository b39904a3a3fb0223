"""``[connections.NAME]`` tables, and which connection serves an llm judge.

A connection is an endpoint and how to pace and pay for it; ``provider = "..."``
fills the keys it omits from a preset (``presets``).  A judge without a
``connection`` gets one from its model name (``resolve_connection``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator, model_validator

from judgekit.base_urls import base_url_problem
from judgekit.config_fields import FrozenModel, NonNegativeFloat, PositiveFloat, check_params
from judgekit.envvars import expand_env
from judgekit.errors import ConfigError
from judgekit.presets import preset_defaults, provider_for_model, split_prefix

if TYPE_CHECKING:
    from judgekit.config import Config
    from judgekit.config_judges import JudgeConfig

Protocol = Literal["chat_completions", "responses", "anthropic", "bedrock_converse"]

HEADER_NAME = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"
RESERVED_HEADERS = frozenset({"host", "content-length", "content-type", "transfer-encoding"})


class ConnectionConfig(FrozenModel):
    """``[connections.NAME]``: an endpoint and how to pace and pay for it."""

    protocol: Protocol = "chat_completions"
    """Wire format: chat_completions | responses | anthropic | bedrock_converse."""
    base_url: str
    """API root, e.g. https://api.openai.com/v1; ``${VAR}`` is expanded."""
    model: str | None = None
    """Default model of the judges using this connection."""
    api_key_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    """Name of the environment variable holding the API key."""
    api_key_required: bool = True
    """Set false for local servers (Ollama, vLLM) that take no key."""
    requests_per_minute: PositiveFloat | None = None
    """Declared request rate limit; adaptive pacing from 429s when absent."""
    tokens_per_minute: PositiveFloat | None = None
    """Declared token rate limit (input estimate + max_output_tokens)."""
    timeout_s: float = Field(60.0, gt=0, le=3600)
    """Per-request timeout."""
    max_retries: int = Field(5, ge=0, le=20)
    """Retries of 429, 5xx, timeouts and connection errors."""
    temperature: float | None = Field(0.0, ge=0, le=2)
    """Sampling temperature; 0 for reproducible verdicts."""
    max_output_tokens: int = Field(512, ge=1, le=200_000)
    """Cap on the judge's answer length (and the worst case of the budget)."""
    output_mode: Literal["auto", "json_schema", "json_object", "prompt"] = "auto"
    """How to ask for JSON; ``auto`` starts with the schema and falls back."""
    input_usd_per_mtok: NonNegativeFloat | None = None
    """Price override: USD per million input tokens."""
    cached_input_usd_per_mtok: NonNegativeFloat | None = None
    """Price override: USD per million cached input tokens."""
    output_usd_per_mtok: NonNegativeFloat | None = None
    """Price override: USD per million output tokens."""
    max_cost_usd_per_call: PositiveFloat | None = None
    """Refuse a row whose worst-case cost exceeds this."""
    max_input_tokens: int | None = Field(None, ge=1)
    """Refuse a row whose estimated input exceeds this."""
    provider: str | None = None
    """A provider preset (``judgekit/presets.py``) filling every key this table omits."""
    api_key_header: str | None = Field(None, pattern=HEADER_NAME)
    """Header carrying the bare key (Azure: ``api-key``); default: the protocol's own."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Extra request headers (gateways, routers); ``${VAR}`` is expanded at run time and
    the values never reach the cache, an output, a log or a message."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Members merged into every request body (``reasoning_effort``, ``seed``, ...);
    part of the cache key."""

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("provider"), str):
            return {**preset_defaults(data["provider"]), **data}
        return data

    @field_validator("headers")
    @classmethod
    def _valid_headers(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            if not re.fullmatch(HEADER_NAME, name):
                raise ValueError(f"'{name}' is not a valid header name")
            if name.lower() in RESERVED_HEADERS:
                raise ValueError(f"header '{name}' is set by judgekit itself")
            if any(c in value for c in "\r\n\0"):
                raise ValueError(f"header '{name}': the value holds a line break or NUL")
        return headers

    @field_validator("params")
    @classmethod
    def _valid_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        return check_params(params)

    @field_validator("base_url")
    @classmethod
    def _a_url(cls, base_url: str) -> str:
        # With ${VAR} in it, checked once expanded (config.parse_config, preset_connection).
        problem = None if "${" in base_url else base_url_problem(base_url)
        if problem is not None:
            raise ValueError(problem)
        return base_url

    proxy: str | None = None
    """HTTP(S) proxy of this connection (``http://[user:pass@]host:port``), overriding
    HTTPS_PROXY / HTTP_PROXY / ALL_PROXY / NO_PROXY; ``""``: never a proxy."""

    @field_validator("proxy")
    @classmethod
    def _http_proxy(cls, proxy: str | None) -> str | None:
        if proxy and not re.fullmatch(r"https?://[^\s/]+/?", proxy):
            raise ValueError(
                'give an HTTP proxy as "http://host:port" (or "https://..."), or "" for none'
            )
        return proxy

    cache_endpoint: str | None = Field(None, min_length=1)
    """A name that stands for base_url's scheme, host and port in cache keys, for a
    server whose address changes between runs (a local server on a random port)."""
    batch_discount: float | None = Field(None, ge=0, lt=1)
    """Share of the online price a batch request saves (default 0.5: batches cost half)."""

    @model_validator(mode="after")
    def _key_is_explicit(self) -> ConnectionConfig:
        if self.api_key_env is None and self.api_key_required:
            raise ValueError(
                "set api_key_env to the name of the environment variable holding the key, "
                "or api_key_required = false for a server that takes none"
            )
        if (self.input_usd_per_mtok is None) != (self.output_usd_per_mtok is None):
            raise ValueError("give both input_usd_per_mtok and output_usd_per_mtok, or neither")
        return self


def resolve_connection(
    config: Config, judge: JudgeConfig, where: str | None = None
) -> tuple[str, ConnectionConfig, str]:
    """(connection name, connection, model) serving an llm judge; ConfigError when the
    model names no provider judgekit knows.

    With ``connection`` the model is taken as written (a ``PROVIDER:/`` prefix dropped).
    Without one, ``PROVIDER/MODEL`` or ``PROVIDER:/MODEL`` names a preset and a bare
    name picks one (``presets.provider_for_model``); a ``[connections.PROVIDER]`` table
    of the config wins over the preset.  ``where`` prefixes error messages."""
    where = where or f"judge '{judge.name}'"
    model = judge.model
    if judge.connection is not None:
        connection = config.connection(judge.connection)
        if model is not None and ":/" in model:
            model = model.split(":/", 1)[1]
        model = model or connection.model
        if model is None:
            raise ConfigError(
                f"{where}: no model; set 'model' on the judge or on connections.{judge.connection}"
            )
        return judge.connection, connection, model
    assert model is not None  # JudgeConfig._consistent guarantees it
    split = split_prefix(model)
    if split is not None:
        provider, model = split
    else:
        try:
            provider = provider_for_model(model)
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    if provider in config.connections:
        return provider, config.connection(provider), model
    return provider, preset_connection(provider, f"{where}: provider '{provider}'"), model


def preset_connection(provider: str, where: str) -> ConnectionConfig:
    """The implicit connection of a provider preset, its base URL expanded; ConfigError
    when that needs an unset variable or gives no usable URL."""
    connection = ConnectionConfig(provider=provider)  # type: ignore[call-arg]
    return expanded_connection(connection, f"{where} base_url")


def expanded_connection(connection: ConnectionConfig, where: str) -> ConnectionConfig:
    """``connection`` with ``${VAR}`` in its base URL expanded (``envvars``); ConfigError,
    prefixed with ``where``, when a variable is unset or the result is no usable URL."""
    base_url = expand_env(connection.base_url, where)
    problem = base_url_problem(base_url)
    if problem is not None:
        raise ConfigError(f"{where}: {problem}")
    return connection.model_copy(update={"base_url": base_url})
