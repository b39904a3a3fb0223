"""Text that UTF-8 can hold: what a lone surrogate from a provider's JSON becomes.

JSON may escape half of a UTF-16 pair on its own (``"\\ud83d"``: a model that cut an
emoji's escape short).  Python's ``json`` decodes it to a lone surrogate, which no UTF-8
writer accepts: SQLite refuses to store it, Arrow to write it.  judgekit replaces each
with U+FFFD, as a UTF-8 decoder does with bytes it cannot read; all other text is kept
exactly.  orjson refuses such JSON outright, so only the standard library's decoding
(judgekit's fallback for the rare body or verdict orjson cannot read) needs this.
"""

from __future__ import annotations

from typing import Any

REPLACEMENT = "\ufffd"


def utf8_text(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD (the same object when it has
    none: the usual case costs one ``isascii``, or one encode)."""
    if _surrogate_at(text) is None:
        return text
    return "".join(REPLACEMENT if "\ud800" <= c <= "\udfff" else c for c in text)


def _surrogate_at(text: str) -> int | None:
    """Where the first lone surrogate of ``text`` is, if any (one ``isascii``, or one
    encode, for text that has none)."""
    if text.isascii():
        return None
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def utf8_values(value: Any) -> Any:
    """``value`` (decoded JSON: dicts, lists, strings, numbers) with ``utf8_text`` applied
    to every string in it, keys included."""
    if isinstance(value, str):
        return utf8_text(value)
    if isinstance(value, dict):
        return {utf8_text(k) if isinstance(k, str) else k: utf8_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [utf8_values(v) for v in value]
    return value


def lone_surrogate(value: Any) -> str | None:
    """The first lone surrogate in ``value`` (decoded JSON: strings, keys included, in
    dicts and lists), as its JSON escape (``"\\ud800"``), or None when it holds none."""
    if isinstance(value, str):
        at = _surrogate_at(value)
        return None if at is None else f"\\u{ord(value[at]):04x}"
    if isinstance(value, dict):
        for key, item in value.items():
            found = lone_surrogate(key) or lone_surrogate(item)
            if found is not None:
                return found
    elif isinstance(value, list):
        for item in value:
            found = lone_surrogate(item)
            if found is not None:
                return found
    return None
