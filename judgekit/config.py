"""The TOML config file: its top-level tables, loading, and readable errors.

``[run]`` and ``[agreement]`` live here; ``[connections.NAME]`` in
``config_connections`` (with the connection serving each judge), ``[[judges]]``
in ``config_judges``, what they share in ``config_fields``, and the one-line
validation messages in ``config_errors``.

Only the *name* of an API key's environment variable ever lives here; the key
itself is read from the environment when a run starts (``engine.plan``).
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, ValidationError, field_validator, model_validator

from judgekit.config_connections import ConnectionConfig, expanded_connection
from judgekit.config_errors import describe, did_you_mean
from judgekit.config_fields import FrozenModel, PositiveFloat
from judgekit.config_judges import JudgeConfig
from judgekit.envvars import expand_env as expand_env
from judgekit.errors import ConfigError
from judgekit.output_paths import describe_os_error

LabelMeaning = Literal["pass", "fail", "exclude"]


class RunConfig(FrozenModel):
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


class AgreementConfig(FrozenModel):
    """``[agreement]``: how human labels are read and how CIs are computed."""

    labels: dict[str, LabelMeaning] = Field(default_factory=dict)
    """Extra label words, e.g. ``{ good = "pass", bad = "fail", skip = "exclude" }``."""
    bootstrap: int = Field(1000, ge=0, le=100_000)
    """Bootstrap resamples for confidence intervals (0: none)."""
    seed: int = 0
    """Seed of the bootstrap, for reproducible intervals."""

    @field_validator("labels")
    @classmethod
    def _no_blank_label(cls, labels: dict[str, LabelMeaning]) -> dict[str, LabelMeaning]:
        if any(not word.strip() for word in labels):
            raise ValueError("a blank label is always unlabelled; remove it")
        return labels


class Config(FrozenModel):
    """The whole config file."""

    run: RunConfig = Field(default_factory=RunConfig)
    connections: dict[str, ConnectionConfig] = Field(default_factory=dict)
    judges: list[JudgeConfig] = Field(min_length=1)
    agreement: AgreementConfig = Field(default_factory=AgreementConfig)

    @model_validator(mode="after")
    def _references(self) -> Config:
        seen: dict[str, int] = {}
        for index, judge in enumerate(self.judges):
            if judge.name in seen:
                raise ValueError(
                    f"judges[{index}].name: duplicate judge name '{judge.name}' (judges"
                    f"[{seen[judge.name]}] has it too); give each judge its own name (it "
                    "begins the output column names)"
                )
            seen[judge.name] = index
            if judge.connection is not None and judge.connection not in self.connections:
                known = ", ".join(sorted(self.connections)) or "none defined"
                guess = did_you_mean(judge.connection, self.connections)
                raise ValueError(
                    f"judges[{index}].connection: judge '{judge.name}' names unknown connection "
                    f"'{judge.connection}'{guess} (connections: {known})"
                )
        return self

    _unusable: dict[str, str] = PrivateAttr(default_factory=dict)
    """Connections whose base URL could not be expanded (an unset variable) or is no
    usable URL: the error, raised only when a judge that runs uses one (``connection``)."""

    def connection(self, name: str) -> ConnectionConfig:
        """Connection ``name``, its base URL expanded; ConfigError when expanding it failed
        (``parse_config``); KeyError when absent."""
        problem = self._unusable.get(name)
        if problem is not None:
            raise ConfigError(problem)
        return self.connections[name]

    def judge(self, name: str) -> JudgeConfig:
        """The judge called ``name``; KeyError when absent."""
        for judge in self.judges:
            if judge.name == name:
                return judge
        raise KeyError(name)


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
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory; give the config file (.toml)") from None
    except NotADirectoryError:
        raise ConfigError(
            f"{path}: no such config file (a part of the path is a file, not a directory)"
        ) from None
    except OSError as exc:
        from judgekit.given_paths import check_given_path

        check_given_path(file, "-c")  # the one line for a name too long, a link loop, ...
        raise ConfigError(f"{path}: cannot read ({describe_os_error(exc)})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML ({exc})") from None
    return parse_config(raw, str(file), expand=expand)


def parse_config(raw: Mapping[str, Any], source: str, *, expand: bool = True) -> Config:
    """Validate an already-parsed TOML document; errors name ``source``.

    ``expand``: expand ``${VAR}`` in base URLs.  A connection whose variable is unset (or
    whose URL is then unusable) is an error only once a judge that runs uses it
    (``Config.connection``): ``score --judge RULE`` needs no LLM connection's variables."""
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(describe(exc, source, Config)) from None
    if not expand:
        return config
    connections: dict[str, ConnectionConfig] = {}
    unusable: dict[str, str] = {}
    for name, conn in config.connections.items():
        try:
            connections[name] = expanded_connection(conn, f"{source}: connections.{name}.base_url")
        except ConfigError as exc:
            connections[name], unusable[name] = conn, str(exc)
    expanded = config.model_copy(update={"connections": connections})
    expanded._unusable = unusable
    return expanded


def config_hash(config: Config) -> str:
    """Stable short hash of the config's content (stored in output metadata)."""
    return hashlib.sha256(config.model_dump_json().encode()).hexdigest()[:16]
