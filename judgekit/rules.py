"""Rule judges: offline, deterministic checks that need no model and no network.

Each rule turns one row into a ``Verdict`` with a score in 0..1 and a short
reason.  Semantics:

- ``exact``: equality after stripping and collapsing whitespace (and
  case-folding with ``ignore_case``).  A list of expected values means
  "any of these answers is right".
- ``contains``: the expected text (or the judge's ``text``) occurs in the
  output, both normalised as for ``exact``.  A list of expected values means
  "all of them must occur" (a checklist of required facts); the reason names
  the first one missing.
- ``not_contains``: none of the expected texts (or the judge's ``text``)
  occurs in the output, normalised as for ``exact``; the reason names the
  first one found.
- ``regex``: ``re.search`` of ``pattern`` (or of the expected value, or any of
  a list of them) in the output; ``ignore_case`` adds ``re.IGNORECASE``.
- ``json_valid``: the output is JSON (``NaN``/``Infinity`` are not); a value
  that is already a dict, list, number or bool counts as valid.
- ``token_f1``: SQuAD token F1 (punctuation and the articles a/an/the removed,
  lowercased unless ``ignore_case`` is false); with a list, the best match.
  Computed exactly, as the fraction 2·common / (output tokens + expected
  tokens) in one correctly rounded division: an F1 of exactly 3/4 is 0.75,
  not the 0.7499999999999999 that 2·p·r / (p + r) gives.

A missing output (None) scores 0 with reason "output is empty": the model under
test produced nothing.  A row that cannot be judged at all (no expected value,
or an expected value that is not a valid regular expression) raises
``ValueError`` with the reason; the engine records it as ``bad_request``.
"""

from __future__ import annotations

import functools
import json
import re
import string
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Literal, NoReturn

from judgekit.records import Verdict

RuleKind = Literal["exact", "contains", "not_contains", "regex", "json_valid", "token_f1"]

_PUNCTUATION = str.maketrans("", "", string.punctuation)
_ARTICLES = frozenset({"a", "an", "the"})
_EMPTY_OUTPUT = Verdict(score=0.0, reasoning="output is empty")


def apply_rule(
    kind: RuleKind,
    output: object,
    expected: object,
    *,
    pattern: str | None = None,
    ignore_case: bool = True,
) -> Verdict:
    """Score one row with a rule judge; ValueError when the row cannot be judged."""
    if output is None:
        return _EMPTY_OUTPUT
    if kind == "json_valid":
        return _json_valid(output)
    if kind == "regex":
        patterns = [pattern] if pattern is not None else _expected_texts(expected)
        return _regex(_text(output), patterns, ignore_case)
    check = _CHECKS[kind]
    return check(_text(output), _expected_texts(expected), ignore_case)


def _text(value: object) -> str:
    """A cell as text: strings as they are, lists and dicts as JSON, the rest via str()."""
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _expected_texts(expected: object) -> list[str]:
    """The expected value(s) as a non-empty list of texts; ValueError when there are none."""
    values = list(expected) if isinstance(expected, list | tuple) else [expected]
    texts = [_text(v) for v in values if v is not None]
    if not texts:
        raise ValueError("expected is empty")
    return texts


def _normalise(text: str, ignore_case: bool) -> str:
    collapsed = " ".join(text.split())
    return collapsed.casefold() if ignore_case else collapsed


def _exact(output: str, expected: list[str], ignore_case: bool) -> Verdict:
    got = _normalise(output, ignore_case)
    if any(got == _normalise(e, ignore_case) for e in expected):
        return Verdict(score=1.0, reasoning="exact match")
    return Verdict(score=0.0, reasoning=f"no exact match for {_quote(expected[0])}")


def _contains(output: str, expected: list[str], ignore_case: bool) -> Verdict:
    got = _normalise(output, ignore_case)
    for needle in expected:
        if _normalise(needle, ignore_case) not in got:
            return Verdict(score=0.0, reasoning=f"does not contain {_quote(needle)}")
    if len(expected) == 1:
        return Verdict(score=1.0, reasoning=f"contains {_quote(expected[0])}")
    return Verdict(score=1.0, reasoning=f"contains all {len(expected)} expected texts")


def _not_contains(output: str, expected: list[str], ignore_case: bool) -> Verdict:
    got = _normalise(output, ignore_case)
    for needle in expected:
        if _normalise(needle, ignore_case) in got:
            return Verdict(score=0.0, reasoning=f"contains {_quote(needle)}")
    if len(expected) == 1:
        return Verdict(score=1.0, reasoning=f"does not contain {_quote(expected[0])}")
    return Verdict(score=1.0, reasoning=f"contains none of the {len(expected)} texts")


@functools.lru_cache(maxsize=4096)
def _compiled(pattern: str, flags: int) -> re.Pattern[str]:
    """Compiled patterns, cached: a rule applies the same few patterns to every row."""
    try:
        return re.compile(pattern, flags)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {_quote(pattern)} ({exc})") from None


def _regex(output: str, patterns: Sequence[str], ignore_case: bool) -> Verdict:
    flags = re.IGNORECASE if ignore_case else 0
    for pattern in patterns:
        if _compiled(pattern, flags).search(output):
            return Verdict(score=1.0, reasoning=f"matches pattern {_quote(pattern)}")
    return Verdict(score=0.0, reasoning=f"no match for pattern {_quote(patterns[0])}")


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def _json_valid(output: object) -> Verdict:
    if not isinstance(output, str):
        # Already structured (a Parquet struct/list, a number): valid by construction.
        return Verdict(score=1.0, reasoning="valid JSON")
    try:
        json.loads(output, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        return Verdict(score=0.0, reasoning=f"invalid JSON: {exc.msg} ({where})")
    except ValueError as exc:  # NaN / Infinity, or a number too large to convert
        return Verdict(score=0.0, reasoning=f"invalid JSON: {exc}")
    return Verdict(score=1.0, reasoning="valid JSON")


def _tokens(text: str, ignore_case: bool) -> list[str]:
    """SQuAD normalisation: (lowercase,) drop punctuation, split, drop articles."""
    # Articles are dropped as whole tokens (a set lookup, 3x faster than
    # SQuAD's regex); on ASCII text the result is the same.
    if ignore_case:
        return [w for w in text.lower().translate(_PUNCTUATION).split() if w not in _ARTICLES]
    return [w for w in text.translate(_PUNCTUATION).split() if w.lower() not in _ARTICLES]


def token_f1(output: str, expected: str, ignore_case: bool = True) -> float:
    """SQuAD token F1 of ``output`` against ``expected``; 1.0 when both have no tokens."""
    got, want = _tokens(output, ignore_case), _tokens(expected, ignore_case)
    if not got or not want:
        return float(got == want)
    remaining = Counter(want)
    common = 0
    for token in got:  # size of the multiset intersection, without a second Counter
        if remaining[token] > 0:
            remaining[token] -= 1
            common += 1
    # 2pr / (p + r) with p = common/len(got), r = common/len(want), as one exact fraction:
    # int / int is correctly rounded, while the float p and r each round on their own.
    return 2 * common / (len(got) + len(want))


def _token_f1(output: str, expected: list[str], ignore_case: bool) -> Verdict:
    score = max(token_f1(output, e, ignore_case) for e in expected)
    return Verdict(score=score, reasoning=f"token F1 {score:.2f}")


def _quote(text: str) -> str:
    """A value for a reason: quoted, and cut so a long cell cannot flood the output."""
    short = text if len(text) <= 60 else text[:57] + "..."
    return "'" + short.replace("\n", "\\n") + "'"


_CHECKS: dict[str, Callable[[str, list[str], bool], Verdict]] = {
    "exact": _exact,
    "contains": _contains,
    "not_contains": _not_contains,
    "token_f1": _token_f1,
}
