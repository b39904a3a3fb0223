"""Live counters of a run and the immutable snapshots handed to progress displays."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Counters:
    """Mutable tallies, updated on the event loop thread as results arrive."""

    rows_total: int
    judgements_total: int
    rows_done: int = 0
    judgements_done: int = 0
    requests: int = 0
    """HTTP requests sent (retries and re-asks included)."""
    cache_hits: int = 0
    retries: int = 0
    rate_limited: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    spent_usd: float = 0.0
    """Known new spend of this run (replies of unknown cost are counted apart, below)."""
    saved_usd: float = 0.0
    """What the cached answers cost when they were paid for."""
    errors: Counter[str] = field(default_factory=Counter)
    calls_without_usage: int = 0
    """Billed replies that reported no usage: their cost is unknown."""
    charged_without_usage_usd: float = 0.0
    """The worst cases those replies keep charged against the budget."""
    calls_without_price: int = 0
    """Replies of models without a known price: their cost is unknown."""
    rule_judgements_done: int = 0
    """Judgements by rule judges (free, local): no part of the error rate."""
    rule_errors: int = 0
    """Rule judgements that ended in an error (also counted in ``errors``)."""

    def snapshot(self, elapsed_s: float, budget_usd: float | None) -> Snapshot:
        """A frozen copy for displays."""
        return Snapshot(
            rows_total=self.rows_total,
            rows_done=self.rows_done,
            judgements_total=self.judgements_total,
            judgements_done=self.judgements_done,
            requests=self.requests,
            cache_hits=self.cache_hits,
            retries=self.retries,
            rate_limited=self.rate_limited,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            spent_usd=self.spent_usd,
            saved_usd=self.saved_usd,
            budget_usd=budget_usd,
            errors=dict(self.errors),
            elapsed_s=elapsed_s,
            calls_without_usage=self.calls_without_usage,
            charged_without_usage_usd=self.charged_without_usage_usd,
            calls_without_price=self.calls_without_price,
            rule_judgements_done=self.rule_judgements_done,
            rule_errors=self.rule_errors,
        )


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The state of a run at one moment (progress lines, the summary, --summary-json)."""

    rows_total: int
    rows_done: int
    judgements_total: int
    judgements_done: int
    requests: int
    cache_hits: int
    retries: int
    rate_limited: int
    input_tokens: int
    output_tokens: int
    spent_usd: float
    saved_usd: float
    budget_usd: float | None
    errors: dict[str, int]
    elapsed_s: float
    calls_without_usage: int = 0
    charged_without_usage_usd: float = 0.0
    calls_without_price: int = 0

    @property
    def spend_known(self) -> bool:
        """Whether ``spent_usd`` is the whole spend (no reply of unknown cost)."""
        return self.calls_without_usage == 0 and self.calls_without_price == 0

    rule_judgements_done: int = 0
    rule_errors: int = 0

    @property
    def error_count(self) -> int:
        """Judgements that ended in an error."""
        return sum(self.errors.values())

    @property
    def requests_per_s(self) -> float:
        """Mean request rate so far."""
        return self.requests / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the current pace, when it can be told."""
        if self.judgements_done == 0 or self.elapsed_s <= 0:
            return None
        left = self.judgements_total - self.judgements_done
        return left * self.elapsed_s / self.judgements_done

    @property
    def llm_judgements_done(self) -> int:
        """LLM judgements that ran (answered or failed), budget exhaustion aside."""
        unscored = self.errors.get("budget_exhausted", 0)
        return self.judgements_done - self.rule_judgements_done - unscored

    @property
    def llm_failed(self) -> int:
        """LLM judgements that ended in an error, budget exhaustion aside."""
        return self.error_count - self.rule_errors - self.errors.get("budget_exhausted", 0)

    @property
    def error_rate(self) -> float:
        """Share of LLM judgements that failed, budget exhaustion aside (0 when none ran).

        Rule judgements are free and local: counting them would dilute the rate of the
        judgements ``max_error_rate`` is about."""
        done = self.llm_judgements_done
        return self.llm_failed / done if done > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        """Plain figures for --summary-json."""
        return {
            "rows": self.rows_total,
            "rows_done": self.rows_done,
            "judgements": self.judgements_total,
            "judgements_done": self.judgements_done,
            "requests": self.requests,
            "cache_hits": self.cache_hits,
            "retries": self.retries,
            "rate_limited": self.rate_limited,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "spent_usd": round(self.spent_usd, 6),
            "saved_by_cache_usd": round(self.saved_usd, 6),
            "budget_usd": self.budget_usd,
            "errors": dict(sorted(self.errors.items())),
            "wall_s": round(self.elapsed_s, 3),
            "calls_without_usage": self.calls_without_usage,
            "charged_without_usage_usd": round(self.charged_without_usage_usd, 6),
            "calls_without_price": self.calls_without_price,
        }
