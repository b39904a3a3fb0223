"""What servers turn out not to accept, learnt once and remembered: the output mode,
``temperature``, the name of the output-token parameter.

A 400 that names a parameter moves a call down the fallback ladder
(``providers.wire.fallback_call``); ``ServerQuirks`` remembers the move for the rest of
the run and in the answer cache, so that every later call, and the next run, starts
where it works instead of probing again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

from judgekit.cache import AnswerCache, NoCache
from judgekit.engine.plan import ConnectionPlan
from judgekit.providers.wire import OUTPUT_MODES
from judgekit.records import ModelCall


@dataclass(frozen=True, slots=True)
class Quirks:
    """What a connection's server turned out not to accept, learnt once per run."""

    output_mode: str | None = None
    drop_temperature: bool = False
    token_param: str | None = None


class ServerQuirks:
    """The quirks of every endpoint a run calls: loaded from the cache on first use,
    learnt from fallbacks, stored back (best effort) and said once."""

    def __init__(self, cache: AnswerCache | NoCache, notice: Callable[[str], None]) -> None:
        self._cache = cache
        self._notice = notice
        self._quirks: dict[str, Quirks | None] = {}
        self.learnt = 0
        """Fallbacks learnt so far: a call prepared before the count moved may be stale."""

    def apply(self, connection: ConnectionPlan, call: ModelCall) -> ModelCall:
        """``call`` with what its server is known to reject taken out (this run or earlier)."""
        quirks = self._known(_endpoint_key(connection, call))
        if quirks is None:
            return call
        if quirks.output_mode is not None and _rank(quirks.output_mode) > _rank(call.output_mode):
            call = replace(call, output_mode=quirks.output_mode)  # type: ignore[arg-type]
        if quirks.drop_temperature:
            call = replace(call, temperature=None)
        if quirks.token_param is not None:
            call = replace(call, token_param=quirks.token_param)  # type: ignore[arg-type]
        return call

    def _known(self, endpoint: str) -> Quirks | None:
        """This run's quirks for ``endpoint``, loaded once from the cache."""
        if endpoint not in self._quirks:
            stored = self._cache.get_quirks(endpoint)
            self._quirks[endpoint] = Quirks(**json.loads(stored)) if stored else None
        return self._quirks[endpoint]

    def learn(self, connection: ConnectionPlan, before: ModelCall, after: ModelCall) -> None:
        """Remember a fallback for the rest of the run and say so once."""
        endpoint = _endpoint_key(connection, before)
        old = self._known(endpoint) or Quirks()
        # Only ever down the ladder: a call that was in flight while another learnt a
        # lower mode must not bring back a mode the server is known to reject.
        moved = after.output_mode != before.output_mode
        quirks = Quirks(
            output_mode=after.output_mode
            if moved and _rank(after.output_mode) > _rank(old.output_mode)
            else old.output_mode,
            drop_temperature=old.drop_temperature
            or (after.temperature is None and before.temperature is not None),
            token_param=after.token_param
            if after.token_param != before.token_param
            else old.token_param,
        )
        if quirks != old:
            self._quirks[endpoint] = quirks
            self.learnt += 1
            self._cache.put_quirks(endpoint, json.dumps(asdict(quirks)))
            self._notice(f"connection '{connection.name}': {_describe_change(before, after)}")


def _endpoint_key(connection: ConnectionPlan, call: ModelCall) -> str:
    """What quirks belong to: a server, its wire format and the model (reasoning models
    reject temperature where others on the same server accept it)."""
    return f"{connection.config.protocol} {connection.endpoint.base_url} {call.model}"


def _rank(mode: str | None) -> int:
    """Position of an output mode on the fallback ladder (-1: none learnt yet)."""
    return OUTPUT_MODES.index(mode) if mode in OUTPUT_MODES else -1


def _describe_change(before: ModelCall, after: ModelCall) -> str:
    if after.output_mode != before.output_mode:
        return (
            f"the server rejected output mode {before.output_mode}; using {after.output_mode} "
            "for the rest of the run"
        )
    if after.temperature is None and before.temperature is not None:
        return "the model rejects 'temperature'; sending none for the rest of the run"
    return f"the server wants '{after.token_param}'; using it for the rest of the run"
