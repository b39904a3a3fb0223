"""The TOML config: frozen pydantic models, loading, and readable errors.

Only the *name* of an API key's environment variable ever lives here; the key
itself is read from the environment when a run starts (``engine.plan``).
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from judgekit.errors import ConfigError

Protocol = Literal["chat_completions", "responses", "anthropic"]
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
    """Share of judge calls that may fail before the run exits 1."""
    id_column: str = "id"
    """Column holding row ids; the 0-based row index when absent."""


class ConnectionConfig(_Frozen):
    """``[connections.NAME]``: an endpoint and how to pace and pay for it."""

    protocol: Protocol = "chat_completions"
    """Wire format: chat_completions | responses | anthropic."""
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


class JudgeConfig(_Frozen):
    """``[[judges]]``: one judge, LLM or rule."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    """Prefix of the output columns (``NAME_score`` ...)."""
    type: JudgeType = "llm"
    """``llm`` or a rule: exact | contains | regex | json_valid | token_f1."""
    connection: str | None = None
    """Name of a ``[connections.X]`` table."""
    model: str | None = None
    """Model override, or shorthand ``provider:/model`` (openai, anthropic, ollama)."""
    template: str | None = None
    """Built-in template name (``judgekit templates`` lists them)."""
    prompt: str | None = None
    """Custom prompt with ``{field}`` placeholders, instead of a template."""
    system: str | None = None
    """Custom system prompt (with ``prompt``)."""
    scale: tuple[float, float] | None = None
    """Custom prompt's score scale, e.g. [1, 5]; normalised to 0..1."""
    threshold: float = Field(0.7, ge=0, le=1)
    """``passed = score >= threshold``."""
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

    @field_validator("columns")
    @classmethod
    def _known_fields(cls, columns: dict[str, str]) -> dict[str, str]:
        for key in columns:
            if key not in TEMPLATE_FIELDS:
                raise ValueError(f"unknown field '{key}' (allowed: {', '.join(TEMPLATE_FIELDS)})")
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
            if self.connection is None and (self.model is None or ":/" not in self.model):
                raise ValueError(
                    "an llm judge needs 'connection', or 'model' as provider:/model "
                    "(openai:/, anthropic:/, ollama:/)"
                )
            if self.system is not None and self.prompt is None:
                raise ValueError("'system' goes with 'prompt'")
        else:
            extra = [
                k
                for k in ("connection", "model", "template", "prompt", "system")
                if getattr(self, k)
            ]
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
        for judge in self.judges:
            if judge.name in seen:
                raise ValueError(f"duplicate judge name '{judge.name}'")
            seen.add(judge.name)
            if judge.connection is not None and judge.connection not in self.connections:
                known = ", ".join(sorted(self.connections)) or "none defined"
                raise ValueError(
                    f"judge '{judge.name}': unknown connection '{judge.connection}' "
                    f"(connections: {known})"
                )
        return self

    def judge(self, name: str) -> JudgeConfig:
        """The judge called ``name``; KeyError when absent."""
        for judge in self.judges:
            if judge.name == name:
                return judge
        raise KeyError(name)


# Built-in connections behind the ``provider:/model`` shorthand.  An explicit
# ``[connections.openai]`` table of the same name wins.
SHORTHAND_CONNECTIONS: Mapping[str, ConnectionConfig] = {
    "openai": ConnectionConfig(
        protocol="chat_completions",
        base_url="https://api.openai.com/v1",
        api_key_env="OPENAI_API_KEY",
    ),
    "anthropic": ConnectionConfig(
        protocol="anthropic",
        base_url="https://api.anthropic.com",
        api_key_env="ANTHROPIC_API_KEY",
    ),
    "ollama": ConnectionConfig(
        protocol="chat_completions",
        base_url="http://localhost:11434/v1",
        api_key_required=False,
        input_usd_per_mtok=0.0,
        output_usd_per_mtok=0.0,
    ),
}


def resolve_connection(config: Config, judge: JudgeConfig) -> tuple[str, ConnectionConfig, str]:
    """(connection name, connection, model) serving an llm judge.

    ``model = "openai:/gpt-4o-mini"`` picks the connection named ``openai``:
    the config's own table if it has one, else the built-in default.
    """
    if judge.model is not None and ":/" in judge.model:
        provider, model = judge.model.split(":/", 1)
        name = judge.connection or provider
        if name in config.connections:
            return name, config.connections[name], model
        if provider not in SHORTHAND_CONNECTIONS:
            known = ", ".join(SHORTHAND_CONNECTIONS)
            raise ConfigError(
                f"judge '{judge.name}': unknown provider '{provider}' in model "
                f"'{judge.model}' (known: {known})"
            )
        return provider, SHORTHAND_CONNECTIONS[provider], model
    assert judge.connection is not None  # JudgeConfig._consistent guarantees it
    connection = config.connections[judge.connection]
    default_model = judge.model or connection.model
    if default_model is None:
        raise ConfigError(
            f"judge '{judge.name}': no model; set 'model' on the judge or on "
            f"connections.{judge.connection}"
        )
    return judge.connection, connection, default_model


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_env(value: str, where: str) -> str:
    """Replace ``${VAR}`` with the environment's value; a missing one is an error."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise ConfigError(f"{where}: environment variable {name} is not set")
        return os.environ[name]

    return _VAR.sub(replace, value)


def load_config(path: str | Path, *, expand: bool = True) -> Config:
    """Read, validate and return the config at ``path`` (ConfigError when wrong).

    ``expand=False`` leaves ``${VAR}`` in base URLs alone, for commands that never
    connect (``agreement``) and so must not need the variables set."""
    file = Path(path)
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
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
        raise ConfigError(_describe(exc, source)) from None
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


def _describe(exc: ValidationError, source: str) -> str:
    """One line: ``source: key.path[1].x: message`` (+ how many more errors)."""
    errors = exc.errors()
    first = errors[0]
    where = _key_path(first["loc"])
    message = _message(first)
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{source}: {where}: {message}{more}" if where else f"{source}: {message}{more}"


def _key_path(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif str(item).startswith(("function-after", "function-before")):
            continue
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts)


def _message(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key (check the spelling; see README for the allowed keys)"
    if kind == "missing":
        return "required key is missing"
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"invalid value {error.get('input')!r} (allowed: {expected})"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")
