"""Multi-turn continuation: turn counting, the reply keys, and J_should_continue / J_next_prompt
end to end against the fake provider."""

from __future__ import annotations

import json
import re
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import Workspace

from judgekit.continuation import (
    STOP,
    Continuation,
    read_continuation,
    schema_with_continuation,
    turns_used_up,
    user_turns,
)
from judgekit.prompts import verdict_schema
from judgekit.records import Scale
from judgekit.verdicts import MalformedVerdict

ASKED = {"role": "user", "content": "Where is my order?"}
ANSWERED = {"role": "assistant", "content": "Which order number?"}

TURNS = [
    ("nothing", None, None, 0),
    ("input only", None, "Where is my order?", 1),
    ("history, then a new input", [ASKED, ANSWERED], "It is 1042", 2),
    ("history ending with the input", [ASKED], "Where is my order?", 1),
    ("history as a JSON string", json.dumps([ASKED, ANSWERED]), "It is 1042", 2),
    ("anthropic blocks", [{"role": "user", "content": [{"type": "text", "text": "hi"}]}], "", 1),
    ("human role", [{"role": "Human", "content": "hi"}], None, 1),
    ("one message", ASKED, None, 1),
    ("a transcript", "User: Where is my order?\nAssistant: Which one?\nuser: 1042", "1042", 2),
    ("a transcript and a new input", "User: hi\nAssistant: hello", "Where is my order?", 2),
    ("text without turns", "the customer called twice", "hello", 1),
    ("not a conversation", 42, "hello", 1),
]


@pytest.mark.parametrize(
    ("history", "latest", "turns"), [t[1:] for t in TURNS], ids=[t[0] for t in TURNS]
)
def test_user_turns(history: object, latest: object, turns: int) -> None:
    assert user_turns(history, latest) == turns


def test_turns_are_used_up_at_max_turns_and_never_without_a_cap() -> None:
    history = [ASKED, ANSWERED]
    assert turns_used_up(history, "It is 1042", 2) is True
    assert turns_used_up(history, "It is 1042", 3) is False
    assert turns_used_up(history * 50, "again", None) is False


REPLIES = [
    (
        "goes on",
        '{"should_continue": true, "next_prompt": " It is 1042. "}',
        Continuation(True, "It is 1042."),
    ),
    ("ends", '{"should_continue": false, "next_prompt": null}', STOP),
    ("ends, a prompt ignored", '{"should_continue": false, "next_prompt": "bye"}', STOP),
    (
        "a quoted boolean",
        '{"score": 1, "should_continue": "True", "next_prompt": "ok"}',
        Continuation(True, "ok"),
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [r[1:] for r in REPLIES], ids=[r[0] for r in REPLIES]
)
def test_read_continuation(text: str, expected: Continuation) -> None:
    assert read_continuation(text) == expected


BAD_REPLIES = [
    ("missing", '{"score": 1}', "missing should_continue"),
    ("not a boolean", '{"should_continue": 1}', "should_continue is not a boolean"),
    (
        "goes on without a prompt",
        '{"should_continue": true, "next_prompt": null}',
        "should_continue is true but next_prompt is empty",
    ),
    (
        "goes on with a blank prompt",
        '{"should_continue": true, "next_prompt": "  "}',
        "should_continue is true but next_prompt is empty",
    ),
]


@pytest.mark.parametrize(
    ("text", "message"), [r[1:] for r in BAD_REPLIES], ids=[r[0] for r in BAD_REPLIES]
)
def test_unusable_continuation_is_malformed(text: str, message: str) -> None:
    with pytest.raises(MalformedVerdict, match=f"^{re.escape(message)}$"):
        read_continuation(text)


def test_the_schema_gains_two_required_keys() -> None:
    schema = schema_with_continuation(verdict_schema(Scale(), ()))
    assert schema["required"] == [
        "reasoning",
        "score",
        "confidence",
        "should_continue",
        "next_prompt",
    ]
    assert schema["properties"]["should_continue"]["type"] == "boolean"
    assert schema["properties"]["next_prompt"]["type"] == ["string", "null"]
    assert schema["additionalProperties"] is False


# -- end to end ------------------------------------------------------------------------------

JUDGE = """
[[judges]]
name = "support"
connection = "fake"
template = "helpfulness"
continue_conversation = true
{max_turns}
[judges.columns]
input = "question"
output = "answer"
"""

ROWS: list[dict[str, Any]] = [
    {
        "id": "c1",
        "question": "My order 1042 has not arrived.",
        "answer": "Which email is on it?",
        "history": [],
    },
    {
        "id": "c2",
        "question": "It is ana@example.com",
        "answer": "It arrives tomorrow.",
        "history": [
            {"role": "user", "content": "My order 1042 has not arrived."},
            {"role": "assistant", "content": "Which email is on it?"},
        ],
    },
]


def _score(ws: Workspace, max_turns: str = "") -> list[dict[str, Any]]:
    config = ws.write_config(judges=JUDGE.format(max_turns=max_turns))
    out = ws.root / "out.parquet"
    result = ws.score(ws.write_rows(ROWS), config, out, "-q")
    assert result.exit_code == 0, result.stderr
    return ws.read_rows(out)


def test_the_judge_says_whether_to_go_on_and_what_the_user_says_next(workspace: Workspace) -> None:
    rows = _score(workspace)
    assert [(r["support_should_continue"], r["support_next_prompt"]) for r in rows] == [
        (True, 'Thanks. What else should I know about "My order 1042 has not arrived"?'),
        (True, 'Thanks. What else should I know about "It is ana@example.com"?'),
    ]
    for request in workspace.fake.requests:
        schema = request.body["response_format"]["json_schema"]["schema"]
        assert schema["required"][-2:] == ["should_continue", "next_prompt"]
        user = request.body["messages"][1]["content"]
        assert "## Conversation continuation" in user
        assert "Continuation: should_continue, next_prompt" in user


def test_the_history_is_shown_to_a_template_that_does_not_place_it(workspace: Workspace) -> None:
    _score(workspace)
    users = [r.body["messages"][1]["content"] for r in workspace.fake.requests]
    shown = [u for u in users if "<history>\n" in u]
    assert len(shown) == 1 and '"content": "Which email is on it?"' in shown[0]


def test_the_columns_follow_the_spec_columns(workspace: Workspace) -> None:
    _score(workspace)
    schema = pq.read_schema(workspace.root / "out.parquet")
    assert schema.names[-2:] == ["support_should_continue", "support_next_prompt"]
    assert schema.field("support_should_continue").type == pa.bool_()
    assert schema.field("support_next_prompt").type == pa.string()


def test_a_row_at_max_turns_ends_without_asking(workspace: Workspace) -> None:
    rows = _score(workspace, "max_turns = 2")
    assert [(r["support_should_continue"], r["support_next_prompt"]) for r in rows] == [
        (True, 'Thanks. What else should I know about "My order 1042 has not arrived"?'),
        (False, None),
    ]
    asked = ["should_continue" in json.dumps(r.body) for r in workspace.fake.requests]
    assert sorted(asked) == [False, True]
    assert all(r["support_score"] is not None for r in rows)  # it is still graded


def test_the_fake_switch_ends_the_conversation(workspace: Workspace) -> None:
    workspace.fake.settings.should_continue = False
    rows = _score(workspace)
    assert [(r["support_should_continue"], r["support_next_prompt"]) for r in rows] == [
        (False, None)
    ] * 2


def test_a_judge_without_the_option_has_no_continuation_columns(workspace: Workspace) -> None:
    config = workspace.write_config()
    out = workspace.root / "plain.parquet"
    result = workspace.score(workspace.write_rows(workspace.qa_rows(2)), config, out, "-q")
    assert result.exit_code == 0, result.stderr
    names = pq.read_schema(out).names
    assert not [n for n in names if n.endswith(("should_continue", "next_prompt"))]
    assert all("should_continue" not in json.dumps(r.body) for r in workspace.fake.requests)


def test_every_protocol_asks_and_answers_it(workspace: Workspace) -> None:
    # The fake answers the continuation keys in prompt-only mode too (the prompt's mark).
    config = workspace.write_config(
        connection='output_mode = "prompt"', judges=JUDGE.format(max_turns="")
    )
    out = workspace.root / "out.jsonl"
    result = workspace.score(workspace.write_rows(ROWS), config, out, "-q")
    assert result.exit_code == 0, result.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["support_should_continue"] for line in lines] == [True, True]
    assert all("response_format" not in r.body for r in workspace.fake.requests)


def test_the_stricter_reask_repeats_the_shape_with_the_continuation_keys(
    workspace: Workspace,
) -> None:
    workspace.fake.settings.bad_verdict_first_n = 1
    rows = _score(workspace)
    assert [r["support_error"] for r in rows] == [None, None]
    # The re-ask is not always the last request: the other row's first call can come after it.
    contents = [r.body["messages"][1]["content"] for r in workspace.fake.requests]
    reasks = [c for c in contents if "Your previous reply was not valid JSON." in c]
    assert (len(contents), len(reasks)) == (3, 1)
    reask = reasks[0]
    shape = reask.rsplit("\n", 1)[1]
    assert shape.startswith('{"reasoning": ')
    assert shape.endswith('"should_continue": <true or false>, "next_prompt": "<text>" or null}')
