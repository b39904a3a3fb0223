"""What a model call comes to: ``Attempts.settle`` carries every attempt's totals onto the
outcome and keeps everything else the outcome says."""

from __future__ import annotations

from dataclasses import fields

from judgekit.engine.outcomes import Attempts, CallOutcome
from judgekit.records import Reply, Usage

SETTLED = {"cost_usd", "input_tokens", "output_tokens", "cut_off"}


def test_settle_keeps_every_other_field_of_the_outcome() -> None:
    reply = Reply(text='{"score": 1}', usage=Usage(10, 2, 0, 0, 0), model="m", response_id="r")
    outcome = CallOutcome(reply, None, "said", 0.5, 12.5, cached=True, input_tokens=10)
    attempts = Attempts()
    attempts.add(Usage(7, 3, 0, 0, 0), 0.25)
    attempts.add(Usage(10, 2, 0, 0, 0), 0.5)
    settled = attempts.settle(outcome)
    kept = {f.name for f in fields(CallOutcome)} - SETTLED
    assert {name: getattr(settled, name) for name in kept} == {
        name: getattr(outcome, name) for name in kept
    }
    assert (settled.cost_usd, settled.input_tokens, settled.output_tokens) == (0.75, 17, 5)
    assert settled.cut_off is False


def test_an_unknown_bill_makes_the_totals_unknown_and_a_cut_off_failure_says_so() -> None:
    attempts = Attempts()
    attempts.add(None, None)  # a reply without usage, so without a known cost
    attempts.cut_off = True
    settled = attempts.settle(CallOutcome(None, "malformed_response", "cut off", 0.0, None))
    assert (settled.cost_usd, settled.input_tokens, settled.output_tokens) == (None, None, None)
    assert settled.cut_off is True
