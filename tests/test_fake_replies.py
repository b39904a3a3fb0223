"""The fake provider's reply shapes (``fake_replies``) over real HTTP, per protocol."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from test_fake_provider import PROTOCOLS, body_for, prompt, send

from judgekit.testing.fake_provider import FakeProvider
from judgekit.testing.fake_replies import REFUSAL_TEXT, defective_text, think_text
from judgekit.testing.fake_wire import error_body

RIGHT = prompt("four legs", expected="four legs")
"""The fake scores this 1.0; its decoy drafts 0.0."""
DECOY = '{"score": 0.0, "reasoning": "first impression"}'


@pytest.fixture
def client(fake: FakeProvider) -> Iterator[httpx.Client]:
    """A plain HTTP client bound to the fake's root URL."""
    with httpx.Client(base_url=fake.url, trust_env=False, timeout=10.0) as http:
        yield http


def ask(
    client: httpx.Client, protocol: str, *, structured: bool = False, cap: int = 256
) -> dict[str, Any]:
    """POST ``RIGHT`` with an output cap; the 200 body."""
    body = body_for(protocol, RIGHT, structured=structured)
    body["max_output_tokens" if protocol == "responses" else "max_tokens"] = cap
    response = send(client, protocol, body)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def test_think_prefix_on_chat_puts_a_decoy_before_the_answer(
    fake: FakeProvider, client: httpx.Client
) -> None:
    fake.settings.think_prefix = "think"
    text = ask(client, "chat_completions")["choices"][0]["message"]["content"]
    assert text.startswith("<think>\nLet me think.") and DECOY in text
    assert json.loads(text.split("</think>\n\n")[1])["score"] == 1.0


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("think", "<think>\nr\n</think>\n\n"),
        ("Thinking", "<Thinking>\nr\n</thinking>\n\n"),
        ("lone", "r\n</think>\n\n"),
    ],
)
def test_think_text(tag: str, expected: str) -> None:
    assert think_text(tag, "r") == expected


def test_think_prefix_on_responses_adds_a_reasoning_item(
    fake: FakeProvider, client: httpx.Client
) -> None:
    fake.settings.think_prefix = "think"
    output = ask(client, "responses")["output"]
    assert [item["type"] for item in output] == ["reasoning", "message"]
    assert DECOY in output[0]["summary"][0]["text"]
    assert output[1]["content"][0]["text"].startswith("<think>")


def test_think_prefix_on_an_anthropic_tool_reply_is_a_thinking_block(
    fake: FakeProvider, client: httpx.Client
) -> None:
    fake.settings.think_prefix = "think"
    content = ask(client, "anthropic", structured=True)["content"]
    assert [block["type"] for block in content] == ["thinking", "tool_use"]
    assert DECOY in content[0]["thinking"] and content[1]["input"]["score"] == 1.0


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_reply_over_the_cap_is_cut_off_and_billed_the_cap(
    fake: FakeProvider, client: httpx.Client, protocol: str
) -> None:
    fake.settings.reasoning_tokens = 300
    data = ask(client, protocol, cap=256)
    if protocol == "chat_completions":
        assert data["choices"][0]["finish_reason"] == "length"
        assert data["choices"][0]["message"]["content"] == ""
        assert data["usage"]["completion_tokens"] == 256
    elif protocol == "responses":
        assert (data["status"], data["incomplete_details"]) == (
            "incomplete",
            {"reason": "max_output_tokens"},
        )
        assert data["usage"]["output_tokens"] == 256
    else:
        assert data["stop_reason"] == "max_tokens"
        assert data["usage"]["output_tokens"] == 256
    assert fake.stats().output_tokens == 256


def test_a_reply_that_fits_is_not_cut(fake: FakeProvider, client: httpx.Client) -> None:
    fake.settings.reasoning_tokens = 300
    data = ask(client, "chat_completions", cap=1024)
    assert data["choices"][0]["finish_reason"] == "stop"
    assert json.loads(data["choices"][0]["message"]["content"])["score"] == 1.0


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_refuse(fake: FakeProvider, client: httpx.Client, protocol: str) -> None:
    fake.settings.refuse = True
    data = ask(client, protocol)
    if protocol == "chat_completions":
        message = data["choices"][0]["message"]
        assert (message["content"], message["refusal"]) == (None, REFUSAL_TEXT)
    elif protocol == "responses":
        assert data["output"][-1]["content"] == [{"type": "refusal", "refusal": REFUSAL_TEXT}]
    else:
        assert (data["content"], data["stop_reason"]) == ([], "refusal")
    assert fake.stats().input_tokens > 0  # billed


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_empty_reply(fake: FakeProvider, client: httpx.Client, protocol: str) -> None:
    fake.settings.empty_reply = True
    data = ask(client, protocol)
    text = {
        "chat_completions": lambda: data["choices"][0]["message"]["content"],
        "responses": lambda: data["output"][-1]["content"][0]["text"],
        "anthropic": lambda: data["content"],
    }[protocol]()
    assert not text
    assert fake.stats().output_tokens == 0


def test_tool_call_reply(fake: FakeProvider, client: httpx.Client) -> None:
    fake.settings.tool_call_reply = True
    choice = ask(client, "chat_completions")["choices"][0]
    assert (choice["finish_reason"], choice["message"]["content"]) == ("tool_calls", None)
    [call] = choice["message"]["tool_calls"]
    assert json.loads(call["function"]["arguments"])["score"] == 1.0


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_error_in_200(fake: FakeProvider, client: httpx.Client, protocol: str) -> None:
    fake.settings.error_in_200 = "overloaded"
    assert ask(client, protocol) == error_body(protocol, "overloaded", "Overloaded")


@pytest.mark.parametrize(
    ("defect", "expected"),
    [
        ("raw_newlines", '{"reasoning": "a\nb"}'),
        ("trailing_comma", '{"reasoning": "a\\nb",}'),
        ("unclosed", '{"reasoning": "a\\nb", "sc'),
        (None, '{"reasoning": "a\\nb"}'),
    ],
)
def test_defective_text(defect: str | None, expected: str) -> None:
    text = (
        '{"reasoning": "a\\nb"}' if defect != "unclosed" else '{"reasoning": "a\\nb", "score": 1}'
    )
    assert defective_text(text, defect) == expected


@pytest.mark.parametrize(
    ("defect", "check"),
    [
        ("confidence_word", lambda v: v["confidence"] == "high"),
        ("no_score", lambda v: "score" not in v),
        ("raw_newlines", lambda v: v["reasoning"].endswith("\nSecond line of the reasoning.")),
    ],
)
def test_verdict_defects_in_a_tool_reply(
    fake: FakeProvider, client: httpx.Client, defect: str, check: Any
) -> None:
    fake.settings.verdict_defect = defect
    assert check(ask(client, "anthropic", structured=True)["content"][0]["input"])
