"""Multi-turn continuation: the judge also says whether the conversation goes on, and how.

A judge with ``continue_conversation = true`` is asked, besides its grade, two
more keys: ``should_continue`` (a JSON boolean) and ``next_prompt`` (the
user's next message, a string; null when the conversation ends).  They land in
``J_should_continue`` and ``J_next_prompt``.  A test driver feeds
``J_next_prompt`` to the agent under test and scores the next turn.

Turns: ``user_turns`` counts the user messages of the ``history`` cell plus the
row's ``input`` (unless the history already ends with that same message).
When that count reaches ``max_turns``, the judge is not asked: the row's
``J_should_continue`` is false and ``J_next_prompt`` null, and the request is
the plain grading request.

History shapes: a list of messages with a ``role`` (``user`` or ``human``
count; OpenAI and Anthropic shapes), a JSON string holding such a list, or a
plain transcript whose user lines start with ``User:`` or ``Human:``.

Reply rules (anything else raises ``MalformedVerdict``, so the row is re-asked
once, then recorded as ``malformed_response``): ``should_continue`` must be a
boolean (``"true"``/``"false"`` strings are accepted); with true,
``next_prompt`` must be a non-empty string; with false it is ignored.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from judgekit.verdicts import MalformedVerdict, find_object

CONTINUATION_LINE = "Continuation: should_continue, next_prompt"
"""The machine-readable line of the answer format (the fake provider reads it)."""

TASK = """\
## Conversation continuation

<output> is the assistant's latest turn in a conversation with a user; <input>, when \
given, is the user's latest message and <history> the turns before it. Besides grading, \
take the user's side and decide whether the conversation should go on. It should go on \
when the user's goal is not reached yet and a follow-up would move it forward: a question \
the assistant asked, a next step, a correction to push for. It should end when the goal \
is reached, the assistant has refused for good, or the conversation goes in circles. When \
it goes on, write the user's next message as that user would type it."""

SHAPE_KEYS = '"should_continue": <true or false>, "next_prompt": "<text>" or null'
"""The two keys as they close the one-line JSON shape of the answer format."""

ANSWER_LINES = (
    '"should_continue": true when the conversation should go on, else false. '
    '"next_prompt": the user\'s next message when should_continue is true, else null.'
)

_USER_ROLES = frozenset({"user", "human"})
_TRANSCRIPT_PREFIXES = ("user:", "human:")


@dataclass(frozen=True, slots=True)
class Continuation:
    """The judge's answer on continuing: ``next_prompt`` is None when it ends."""

    should_continue: bool
    next_prompt: str | None


STOP = Continuation(should_continue=False, next_prompt=None)
"""What a row gets without asking, once it has ``max_turns`` user turns."""


def user_turns(history: object, latest_input: object) -> int:
    """User turns so far: the history's user messages, plus ``latest_input`` unless the
    history already ends with it."""
    turns, last = _history_turns(history)
    latest = latest_input.strip() if isinstance(latest_input, str) else latest_input
    if latest in (None, "") or (last is not None and last == latest):
        return turns
    return turns + 1


def _history_turns(history: object) -> tuple[int, object]:
    """(user messages in ``history``, the content of the last one)."""
    if isinstance(history, str):
        text = history.strip()
        if text[:1] in ("[", "{"):
            with contextlib.suppress(json.JSONDecodeError):
                history = json.loads(text)
        if isinstance(history, str):
            lines = [line.strip() for line in text.splitlines()]
            said = [line for line in lines if line.lower().startswith(_TRANSCRIPT_PREFIXES)]
            return len(said), said[-1].split(":", 1)[1].strip() if said else None
    if isinstance(history, Mapping):
        history = [history]
    if not isinstance(history, list | tuple):
        return 0, None
    users: list[Mapping[str, Any]] = [
        m
        for m in history
        if isinstance(m, Mapping) and str(m.get("role", "")).lower() in _USER_ROLES
    ]
    if not users:
        return 0, None
    content = users[-1].get("content")
    return len(users), content.strip() if isinstance(content, str) else content


def turns_used_up(history: object, latest_input: object, max_turns: int | None) -> bool:
    """Whether the conversation already has ``max_turns`` user turns (never without a cap)."""
    return max_turns is not None and user_turns(history, latest_input) >= max_turns


def schema_with_continuation(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The verdict schema plus the two continuation keys (strict-mode compatible)."""
    properties = dict(schema["properties"])
    properties["should_continue"] = {
        "type": "boolean",
        "description": "True when the conversation should go on.",
    }
    properties["next_prompt"] = {
        "type": ["string", "null"],
        "description": "The user's next message; null when the conversation ends.",
    }
    return dict(schema, properties=properties, required=list(properties))


def read_continuation(text: str) -> Continuation:
    """The continuation keys of a judge's reply; MalformedVerdict when they are unusable."""
    obj = find_object(text)
    value = obj.get("should_continue")
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        value = value.strip().lower() == "true"
    if value is None:
        raise MalformedVerdict("missing should_continue")
    if not isinstance(value, bool):
        raise MalformedVerdict("should_continue is not a boolean")
    if not value:
        return STOP
    prompt = obj.get("next_prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise MalformedVerdict("should_continue is true but next_prompt is empty")
    return Continuation(should_continue=True, next_prompt=prompt.strip())
