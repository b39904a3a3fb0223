"""Parse a judge's reply into a ``Verdict``: tolerant of wrapping, strict on values.

Where the JSON may sit: alone, inside a ```json fence, or between prose.  The
first ``{...}`` that parses as a JSON object and has a ``score`` or
``criteria`` key is the verdict (``json.JSONDecoder.raw_decode`` from each
``{``; a lone wrapper such as ``{"evaluation": {...}}`` is opened); failing
that, the first object that parses, so the error can say what it lacks.

What the values must be (anything else raises ``MalformedVerdict``, never a
silent 0 and never a clamp):

- ``score``: a finite number, or a string holding one (``"4"``; some models
  quote numbers in prompt-only mode); booleans are refused.  It must lie in
  ``[low, high]`` and be integral on an integer scale.  It is normalised to
  0..1 as ``(score - low) / (high - low)``.
- ``reasoning``: a string; missing or null becomes ``""``.
- ``confidence``: optional (missing or null -> None); otherwise a number in 0..1.
- ``criteria``: when criteria are asked for, an object holding every named
  criterion on the same scale as ``score`` (extra keys are ignored).
- With ``weights``, judgekit computes the score itself as
  ``sum(w * criterion) / sum(w)`` over the normalised criteria.  The judge's own
  ``score`` may then be missing, but when present it must still be valid: a
  score off the scale means the judge misread it, so its criteria cannot be
  trusted either.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from judgekit.records import Scale, Verdict

_DECODER = json.JSONDecoder()
_VERDICT_KEYS = ("score", "criteria")


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
    names = list(dict.fromkeys([*criteria, *(weights or {})]))
    scores = _criteria(obj, names, scale) if names else None
    if weights:
        assert scores is not None  # names include every weighted criterion
        if "score" in obj and obj["score"] is not None:
            _on_scale("score", obj["score"], scale)
        score = _weighted(scores, weights)
    else:
        if obj.get("score") is None:
            raise MalformedVerdict("missing score")
        score = _on_scale("score", obj["score"], scale)
    return Verdict(
        score=score,
        reasoning=_reasoning(obj.get("reasoning")),
        confidence=_confidence(obj.get("confidence")),
        criteria=scores,
    )


def find_object(text: str) -> dict[str, Any]:
    """The first JSON object in ``text`` that looks like a verdict; MalformedVerdict if none."""
    if not text.strip():
        raise MalformedVerdict("empty reply")
    first: dict[str, Any] | None = None
    start = text.find("{")
    while start != -1:
        try:
            value, end = _DECODER.raw_decode(text, start)
        except json.JSONDecodeError:
            start = text.find("{", start + 1)
            continue
        if isinstance(value, dict):
            verdict = _verdict_in(value)
            if verdict is not None:
                return verdict
            first = first if first is not None else value
        # Skip the whole parsed object: its nested objects are not candidates.
        start = text.find("{", end)
    if first is None:
        raise MalformedVerdict("no JSON object in reply")
    return first


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
    if isinstance(value, bool):
        raise MalformedVerdict(f"{name} is a boolean, not a number")
    if isinstance(value, int | float):
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
    bounds = f"{scale.low:g}..{scale.high:g}"
    if not scale.low <= number <= scale.high:
        raise MalformedVerdict(f"{name} {number:g} outside scale {bounds}")
    if scale.integer and not number.is_integer():
        raise MalformedVerdict(f"{name} {number:g} is not an integer (scale {bounds})")
    return (number - scale.low) / (scale.high - scale.low)


def _criteria(obj: Mapping[str, Any], names: Sequence[str], scale: Scale) -> dict[str, float]:
    """Every named criterion, on the scale, normalised; extra keys ignored."""
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


def _weighted(scores: Mapping[str, float], weights: Mapping[str, float]) -> float:
    """Weighted mean of normalised criteria; kept within 0..1 against float rounding."""
    total = math.fsum(weights.values())
    if total <= 0:
        raise ValueError("criteria weights must sum to a positive number")
    score = math.fsum(w * scores[name] for name, w in weights.items()) / total
    return min(1.0, max(0.0, score))


def _reasoning(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MalformedVerdict("reasoning is not a string")
    return value.strip()


def _confidence(value: object) -> float | None:
    if value is None:
        return None
    number = _number("confidence", value)
    if not 0.0 <= number <= 1.0:
        raise MalformedVerdict(f"confidence {number:g} outside 0..1")
    return number


def _short(value: object) -> str:
    """A value for an error message, cut so a huge reply cannot flood it."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."
