"""``${VAR}`` and ``${VAR:-default}`` in config values, read from the environment.

Used for base URLs (when the config is loaded) and for connection headers (when a run
starts, so that a header's value never enters the parsed config).
"""

from __future__ import annotations

import os
import re

from judgekit.errors import ConfigError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def expand_env(value: str, where: str) -> str:
    """Replace ``${VAR}`` with the environment's value (a missing one is an error) and
    ``${VAR:-default}`` with it or, when unset or empty, the default (which may itself
    hold ``${...}``)."""
    text, _ = _expand(value, 0, where, inner=False)
    return text


def _expand(text: str, start: int, where: str, *, inner: bool) -> tuple[str, int]:
    """Expand from ``start``; inside a default, stop at its closing brace (returned)."""
    parts: list[str] = []
    i = start
    while i < len(text):
        name = _NAME.match(text, i + 2) if text.startswith("${", i) else None
        if name is not None:
            end = name.end()
            if text.startswith("}", end):
                if name.group() not in os.environ:
                    raise ConfigError(
                        f"{where}: environment variable {name.group()} is not set "
                        f"(export {name.group()}=... before running, or write "
                        f"${{{name.group()}:-default}})"
                    )
                parts.append(os.environ[name.group()])
                i = end + 1
                continue
            if text.startswith(":-", end):
                default, close = _expand(text, end + 2, where, inner=True)
                if close < len(text):
                    parts.append(os.environ.get(name.group()) or default)
                    i = close + 1
                    continue
        if inner and text[i] == "}":
            return "".join(parts), i
        parts.append(text[i])
        i += 1
    return "".join(parts), i
