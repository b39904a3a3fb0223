"""Parse a judge's reply into a ``Verdict``: tolerant of wrapping, strict on the score.

Reasoning is never the verdict.  Before anything is looked for, reasoning text is
blanked out: every ``<think>``, ``<thinking>`` or ``<reasoning>`` block (any case,
attributes allowed), everything before a lone closing tag (a model whose chat
template opened the block in the prompt starts its reply inside it), and
everything after an opening tag that is never closed.

Where the JSON may sit in what is left: alone, inside a ```json fence, or between
prose.  Each ``{`` starts a candidate; a candidate that is a complete JSON object
(raw line breaks inside strings allowed) is taken as is, and a candidate whose
braces balance but which is not valid JSON (a trailing comma, single quotes, a
missing comma) is mended with ``json_repair``.  A candidate whose braces never
close (a reply cut off mid-object) is never mended: mending it could invent a
score.  Of the objects that have a ``score`` or ``criteria`` key (a lone wrapper
such as ``{"evaluation": {...}}`` is opened), the LAST one is the verdict: a judge
that drafts and then corrects itself means the correction.  With none, the error
says what the reply lacks: the first object without a score (``missing score``),
else where the first JSON attempt breaks (``invalid JSON: the object at line 1
column 1 is never closed (cut off?)``), else ``no JSON object in reply``.

What the values must be (anything else raises ``MalformedVerdict``, never a
silent 0 and never a clamp):

- ``score``: a finite number, or a string holding one (``"4"``; some models
  quote numbers in prompt-only mode); booleans are refused.  It must lie in
  ``[low, high]`` and be integral on an integer scale.  It is normalised to
  0..1 as ``(score - low) / (high - low)``.
- With ``weights``, judgekit computes the score itself as
  ``sum(w * criterion) / sum(w)`` over the normalised criteria, so every weighted
  criterion must then be valid.  The judge's own ``score`` may be missing, but
  when present it must still be valid: a score off the scale means the judge
  misread it, so its criteria cannot be trusted either.

Optional fields never throw a valid score away; filled badly, they become null:

- ``reasoning``: a string (stripped); anything else becomes ``""``.
- ``confidence``: a number in 0..1; anything else becomes None.
- ``criteria`` without weights: each named criterion on the score's scale,
  normalised; a missing or invalid one is None, and no criteria object at all is
  None (extra keys are ignored).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from judgekit.records import Scale, Verdict
from judgekit.unicode_text import utf8_values

_DECODER = json.JSONDecoder(strict=False)  # strict=False: raw line breaks inside strings
_VERDICT_KEYS = ("score", "criteria")
_REASONING_TAG = re.compile(r"<(/?)(?:think|thinking|reasoning)\b[^>]*>", re.IGNORECASE)


class MalformedVerdict(ValueError):
    """A judge reply that is not a usable verdict; the message is the short reason."""


def parse_verdict(
    text: str,
    scale: Scale,
    criteria: Sequence[str] = (),
    weights: Mapping[str, float] | None = None,
) -> Verdict:
    """The verdict in a judge's reply, score normalised to 0..1; MalformedVerdict if unusable."""
    obj = find_object(text)
    if weights:
        names = list(dict.fromkeys([*criteria, *weights]))
        scores = _weighted_criteria(obj, names, scale)
        if "score" in obj and obj["score"] is not None:
            _on_scale("score", obj["score"], scale)
        score = _weighted(scores, weights)
        kept: dict[str, float | None] | None = dict(scores)
    else:
        if obj.get("score") is None:
            raise MalformedVerdict("missing score")
        score = _on_scale("score", obj["score"], scale)
        kept = _optional_criteria(obj.get("criteria"), criteria, scale) if criteria else None
    return Verdict(
        score=score,
        reasoning=_reasoning(obj.get("reasoning")),
        confidence=_confidence(obj.get("confidence")),
        criteria=kept,
    )


def without_reasoning(text: str) -> str:
    """``text`` with its reasoning blanked out (see the module docstring); line breaks are
    kept, so positions in error messages still point into the original reply."""
    blank: list[tuple[int, int]] = []
    opened: int | None = None
    for match in _REASONING_TAG.finditer(text):
        closing = match.group(1) == "/"
        if not closing and opened is None:
            opened = match.start()
        elif closing and opened is not None:
            blank.append((opened, match.end()))
            opened = None
        elif closing:  # a lone closing tag: everything before it was reasoning
            blank = [(0, match.end())]
    if opened is not None:  # never closed: the rest is reasoning
        blank.append((opened, len(text)))
    if not blank:
        return text
    chars = list(text)
    for start, end in blank:
        for i in range(start, end):
            if chars[i] != "\n":
                chars[i] = " "
    return "".join(chars)


def find_object(text: str) -> dict[str, Any]:
    """The last JSON object in ``text`` that looks like a verdict, reasoning excluded; else
    the first object, so the caller can say what it lacks; MalformedVerdict when none."""
    if not text.strip():
        raise MalformedVerdict("empty reply")
    answer = without_reasoning(text)
    if not answer.strip():
        raise MalformedVerdict("the reply holds only reasoning (<think>...), no verdict after it")
    whole = answer.strip()
    if whole[:1] == "{" and whole[-1:] == "}":  # the usual reply: one object, nothing else
        try:
            value = orjson.loads(whole)
        except orjson.JSONDecodeError:
            pass  # raw line breaks, single quotes, prose between objects: the scan below
        else:
            if isinstance(value, dict):
                return _verdict_in(value) or value
    verdict: dict[str, Any] | None = None
    first: dict[str, Any] | None = None
    broken: str | None = None
    start = answer.find("{")
    while start != -1:
        value, end, problem = _decode_at(answer, start)
        if isinstance(value, dict):
            found = _verdict_in(value)
            if found is not None:
                verdict = found
            elif first is None:
                first = value
            # Skip the whole object: its nested objects are not candidates.
            start = answer.find("{", end)
            continue
        if broken is None:
            broken = problem
        start = answer.find("{", start + 1)
    # The standard library's decoder and json_repair keep an escaped lone surrogate.
    if verdict is not None:
        return utf8_values(verdict)  # type: ignore[no-any-return]
    if first is not None:
        return utf8_values(first)  # type: ignore[no-any-return]
    raise MalformedVerdict(broken or "no JSON object in reply")


def _decode_at(text: str, start: int) -> tuple[Any, int, str | None]:
    """(value, end, None) for the JSON value at ``start``, mended when its braces balance;
    (None, start, why) when it is a broken JSON attempt; (None, start, None) otherwise."""
    try:
        value, end = _DECODER.raw_decode(text, start)
        return value, end, None
    except json.JSONDecodeError as exc:
        error = exc
    closed = _balanced_end(text, start)
    span = text[start:closed] if closed is not None else text[start:]
    if '"' not in span and "'" not in span:
        return None, start, None  # prose in braces ("the {output} was odd"), not JSON
    if closed is not None:
        import json_repair  # here: a run without LLM judges never loads it

        mended = json_repair.loads(span, skip_json_loads=True)
        if isinstance(mended, dict) and mended:
            return mended, closed, None
    if closed is None:
        line = text.count("\n", 0, start) + 1
        column = start - text.rfind("\n", 0, start)
        where = f"line {line} column {column}"
        return None, start, f"invalid JSON: the object at {where} is never closed (cut off?)"
    where = f"line {error.lineno} column {error.colno}"
    return None, start, f"invalid JSON at {where}: {error.msg}"


def _balanced_end(text: str, start: int) -> int | None:
    """The index after the brace that closes the one at ``start`` (braces inside double-quoted
    strings ignored); None when it never closes."""
    depth = 0
    in_string = escaped = False
    for i in range(start, len(text)):
        char = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return i + 1
    return None


def _verdict_in(value: dict[str, Any]) -> dict[str, Any] | None:
    """``value`` if it has verdict keys, or its one nested object that has them."""
    if any(key in value for key in _VERDICT_KEYS):
        return value
    # Some models wrap the answer: {"evaluation": {"score": 4, ...}}.
    nested = [v for v in value.values() if isinstance(v, dict)]
    if len(nested) == 1 and any(key in nested[0] for key in _VERDICT_KEYS):
        return nested[0]
    return None


def _number(name: str, value: object) -> float:
    """A finite float from a JSON number or numeric string; MalformedVerdict otherwise."""
    if type(value) is int or type(value) is float:  # the usual reply: no isinstance ladder
        number = float(value)
    elif isinstance(value, bool):
        raise MalformedVerdict(f"{name} is a boolean, not a number")
    elif isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise MalformedVerdict(f"{name} {_short(value)} is not a number") from None
    else:
        raise MalformedVerdict(f"{name} {_short(value)} is not a number")
    if not math.isfinite(number):
        raise MalformedVerdict(f"{name} is not a finite number")
    return number


def _on_scale(name: str, value: object, scale: Scale) -> float:
    """``value`` checked against ``scale`` and normalised to 0..1."""
    number = _number(name, value)
    if not scale.low <= number <= scale.high:
        raise MalformedVerdict(f"{name} {number:g} outside scale {_bounds(scale)}")
    if scale.integer and not number.is_integer():
        raise MalformedVerdict(f"{name} {number:g} is not an integer (scale {_bounds(scale)})")
    return (number - scale.low) / (scale.high - scale.low)


def _bounds(scale: Scale) -> str:
    """A scale for an error message: ``1..5``."""
    return f"{scale.low:g}..{scale.high:g}"


def _weighted_criteria(
    obj: Mapping[str, Any], names: Sequence[str], scale: Scale
) -> dict[str, float]:
    """Every weighted criterion, on the scale, normalised: they make the score, so each
    must be valid; extra keys ignored."""
    given = obj.get("criteria")
    if given is None:
        raise MalformedVerdict(f"missing criterion '{names[0]}'")
    if not isinstance(given, dict):
        raise MalformedVerdict("criteria is not an object")
    scores = {}
    for name in names:
        if given.get(name) is None:
            raise MalformedVerdict(f"missing criterion '{name}'")
        scores[name] = _on_scale(f"criterion '{name}'", given[name], scale)
    return scores


def _optional_criteria(
    given: object, names: Sequence[str], scale: Scale
) -> dict[str, float | None] | None:
    """Unweighted criteria: each valid one normalised, each missing or invalid one None."""
    if not isinstance(given, dict):
        return None
    scores: dict[str, float | None] = {}
    for name in names:
        try:
            scores[name] = _on_scale(name, given.get(name), scale)
        except MalformedVerdict:
            scores[name] = None
    return scores


def _weighted(scores: Mapping[str, float], weights: Mapping[str, float]) -> float:
    """Weighted mean of normalised criteria; kept within 0..1 against float rounding."""
    total = math.fsum(weights.values())
    if total <= 0:
        raise ValueError("criteria weights must sum to a positive number")
    score = math.fsum(w * scores[name] for name, w in weights.items()) / total
    return min(1.0, max(0.0, score))


def _reasoning(value: object) -> str:
    """The judge's reasoning, stripped; ``""`` when missing or not a string."""
    return value.strip() if isinstance(value, str) else ""


def _confidence(value: object) -> float | None:
    """A confidence in 0..1, or None when missing or filled badly ("high", 1.5)."""
    if value is None:
        return None
    try:
        number = _number("confidence", value)
    except MalformedVerdict:
        return None
    return number if 0.0 <= number <= 1.0 else None


def _short(value: object) -> str:
    """A value for an error message, cut so a huge reply cannot flood it."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."
