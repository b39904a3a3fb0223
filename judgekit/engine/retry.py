"""How long to wait before retrying a transient failure."""

from __future__ import annotations

import random

BASE_DELAY_S = 0.25
MAX_DELAY_S = 20.0


def backoff_s(attempt: int, rng: random.Random, retry_after_s: float | None = None) -> float:
    """Delay before retry number ``attempt`` (1-based): the server's Retry-After when it
    gave one, else exponential backoff with full jitter (spreads a retry storm)."""
    if retry_after_s is not None:
        return retry_after_s
    ceiling = min(MAX_DELAY_S, BASE_DELAY_S * 2 ** (attempt - 1))
    return rng.uniform(ceiling / 2, ceiling)
