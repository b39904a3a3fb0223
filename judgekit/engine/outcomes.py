"""What a model call comes to: its outcome, and the billed totals of all its attempts.

``CallOutcome`` is what ``engine.calls.Caller.call`` returns for one logical call (a
reply or the error that ended it); ``Attempts`` adds up what every attempt of that call
was billed, unusable replies included, so that every billed token lands on its row.
"""

from __future__ import annotations

from dataclasses import dataclass

from judgekit.errors import ErrorKind
from judgekit.records import Reply, Usage

PENDING = "pending in a provider batch"
"""A call's message when its answer will come from a provider batch (``judgekit.batch``):
the row is neither answered nor failed yet."""


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """What one logical call produced: a reply, or the error that ended it."""

    reply: Reply | None
    error: ErrorKind | None
    message: str
    cost_usd: float | None
    """Every attempt of the call, billed unusable replies included (from the cache: what
    the answer cost when it was paid for); None when unknown: the model has no price, or a
    reply reported no usage."""
    latency_ms: float | None
    cached: bool = False
    input_tokens: int | None = 0
    """Billed input tokens of every attempt, like ``cost_usd``; None when one reported no
    usage (unknown is not zero)."""
    output_tokens: int | None = 0
    cut_off: bool = False
    """The call ended on a reply cut off at ``max_output_tokens``."""


@dataclass(slots=True)
class Attempts:
    """What the attempts of one logical call came to: billed tokens and cost, so that
    every billed token lands on its row.  A reply without usage makes the tokens unknown
    (None), an unknown cost makes the cost unknown."""

    input_tokens: int | None = 0
    output_tokens: int | None = 0
    cost_usd: float | None = 0.0
    cut_off: bool = False
    """The last unusable reply was cut off at the output cap."""

    def add(self, usage: Usage | None, cost_usd: float | None) -> None:
        """Count one billed reply (or a cached answer's original bill)."""
        if usage is None:
            self.input_tokens = self.output_tokens = None
        elif self.input_tokens is not None and self.output_tokens is not None:
            self.input_tokens += usage.input_tokens
            self.output_tokens += usage.output_tokens
        if cost_usd is None:
            self.cost_usd = None
        elif self.cost_usd is not None:
            self.cost_usd += cost_usd

    def settle(self, outcome: CallOutcome) -> CallOutcome:
        """``outcome`` carrying the totals of every attempt."""
        # Built field by field, not with dataclasses.replace (which inspects the fields on
        # every call): this runs once per model call.
        return CallOutcome(
            reply=outcome.reply,
            error=outcome.error,
            message=outcome.message,
            cost_usd=self.cost_usd,
            latency_ms=outcome.latency_ms,
            cached=outcome.cached,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cut_off=outcome.reply is None and self.cut_off,
        )
