"""The TOML config: frozen pydantic models, loading, and readable errors.

Only the *name* of an API key's environment variable ever lives here; the key
itself is read from the environment when a run starts (``engine.plan``).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from judgekit.config_errors import UNKNOWN_FIELD, describe
from judgekit.envvars import expand_env as expand_env
from judgekit.errors import ConfigError
from judgekit.presets import preset_defaults, provider_for_model, split_prefix

Protocol = Literal["chat_completions", "responses", "anthropic", "bedrock_converse"]
JudgeType = Literal[
    "llm",
    "exact",
    "contains",
    "regex",
    "json_valid",
    "token_f1",
    "not_contains",
    "tool_called",
    "tool_not_called",
    "tool_order",
    "length",
    "json_schema",
]
RULE_TYPES: frozenset[str] = frozenset(
    {"exact", "contains", "regex", "json_valid", "token_f1", "not_contains"}
    | {"tool_called", "tool_not_called", "tool_order", "length", "json_schema"}
)
TEMPLATE_FIELDS: tuple[str, ...] = (
    "input",
    "output",
    "expected",
    "context",
    "history",
    "tool_calls",
    "expected_behavior",
    "constraints",
    "output_a",
    "output_b",
)
LabelMeaning = Literal["pass", "fail", "exclude"]

PositiveFloat = Annotated[float, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RunConfig(_Frozen):
    """``[run]``: settings of the whole run."""

    concurrency: int = Field(32, ge=1, le=4096)
    """Max requests in flight, all connections together."""
    budget_usd: PositiveFloat | None = None
    """Hard cap on new spend for this run."""
    max_error_rate: float = Field(0.02, ge=0, le=1)
    """Share of LLM judgements that may fail before the run exits 1 (rule judges aside)."""
    id_column: str = "id"
    """Column holding row ids; the 0-based row index when absent."""
    local_only: bool = False
    """Run only judges that cost nothing (rules, local servers, price 0); skip the rest."""
    mode: Literal["online", "batch"] = "online"
    """``batch``: submit uncached calls through the provider's batch API (as ``--batch``)."""
    batch_poll_s: float = Field(60.0, gt=0, le=86_400)
    """Seconds between status checks of pending batches under ``--wait``."""


HEADER_NAME = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"
RESERVED_HEADERS = frozenset({"host", "content-length", "content-type", "transfer-encoding"})
RESERVED_PARAMS: dict[str, str] = {
    "model": "set 'model'",
    "messages": "judgekit writes the prompt",
    "input": "judgekit writes the prompt",
    "instructions": "judgekit writes the prompt",
    "system": "judgekit writes the prompt",
    "stream": "judgekit reads whole replies",
    "temperature": "set the connection's 'temperature'",
    "max_tokens": "set the connection's 'max_output_tokens'",
    "max_completion_tokens": "set the connection's 'max_output_tokens'",
    "max_output_tokens": "set the connection's 'max_output_tokens'",
    "response_format": "set the connection's 'output_mode'",
    "tools": "judgekit asks for the verdict itself",
    "tool_choice": "judgekit asks for the verdict itself",
}
"""Body members ``params`` may not set, and why."""


def check_params(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` when every member may go in a request body; ValueError otherwise."""
    for key in params:
        if key in RESERVED_PARAMS:
            raise ValueError(f"'{key}' cannot be a param ({RESERVED_PARAMS[key]})")
    try:
        json.dumps(params)
    except (TypeError, ValueError):
        raise ValueError(
            "params hold only strings, numbers, booleans, arrays and tables (no dates)"
        ) from None
    return params


class ConnectionConfig(_Frozen):
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


class FewShotExample(_Frozen):
    """``[[judges.examples]]``: one graded example shown to an llm judge (``judgekit align``
    writes them).  The prompt renders each inside tags, neutralised like all data."""

    input: str | None = None
    """The example's question or task."""
    output: str
    """The answer that was graded."""
    expected: str | None = None
    """The reference answer, when the judge's template has one."""
    verdict: Literal["pass", "fail"]
    """The human verdict on this example."""
    reasoning: str | None = None
    """Why (a human note), shown to the judge after the verdict."""


class JudgeConfig(_Frozen):
    """``[[judges]]``: one judge, LLM or rule."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    """Prefix of the output columns (``NAME_score`` ...)."""
    type: JudgeType = "llm"
    """``llm`` or a rule: exact | contains | regex | json_valid | token_f1."""
    connection: str | None = None
    """Name of a ``[connections.X]`` table."""
    model: str | None = None
    """Model override; without ``connection``: ``gpt-4o-mini`` (provider told from the
    name) or ``PROVIDER/MODEL`` (``groq/llama-3.3-70b-versatile``; see presets)."""
    template: str | None = None
    """Built-in template name (``judgekit templates`` lists them)."""
    prompt: str | None = None
    """Custom prompt with ``{field}`` placeholders, instead of a template."""
    system: str | None = None
    """Custom system prompt (with ``prompt``)."""
    scale: tuple[float, float] | None = None
    """Custom prompt's score scale, e.g. [1, 5]; normalised to 0..1."""
    threshold: float = Field(0.7, ge=0, le=1)
    """``passed = score >= threshold`` (up to 1e-9 of float rounding: ``records.passes``)."""
    human_label: str | None = None
    """Column of human verdicts compared by ``judgekit agreement``."""
    criteria: dict[str, Annotated[float, Field(ge=0, le=1)]] | None = None
    """Weights per criterion, summing to 1; judgekit computes the weighted score."""
    columns: dict[str, str] = Field(default_factory=dict)
    """Template field -> dataset column; unmapped fields use the same-named column."""
    pattern: str | None = None
    """``regex`` rule: the pattern searched in the output."""
    ignore_case: bool = True
    """Rule judges: compare case-insensitively."""
    max_cost_usd_per_call: PositiveFloat | None = None
    """Refuse a row whose worst-case cost exceeds this."""
    max_input_tokens: int | None = Field(None, ge=1)
    """Refuse a row whose estimated input exceeds this."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Members merged into this judge's request bodies, over the connection's params."""

    @field_validator("params")
    @classmethod
    def _valid_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        return check_params(params)

    text: str | list[str] | None = None
    """``contains`` / ``not_contains``: the text(s) looked for, instead of the expected column."""
    tool: str | None = None
    """``tool_called`` / ``tool_not_called``: the tool's name."""
    arguments: dict[str, Any] | None = None
    """``tool_called``: key/values one call's arguments must contain."""
    tools: list[str] | None = Field(None, min_length=1)
    """``tool_order``: tools that must be called in this order."""
    min_chars: int | None = Field(None, ge=0)
    """``length``: fewest characters allowed (inclusive)."""
    max_chars: int | None = Field(None, ge=0)
    """``length``: most characters allowed (inclusive)."""
    min_words: int | None = Field(None, ge=0)
    """``length``: fewest words allowed (inclusive)."""
    max_words: int | None = Field(None, ge=0)
    """``length``: most words allowed (inclusive)."""
    json_schema: dict[str, Any] | None = None
    """``json_schema``: the JSON Schema, inline."""
    schema_file: str | None = None
    """``json_schema``: a JSON Schema file, relative to the config file."""
    continue_conversation: bool = False
    """llm judges: also ask whether the conversation goes on, and the user's next message."""
    max_turns: int | None = Field(None, ge=1)
    """With ``continue_conversation``: no further turn once the row has this many user turns."""
    samples: int = Field(1, ge=1, le=20)
    """llm judges: answers asked per row (self-consistency).  Above 1, each sample is its own
    request, marked by an ``Independent sample K of N.`` line in the system prompt (every
    provider accepts it, unlike a ``seed`` member) and sent at temperature 0.7 unless the
    connection sets one; ``J_score`` is their mean, ``J_passed`` the majority vote (a tie:
    the mean against the threshold), plus ``J_score_stddev`` and ``J_vote_share``."""
    examples: list[FewShotExample] | None = None
    """llm judges: graded few-shot examples shown before the row (``judgekit align``)."""

    @field_validator("columns")
    @classmethod
    def _known_fields(cls, columns: dict[str, str]) -> dict[str, str]:
        for key in columns:
            if key not in TEMPLATE_FIELDS:
                # Rendered with the key in the path, like any unknown key (config_errors).
                allowed = ", ".join(TEMPLATE_FIELDS)
                raise PydanticCustomError(
                    UNKNOWN_FIELD, "unknown key", {"key": key, "allowed": allowed}
                )
        return columns

    @field_validator("criteria")
    @classmethod
    def _weights_sum_to_one(cls, criteria: dict[str, float] | None) -> dict[str, float] | None:
        if criteria is not None:
            total = math.fsum(criteria.values())
            if not criteria or abs(total - 1.0) > 1e-6:
                raise ValueError(f"criteria weights must sum to 1, got {total:g}")
        return criteria

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression ({exc})") from exc
        return pattern

    @model_validator(mode="after")
    def _consistent(self) -> JudgeConfig:
        if self.type == "llm":
            if (self.template is None) == (self.prompt is None):
                raise ValueError("an llm judge needs exactly one of 'template' or 'prompt'")
            if self.connection is None and self.model is None:
                raise ValueError(
                    "an llm judge needs 'connection' or 'model' "
                    '(e.g. model = "gpt-4o-mini" or "anthropic/claude-haiku-4-5")'
                )
            if self.system is not None and self.prompt is None:
                raise ValueError("'system' goes with 'prompt'")
        else:
            extra = [
                k
                for k in (
                    "connection",
                    "model",
                    "template",
                    "prompt",
                    "system",
                    "params",
                    "examples",
                )
                if getattr(self, k)
            ]
            if self.samples > 1:
                extra.append("samples")
            if extra:
                raise ValueError(f"a {self.type} rule judge takes no {', '.join(extra)}")
            if self.pattern is not None and self.type != "regex":
                raise ValueError("'pattern' goes with type = \"regex\"")
        if self.scale is not None:
            if self.prompt is None:
                raise ValueError("'scale' goes with a custom 'prompt'")
            if not self.scale[0] < self.scale[1]:
                raise ValueError("scale must be [low, high] with low < high")
        return self

    @model_validator(mode="after")
    def _options_fit_the_type(self) -> JudgeConfig:
        for option, types in _OPTION_TYPES.items():
            value = getattr(self, option)
            if value is not None and value is not False and self.type not in types:
                allowed = " or ".join(f'"{t}"' for t in types)
                raise ValueError(f"'{option}' goes with type = {allowed}")
        if self.type in ("tool_called", "tool_not_called") and self.tool is None:
            raise ValueError(f"type = \"{self.type}\" needs 'tool' (the tool's name)")
        if self.type == "tool_order" and self.tools is None:
            raise ValueError("type = \"tool_order\" needs 'tools' (names, in order)")
        if self.type == "length":
            if (self.min_chars, self.max_chars, self.min_words, self.max_words) == (None,) * 4:
                raise ValueError(
                    'type = "length" needs min_chars, max_chars, min_words or max_words'
                )
            for unit in ("chars", "words"):
                low, high = getattr(self, f"min_{unit}"), getattr(self, f"max_{unit}")
                if low is not None and high is not None and low > high:
                    raise ValueError(f"min_{unit} {low} is above max_{unit} {high}")
        if self.type == "json_schema" and (self.json_schema is None) == (self.schema_file is None):
            raise ValueError('type = "json_schema" needs exactly one of json_schema or schema_file')
        if self.max_turns is not None and not self.continue_conversation:
            raise ValueError("'max_turns' goes with continue_conversation = true")
        return self

    def column_for(self, field: str) -> str:
        """Dataset column feeding template ``field``."""
        return self.columns.get(field, field)


_OPTION_TYPES: Mapping[str, tuple[str, ...]] = {
    "text": ("contains", "not_contains"),
    "tool": ("tool_called", "tool_not_called"),
    "arguments": ("tool_called",),
    "tools": ("tool_order",),
    "min_chars": ("length",),
    "max_chars": ("length",),
    "min_words": ("length",),
    "max_words": ("length",),
    "json_schema": ("json_schema",),
    "schema_file": ("json_schema",),
    "continue_conversation": ("llm",),
}
"""Which judge types take each type-specific option."""


class AgreementConfig(_Frozen):
    """``[agreement]``: how human labels are read and how CIs are computed."""

    labels: dict[str, LabelMeaning] = Field(default_factory=dict)
    """Extra label words, e.g. ``{ good = "pass", bad = "fail", skip = "exclude" }``."""
    bootstrap: int = Field(1000, ge=0, le=100_000)
    """Bootstrap resamples for confidence intervals (0: none)."""
    seed: int = 0
    """Seed of the bootstrap, for reproducible intervals."""


class Config(_Frozen):
    """The whole config file."""

    run: RunConfig = Field(default_factory=RunConfig)
    connections: dict[str, ConnectionConfig] = Field(default_factory=dict)
    judges: list[JudgeConfig] = Field(min_length=1)
    agreement: AgreementConfig = Field(default_factory=AgreementConfig)

    @model_validator(mode="after")
    def _references(self) -> Config:
        seen: set[str] = set()
        for index, judge in enumerate(self.judges):
            if judge.name in seen:
                raise ValueError(f"duplicate judge name '{judge.name}'")
            seen.add(judge.name)
            if judge.connection is not None and judge.connection not in self.connections:
                known = ", ".join(sorted(self.connections)) or "none defined"
                close = difflib.get_close_matches(judge.connection, list(self.connections), n=1)
                guess = f"; did you mean '{close[0]}'?" if close else ""
                raise ValueError(
                    f"judges[{index}].connection: judge '{judge.name}' names unknown connection "
                    f"'{judge.connection}'{guess} (connections: {known})"
                )
        return self

    def judge(self, name: str) -> JudgeConfig:
        """The judge called ``name``; KeyError when absent."""
        for judge in self.judges:
            if judge.name == name:
                return judge
        raise KeyError(name)


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
        connection = config.connections[judge.connection]
        if model is not None and ":/" in model:
            model = model.split(":/", 1)[1]
        model = model or connection.model
        if model is None:
            raise ConfigError(
                f"judge '{judge.name}': no model; set 'model' on the judge or on "
                f"connections.{judge.connection}"
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
        return provider, config.connections[provider], model
    return provider, preset_connection(provider, f"{where}: provider '{provider}'"), model


def preset_connection(provider: str, where: str) -> ConnectionConfig:
    """The implicit connection of a provider preset, its base URL expanded."""
    connection = ConnectionConfig(provider=provider)  # type: ignore[call-arg]
    base_url = expand_env(connection.base_url, f"{where} base_url")
    return connection.model_copy(update={"base_url": base_url})


def load_config(path: str | Path, *, expand: bool = True) -> Config:
    """Read, validate and return the config at ``path`` (ConfigError when wrong).

    ``expand=False`` leaves ``${VAR}`` in base URLs alone, for commands that never
    connect (``agreement``) and so must not need the variables set."""
    file = Path(path)
    try:
        # utf-8-sig: a byte-order mark (Windows editors write one) is not TOML's business.
        raw = tomllib.loads(file.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML ({exc})") from None
    return parse_config(raw, str(file), expand=expand)


def parse_config(raw: Mapping[str, Any], source: str, *, expand: bool = True) -> Config:
    """Validate an already-parsed TOML document; errors name ``source``."""
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(describe(exc, source, Config)) from None
    if not expand:
        return config
    connections = {
        name: conn.model_copy(
            update={"base_url": expand_env(conn.base_url, f"{source}: connections.{name}.base_url")}
        )
        for name, conn in config.connections.items()
    }
    return config.model_copy(update={"connections": connections})


def config_hash(config: Config) -> str:
    """Stable short hash of the config's content (stored in output metadata)."""
    return hashlib.sha256(config.model_dump_json().encode()).hexdigest()[:16]
