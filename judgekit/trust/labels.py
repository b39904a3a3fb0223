"""Human labels: the words that mean pass, fail or exclude, read into codes.

Labels compare lowercased and stripped; ``1.0`` in a float column reads as
``"1"``; blank and null are unlabelled; an unknown word is a ``DatasetError``
naming the most frequent unknown words and how to map them.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from judgekit.config import LabelMeaning
from judgekit.errors import ConfigError, DatasetError

DEFAULT_LABELS: Mapping[str, LabelMeaning] = {
    **dict.fromkeys(("correct", "pass", "true", "yes", "1"), "pass"),
    **dict.fromkeys(("incorrect", "fail", "false", "no", "0"), "fail"),
    **dict.fromkeys(("unsure", "unknown", "skip"), "exclude"),
}
"""Human label words (compared lowercased and stripped); blank and null are unlabelled."""

_CODES: Mapping[LabelMeaning, int] = {"pass": 1, "fail": 0, "exclude": -1}
_SHOWN = 8  # unknown labels named in one error message


def label_vocabulary(extra: Mapping[str, LabelMeaning]) -> dict[str, LabelMeaning]:
    """The default words plus ``[agreement] labels`` (which win), lowercased."""
    vocabulary = dict(DEFAULT_LABELS)
    for word, meaning in extra.items():
        key = word.strip().lower()
        if not key:
            raise ConfigError("[agreement] labels: a blank label is always unlabelled; remove it")
        vocabulary[key] = meaning
    return vocabulary


def label_codes(values: pl.Series, vocabulary: Mapping[str, LabelMeaning], where: str) -> pl.Series:
    """Int8 codes: 1 pass, 0 fail, -1 excluded, null unlabelled; unknown words raise."""
    text = _label_text(values, where)
    codes = text.replace_strict(
        {word: _CODES[meaning] for word, meaning in vocabulary.items()},
        default=None,
        return_dtype=pl.Int8,
    )
    unknown = (text != "") & codes.is_null()
    if unknown.any():
        raise DatasetError(
            f"{where}: unknown labels: {_tally(text, unknown)}; "
            f"known: {', '.join(vocabulary)}; map them in [agreement] labels"
        )
    return pl.select(pl.when(text == "").then(None).otherwise(codes)).to_series().rename("code")


def _label_text(values: pl.Series, where: str) -> pl.Series:
    """Labels as stripped lowercase text; 1.0 reads as "1", NaN as null."""
    try:
        if values.dtype.is_float():
            finite = values.fill_nan(None)
            integral = finite == finite.floor()
            as_int = finite.cast(pl.Int64, strict=False).cast(pl.String)
            text = pl.select(pl.when(integral).then(as_int).otherwise(finite.cast(pl.String)))
            values = text.to_series()
        return values.cast(pl.String).str.strip_chars().str.to_lowercase()
    except pl.exceptions.PolarsError:
        raise DatasetError(f"{where}: holds {values.dtype} values, not labels") from None


def _tally(values: pl.Series, mask: pl.Series) -> str:
    """``'maybe' (3), 'n/a' (1)``: the most frequent first.  Give the lowercased text:
    labels are case-insensitive, so ``Maybe`` and ``maybe`` are one unknown label."""
    found = values.filter(mask).cast(pl.String).str.strip_chars().value_counts(name="n")
    found = found.sort(["n", found.columns[0]], descending=[True, False])
    shown = [f"'{word}' ({n})" for word, n in found.head(_SHOWN).iter_rows()]
    more = f", … ({found.height - _SHOWN} more)" if found.height > _SHOWN else ""
    return ", ".join(shown) + more
