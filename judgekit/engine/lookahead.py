"""Cache lookups for a run's next calls, made together before they are queued.

Looking one answer up in SQLite costs ~20 us of client CPU per call in a run at 100 ms
latency (``make bench`` S1): a read transaction of its own, with the CPU's caches cold
between calls.  The producer instead prepares the first call of each row of a plain LLM
judge (one call per row: no samples, not pairwise) ``LOOKAHEAD`` rows at a time, builds
their requests and keys, and looks every key up in one statement
(``AnswerCache.get_many``).  The worker then sends the request it was handed.

A lookup made ahead is used only while it is still true:

- an answer this run stored since is in the cache's memory until it reaches SQLite, and
  until the commit after the one that took it there (``AnswerCache.held``); after two
  commits (``AnswerCache.stores``), the key is looked up again;
- a request is used only for the call it was built from, while no server quirk was
  learnt since (one would change the call, and so the request).

Another process's answer stored in the fraction of a second between the lookup and the
send is not seen: the call is paid, as it would be by two runs sending the same call at
once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from judgekit.cache import AnswerCache, CachedAnswer, NoCache, request_key
from judgekit.engine.plan import ConnectionPlan
from judgekit.records import ModelCall

LOOKAHEAD = 64
"""Rows whose first calls are prepared and looked up together."""


@dataclass(frozen=True, slots=True)
class FirstRequest:
    """A call's first request, built and looked up before the call was queued."""

    asked: ModelCall
    """The call as the judge prepared it."""
    call: ModelCall
    """The call as sent: the connection's quirks known at ``learnt`` applied."""
    learnt: int
    """``ServerQuirks.learnt`` when the quirks were applied."""
    request: httpx.Request
    key: str
    cached: CachedAnswer | None
    """The stored answer when the lookup was made, if any."""
    stores: int
    """``cache.stores`` when the lookup was made."""


def first_requests(
    cache: AnswerCache | NoCache,
    calls: Sequence[tuple[ConnectionPlan, ModelCall, ModelCall]],
    learnt: int,
) -> list[FirstRequest]:
    """The requests of ``calls`` (connection, the call asked, the call with the quirks
    known at ``learnt`` applied), with one lookup for them all."""
    built = []
    for connection, asked, call in calls:
        request = connection.adapter.build_request(connection.endpoint, call)
        key = request_key(request, connection.config.cache_endpoint)
        built.append((asked, call, request, key))
    stores = cache.stores
    found = cache.get_many([key for *_, key in built])
    return [
        FirstRequest(asked, call, learnt, request, key, found.get(key), stores)
        for asked, call, request, key in built
    ]


def still_cached(cache: AnswerCache | NoCache, first: FirstRequest) -> CachedAnswer | None:
    """The answer for ``first``'s key now: from this run's memory, else the lookup made
    ahead while at most one commit was made since (``held`` knows its answers), else a
    fresh lookup."""
    held = cache.held(first.key)
    if held is not None:
        return held
    if cache.stores - first.stores <= 1:
        return first.cached
    return cache.get(first.key)
