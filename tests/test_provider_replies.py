"""Replies that real providers send, end to end against the fake: reasoning text before
the verdict, refusals, replies cut off at the output cap, empty replies, a verdict in a
tool call, almost-JSON, optional fields filled badly, and errors in a 200 body.  Each
pins the value the row must hold and the number of requests it may cost."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner, Result

from judgekit.cli import app
from judgekit.testing.fake_provider import FakeProvider
from judgekit.testing.fake_replies import REFUSAL_TEXT

KEY_ENV = "JUDGEKIT_REPLIES_KEY"
PROTOCOLS = ("chat_completions", "responses", "anthropic")
CAP_KEY = {"chat_completions": "max_tokens", "responses": "max_output_tokens"}
JUDGE = """
[[judges]]
name = "j"
connection = "fake"
template = "correctness"
threshold = 0.5
[judges.columns]
input = "question"
output = "answer"
expected = "reference"
"""
DIMENSIONS_JUDGE = """
[[judges]]
name = "j"
connection = "fake"
template = "accuracy"
[judges.columns]
input = "question"
output = "answer"
"""


def rows(n: int) -> list[dict[str, Any]]:
    """Even rows answer exactly like the reference (the fake scores 1.0), odd ones not (0.0)."""
    out = []
    for i in range(n):
        reference = f"Basket {i} holds {i * 7} red apples."
        answer = reference if i % 2 == 0 else f"Maybe {i + 500} green pears."
        out.append({"id": f"r{i}", "question": f"Basket {i}?", "answer": answer})
        out[-1]["reference"] = reference
    return out


def scores(n: int) -> list[float]:
    """What the fake's judge gives ``rows(n)``."""
    return [1.0 - i % 2 for i in range(n)]


@dataclass
class Run:
    """tmp_path, the fake, and ``judgekit score`` against them."""

    root: Path
    fake: FakeProvider

    def score(
        self,
        n: int = 4,
        *,
        protocol: str = "chat_completions",
        connection: str = "",
        run: str = "",
        judge: str = JUDGE,
        extra: tuple[str, ...] = (),
        output_usd_per_mtok: float = 4.0,
    ) -> Result:
        """Score ``rows(n)`` on one ``fake`` connection of ``protocol`` (priced), with a
        cache of its own."""
        native = protocol in ("anthropic", "bedrock_converse")  # paths of their own
        base_url = self.fake.url if native else self.fake.openai_base_url
        config = self.root / "judges.toml"
        config.write_text(
            f"[run]\n{run}\n[connections.fake]\n"
            f'protocol = "{protocol}"\nbase_url = "{base_url}"\nmodel = "fake-judge"\n'
            f'api_key_env = "{KEY_ENV}"\n'
            f"input_usd_per_mtok = 1.0\noutput_usd_per_mtok = {output_usd_per_mtok}\n"
            f"{connection}\n{judge}",
            encoding="utf-8",
        )
        data = self.root / "data.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in rows(n)), encoding="utf-8")
        args = ["score", str(data), "-c", str(config), "-o", str(self.output)]
        args += ["--cache", str(self.root / "cache.sqlite3")]
        args += ["--summary-json", str(self.root / "summary.json"), *extra]
        return CliRunner().invoke(app, args)

    @property
    def output(self) -> Path:
        return self.root / "out.parquet"

    def rows(self) -> list[dict[str, Any]]:
        """The scored rows."""
        out: list[dict[str, Any]] = pq.read_table(self.output).to_pylist()
        return out

    def column(self, name: str) -> list[Any]:
        """One ``j_*`` column."""
        return [r[f"j_{name}"] for r in self.rows()]

    def figures(self) -> dict[str, Any]:
        """The --summary-json figures."""
        figures: dict[str, Any] = json.loads((self.root / "summary.json").read_text())
        return figures

    def caps(self) -> list[int]:
        """The output cap of every request the fake received, in order."""
        return [
            r.body.get("max_tokens", r.body.get("max_output_tokens")) for r in self.fake.requests
        ]


@pytest.fixture
def runner(fake: FakeProvider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    """A Run whose connection key is set; wide columns so rich never wraps."""
    monkeypatch.setenv(KEY_ENV, "sk-replies-test-0000")
    monkeypatch.setenv("COLUMNS", "250")
    return Run(tmp_path, fake)


# -- 1. reasoning text is never the verdict ---------------------------------------------------

THINK_CASES = [
    ("chat_completions", "think", ""),
    ("chat_completions", "Thinking", ""),
    ("chat_completions", "REASONING", ""),
    ("chat_completions", "lone", ""),
    ("chat_completions", "think", 'output_mode = "prompt"'),
    ("responses", "think", ""),
    ("anthropic", "think", ""),
    ("anthropic", "think", 'output_mode = "prompt"'),
]


@pytest.mark.parametrize(
    ("protocol", "tag", "mode"),
    THINK_CASES,
    ids=[f"{p}-{t}{'-prompt' if m else ''}" for p, t, m in THINK_CASES],
)
def test_reasoning_text_is_never_the_verdict(
    runner: Run, protocol: str, tag: str, mode: str
) -> None:
    # Each reply drafts the opposite score in its reasoning (a <think> block, a lone
    # </think>, an Anthropic thinking block, a Responses reasoning item) before the answer.
    runner.fake.settings.think_prefix = tag
    result = runner.score(4, protocol=protocol, connection=mode)
    assert result.exit_code == 0, result.stderr
    assert runner.column("score") == [1.0, 0.0, 1.0, 0.0]
    assert runner.fake.stats().requests == 4


# -- 2. billed but unusable replies are not retried unchanged ---------------------------------

REFUSALS = {
    "chat_completions": f"the model refused: {REFUSAL_TEXT}",
    "responses": f"the model refused: {REFUSAL_TEXT}",
    "anthropic": "the model refused",
}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_refusal_costs_one_request_and_is_billed_to_its_row(runner: Run, protocol: str) -> None:
    runner.fake.settings.refuse = True
    result = runner.score(2, protocol=protocol)
    assert result.exit_code == 1
    assert runner.fake.stats().requests == 2
    assert runner.column("error") == ["malformed_response"] * 2
    assert runner.column("reasoning") == [REFUSALS[protocol]] * 2
    stats = runner.fake.stats()
    assert sum(runner.column("input_tokens")) == stats.input_tokens > 0
    assert sum(runner.column("output_tokens")) == stats.output_tokens
    assert all(cost > 0 for cost in runner.column("cost_usd"))


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_gzip_encoded_reply_is_read_as_the_plain_one(runner: Run, protocol: str) -> None:
    runner.fake.settings.gzip_replies = True
    result = runner.score(2, protocol=protocol)
    assert result.exit_code == 0, result.stderr
    assert runner.column("score") == [1.0, 0.0]
    assert runner.fake.stats().requests == 2
    stats = runner.fake.stats()
    assert sum(runner.column("input_tokens")) == stats.input_tokens > 0
    assert sum(runner.column("output_tokens")) == stats.output_tokens > 0


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_an_empty_reply_costs_one_request(runner: Run, protocol: str) -> None:
    runner.fake.settings.empty_reply = True
    result = runner.score(2, protocol=protocol)
    assert result.exit_code == 1
    assert runner.fake.stats().requests == 2
    assert runner.column("error") == ["malformed_response"] * 2
    why = {"chat_completions": "finish_reason=stop", "responses": "no output_text"}
    assert (
        runner.column("reasoning")
        == [f"empty reply ({why.get(protocol, 'stop_reason=end_turn')})"] * 2
    )
    assert sum(runner.column("input_tokens")) == runner.fake.stats().input_tokens > 0


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_cut_off_reply_is_asked_again_once_with_twice_the_cap(runner: Run, protocol: str) -> None:
    # 600 reasoning tokens do not fit in 512; in 1024 they do.
    runner.fake.settings.reasoning_tokens = 600
    result = runner.score(2, protocol=protocol, extra=("--concurrency", "1"))
    assert result.exit_code == 0, result.stderr
    assert runner.column("score") == [1.0, 0.0]
    assert runner.caps() == [512, 1024, 512, 1024]
    # Both attempts are billed, and both land on the row: 512 + (600 + the verdict).
    stats = runner.fake.stats()
    assert sum(runner.column("output_tokens")) == stats.output_tokens
    assert all(tokens > 512 + 600 for tokens in runner.column("output_tokens"))
    assert result.stderr.count("replies are cut off") == 1
    assert (
        "judgekit: connection 'fake': replies are cut off at max_output_tokens = 512 and "
        "asked again with 1024; raise max_output_tokens to pay for one call, not two\n"
    ) in result.stderr


def test_a_reply_cut_off_twice_names_the_cause_and_the_fix(runner: Run) -> None:
    runner.fake.settings.reasoning_tokens = 5000
    result = runner.score(2, extra=("--concurrency", "1"))
    assert result.exit_code == 1
    assert runner.caps() == [512, 1024, 512, 1024]
    assert runner.column("error") == ["malformed_response"] * 2
    assert (
        runner.column("reasoning")
        == [
            "cut off at max_output_tokens = 1024 (asked again with twice the configured 512); "
            "raise max_output_tokens"
        ]
        * 2
    )
    assert runner.column("output_tokens") == [512 + 1024] * 2


@pytest.mark.parametrize(
    ("limit", "why"),
    [
        ("budget", "no re-ask at 1024: the budget cannot cover it"),
        ("per_call", "no re-ask at 1024: its worst case exceeds max_cost_usd_per_call"),
    ],
)
def test_no_larger_re_ask_beyond_the_budget_or_the_per_call_cap(
    runner: Run, limit: str, why: str
) -> None:
    runner.fake.settings.reasoning_tokens = 5000
    # At $400 per million output tokens a call's worst case is 512 x $0.0004 = $0.2048 plus
    # a little input, and the re-ask's twice that: $0.35 covers the first call only.
    if limit == "budget":
        result = runner.score(1, output_usd_per_mtok=400, extra=("--budget-usd", "0.35"))
    else:
        cap = "max_cost_usd_per_call = 0.35"
        result = runner.score(1, output_usd_per_mtok=400, connection=cap)
    assert result.exit_code == 1
    assert runner.caps() == [512]
    assert runner.column("reasoning") == [
        f"cut off at max_output_tokens = 512 ({why}); raise max_output_tokens"
    ]
    assert runner.column("cost_usd")[0] == pytest.approx(runner.figures()["spent_usd"], abs=1e-6)


# -- 5. a verdict in a tool call ---------------------------------------------------------------


def test_a_verdict_in_a_single_tool_call_is_read(runner: Run) -> None:
    runner.fake.settings.tool_call_reply = True
    result = runner.score(4)
    assert result.exit_code == 0, result.stderr
    assert runner.column("score") == scores(4)
    assert runner.fake.stats().requests == 4


# -- 7. tolerant JSON, precise errors ------------------------------------------------------------


@pytest.mark.parametrize("mode", ["json_schema", "prompt"])
@pytest.mark.parametrize("defect", ["raw_newlines", "trailing_comma"])
def test_almost_json_is_read_without_a_paid_re_ask(runner: Run, defect: str, mode: str) -> None:
    runner.fake.settings.verdict_defect = defect
    result = runner.score(4, connection=f'output_mode = "{mode}"')
    assert result.exit_code == 0, result.stderr
    assert runner.column("score") == scores(4)
    assert runner.fake.stats().requests == 4
    if defect == "raw_newlines":
        assert all(
            r.endswith("\nSecond line of the reasoning.") for r in runner.column("reasoning")
        )


@pytest.mark.parametrize("mode", ["json_schema", "prompt"])
def test_a_lone_surrogate_in_a_reply_is_written_as_u_fffd_and_the_rerun_is_cached(
    runner: Run, mode: str
) -> None:
    # JSON may escape half of a UTF-16 pair alone; neither SQLite nor Parquet holds one.
    runner.fake.settings.verdict_defect = "lone_surrogate"
    result = runner.score(4, connection=f'output_mode = "{mode}"')
    assert result.exit_code == 0, result.stderr
    assert runner.column("score") == scores(4)
    assert all(r.endswith(" \ufffd") for r in runner.column("reasoning"))
    assert runner.score(4, connection=f'output_mode = "{mode}"').exit_code == 0
    assert runner.fake.stats().requests == 4


def test_a_confidence_filled_badly_becomes_null_and_keeps_the_score(runner: Run) -> None:
    runner.fake.settings.verdict_defect = "confidence_word"
    result = runner.score(4)
    assert result.exit_code == 0, result.stderr
    assert runner.column("score") == scores(4)
    assert runner.column("confidence") == [None] * 4
    assert runner.fake.stats().requests == 4


def test_criteria_filled_badly_become_null_and_keep_the_score(runner: Run) -> None:
    runner.fake.settings.verdict_defect = "criteria_words"
    result = runner.score(2, judge=DIMENSIONS_JUDGE)
    assert result.exit_code == 0, result.stderr
    assert runner.column("score") == [0.8, 0.3]  # no reference: 0.8 for >= 5 answer tokens
    nulls = {"factual_claims": None, "citations": None, "internal_consistency": None}
    assert runner.column("criteria") == [nulls, nulls]
    assert runner.fake.stats().requests == 2


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ({"verdict_defect": "no_score"}, "missing score"),
        (
            {"verdict_defect": "unclosed"},
            "invalid JSON: the object at line 1 column 1 is never closed (cut off?)",
        ),
        ({"out_of_scale": True}, "score 2 outside scale 0..1"),
    ],
    ids=["missing-score", "never-closed", "out-of-scale"],
)
def test_an_unusable_verdict_says_what_was_wrong(
    runner: Run, settings: dict[str, Any], reason: str
) -> None:
    for name, value in settings.items():
        setattr(runner.fake.settings, name, value)
    result = runner.score(2)
    assert result.exit_code == 1
    assert runner.column("error") == ["malformed_response"] * 2
    assert runner.column("reasoning") == [reason] * 2
    assert runner.fake.stats().requests == 4  # one stricter re-ask each
    stats = runner.fake.stats()
    assert sum(runner.column("input_tokens")) == stats.input_tokens
    assert sum(runner.column("output_tokens")) == stats.output_tokens


ERRORS_IN_200 = [
    (
        "chat_completions",
        "rate_limit",
        "rate_limit",
        # Waited out as asked (no retry spent) until it proves lasting: 7 rounds.
        "connection 'fake': rate-limited in 7 rounds of waiting as asked, and no request "
        "passed (HTTP 200 with an error body (rate_limit_exceeded): Rate limit reached for "
        "requests. Please try again in 20ms.); the limit is smaller than one request (shorten "
        "the prompt or lower max_output_tokens) or the key is throttled: rerun later, answered "
        "rows come from the cache",
        7,
    ),
    (
        "chat_completions",
        "server",
        "server_error",
        "HTTP 200 with an error body (server_error): The upstream provider returned an error.",
        2,
    ),
    (
        "responses",
        "invalid_request",
        "bad_request",
        "HTTP 200 with an error body (invalid_request_error): Invalid value for "
        "'response_format': not supported by this model.",
        None,
    ),
    (
        "anthropic",
        "overloaded",
        "server_error",
        "HTTP 200 with an error body (overloaded_error): Overloaded",
        2,
    ),
]


@pytest.mark.parametrize(
    ("protocol", "kind", "error", "reason", "requests"),
    ERRORS_IN_200,
    ids=[f"{c[0]}-{c[1]}" for c in ERRORS_IN_200],
)
def test_an_error_in_a_200_body_is_that_error(
    runner: Run, protocol: str, kind: str, error: str, reason: str, requests: int | None
) -> None:
    runner.fake.settings.error_in_200 = kind
    runner.fake.settings.retry_after_s = 0.01  # a gateway forwarding a short hint: quick waits
    result = runner.score(1, protocol=protocol, connection="max_retries = 1")
    assert result.exit_code == 1
    assert runner.column("error") == [error]
    assert runner.column("reasoning") == [reason]
    if requests is not None:  # retried once: what its kind says to do
        assert runner.fake.stats().requests == requests
    else:  # a bad request names response_format: the ladder steps down, then gives up
        assert [
            r.body.get("text", {}).get("format", {}).get("type") for r in runner.fake.requests
        ] == [
            "json_schema",
            "json_object",
            None,
        ]


def test_an_auth_error_in_a_200_body_stops_the_run(runner: Run) -> None:
    runner.fake.settings.error_in_200 = "auth"
    result = runner.score(3)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        "error: connection 'fake': the provider refused the credentials (HTTP 200 with an "
        f"error body (invalid_api_key): Incorrect API key provided.); check {KEY_ENV}\n"
    )
    assert not runner.output.exists()
