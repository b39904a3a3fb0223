"""Planning a rule judge: which fields each kind reads, and a structure validator's
checked settings (its JSON Schema read from ``schema_file`` when it names one)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from judgekit.config_judges import JudgeConfig
from judgekit.errors import ConfigError
from judgekit.validators import ValidatorSpec, make_spec

_RULE_FIELDS = {
    "exact": ("output", "expected"),
    "contains": ("output", "expected"),
    "not_contains": ("output", "expected"),
    "regex": ("output", "expected"),
    "json_valid": ("output",),
    "token_f1": ("output", "expected"),
    "tool_called": ("tool_calls",),
    "tool_not_called": ("tool_calls",),
    "tool_order": ("tool_calls",),
    "length": ("output",),
    "json_schema": ("output",),
}


def rule_fields(judge: JudgeConfig) -> tuple[str, ...]:
    """The fields a rule judge reads: ``output`` alone when the expected text is in the
    config (``pattern`` of a regex, ``text``), else what its kind compares."""
    if (judge.type == "regex" and judge.pattern is not None) or judge.text is not None:
        return ("output",)
    return _RULE_FIELDS[judge.type]


def validator_spec(judge: JudgeConfig, where: str, source: str) -> ValidatorSpec:
    """The checked settings of a structure validator (the JSON Schema loaded and checked);
    ConfigError naming ``where`` (the judge's key path) when they are wrong.  ``source`` is
    the config file: a ``schema_file`` is relative to its directory."""
    schema = judge.json_schema
    key = "json_schema"
    if judge.schema_file is not None:
        key = "schema_file"
        schema = _schema_file(judge.schema_file, f"{where}.schema_file", source)
    try:
        return make_spec(
            judge.type,  # type: ignore[arg-type]
            tool=judge.tool,
            arguments=judge.arguments,
            tools=tuple(judge.tools or ()),
            min_chars=judge.min_chars,
            max_chars=judge.max_chars,
            min_words=judge.min_words,
            max_words=judge.max_words,
            schema=schema,
        )
    except ValueError as exc:
        raise ConfigError(f"{where}.{key}: {exc}") from None


def _schema_file(name: str, where: str, source: str) -> Any:
    """The JSON in ``name``, relative to the config file's directory."""
    path = Path(name).expanduser()
    if not path.is_absolute():
        path = Path(source).parent / path
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{where}: {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: {path}: cannot read ({exc})") from None
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{where}: {path}: invalid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
    if not isinstance(schema, dict):
        raise ConfigError(f"{where}: {path}: not a JSON Schema (the file must hold an object)")
    return schema
