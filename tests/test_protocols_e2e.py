"""Every protocol, every price: `judgekit score` end to end against the fake, once per wire
protocol (chat_completions, responses, anthropic): the output contract, the cache, the budget,
the ``provider:/model`` shorthand and pricing.  What each protocol puts on the wire, and how
the fallback ladder changes it, is in test_fallback_ladder.py."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import SPEC_RESULT_TYPES
from typer.testing import CliRunner, Result

from judgekit.cli import app
from judgekit.pricing import PRICES_AS_OF
from judgekit.testing.fake_provider import FakeProvider

REPO = Path(__file__).resolve().parents[1]
KEY_ENV = "JUDGEKIT_E2E_KEY"
KEY = "sk-e2e-SECRET-7f3a9c41"
"""A recognisable key: bodies, outputs, the cache and the terminal are searched for it."""

PROTOCOLS = ("chat_completions", "responses", "anthropic")
PATHS = {
    "chat_completions": "/v1/chat/completions",
    "responses": "/v1/responses",
    "anthropic": "/v1/messages",
}
TABLE_PRICES = {
    "chat_completions": ("gpt-4o-mini", 0.15, 0.60),
    "responses": ("gpt-4.1-nano", 0.10, 0.40),
    "anthropic": ("claude-haiku-4-5", 1.00, 5.00),
}
"""Per protocol, a model of the built-in price table and its USD per Mtok (input, output)."""

JUDGE = """
[[judges]]
name = "correct"
connection = "{connection}"
template = "correctness"
threshold = 0.5
[judges.columns]
input = "question"
output = "answer"
expected = "reference"
"""

INPUT_TYPES = [
    ("question", pa.string()),
    ("id", pa.string()),
    ("answer", pa.string()),
    ("weight", pa.float64()),
    ("reference", pa.string()),
]
CORRECTNESS_DIMENSIONS = pa.struct(
    [pa.field(name, pa.float64()) for name in ("main_answer", "completeness", "precision")]
)
RESULT_TYPES = [(f"correct_{name}", type_) for name, type_ in SPEC_RESULT_TYPES]
RESULT_TYPES.insert(4, ("correct_criteria", CORRECTNESS_DIMENSIONS))
"""SPEC section 6 for one correctness judge (its dimensions follow confidence), in order."""


def qa_rows(n: int) -> list[dict[str, Any]]:
    """``n`` rows, columns in no sorted order; even rows answer exactly like the reference,
    so the fake's judge (token F1) scores them 1.0 and the odd ones 0.0."""
    rows = []
    for i in range(n):
        reference = f"Basket {i} holds {i * 7} red apples."
        rows.append(
            {
                "question": f"How many apples are in basket {i}?",
                "id": f"r{i}",
                "answer": reference if i % 2 == 0 else f"Maybe {i + 500} green pears.",
                "weight": i * 1.5,
                "reference": reference,
            }
        )
    return rows


def fake_scores(n: int) -> list[float]:
    """The scores the fake's judge gives ``qa_rows(n)``."""
    return [1.0 - i % 2 for i in range(n)]


def connection_toml(
    fake: FakeProvider, protocol: str, *, name: str = "fake", model: str = "", extra: str = ""
) -> str:
    """A ``[connections.NAME]`` table of ``protocol`` aimed at the fake."""
    base_url = fake.url if protocol == "anthropic" else fake.openai_base_url
    model_line = f'model = "{model}"\n' if model else ""
    return (
        f'[connections.{name}]\nprotocol = "{protocol}"\nbase_url = "{base_url}"\n'
        f'api_key_env = "{KEY_ENV}"\n{model_line}{extra}\n'
    )


@dataclass
class Bench:
    """tmp_path, the fake, and the CLI run against them."""

    root: Path
    fake: FakeProvider
    output: Path = field(init=False)
    """Where ``score`` writes (and ``summary``: its --summary-json)."""
    summary: Path = field(init=False)

    def __post_init__(self) -> None:
        self.output, self.summary = self.root / "out.parquet", self.root / "summary.json"

    def dataset(self, n: int) -> Path:
        """``qa_rows(n)`` as JSONL."""
        path = self.root / "data.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in qa_rows(n)), encoding="utf-8")
        return path

    def config(self, text: str) -> Path:
        """Write the config file."""
        path = self.root / "judges.toml"
        path.write_text(text, encoding="utf-8")
        return path

    def protocol_config(
        self, protocol: str, *, model: str = "", extra: str = "", run: str = "", name: str = "fake"
    ) -> Path:
        """One ``correct`` judge on a ``protocol`` connection called ``name``."""
        model = model or TABLE_PRICES[protocol][0]
        conn = connection_toml(self.fake, protocol, name=name, model=model, extra=extra)
        return self.config(f"[run]\n{run}\n{conn}{JUDGE.format(connection=name)}")

    def invoke(self, *args: str) -> Result:
        """``judgekit ARGS`` in-process."""
        return CliRunner().invoke(app, list(args))

    def score(self, config: Path, data: Path, *extra: str) -> Result:
        """``judgekit score`` with this bench's output, cache and summary."""
        args = [str(data), "-c", str(config), "-o", str(self.output), "--summary-json"]
        args += [str(self.summary), "--cache", str(self.root / "c.sqlite3"), *extra]
        return self.invoke("score", *args)

    def rows(self) -> list[dict[str, Any]]:
        """The scored rows."""
        rows: list[dict[str, Any]] = pq.read_table(self.output).to_pylist()
        return rows

    def figures(self) -> dict[str, Any]:
        """The --summary-json figures."""
        figures: dict[str, Any] = json.loads(self.summary.read_text(encoding="utf-8"))
        return figures


@pytest.fixture
def bench(fake: FakeProvider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Bench:
    """A bench whose connections' key is set; wide columns so rich never wraps."""
    monkeypatch.setenv(KEY_ENV, KEY)
    monkeypatch.setenv("COLUMNS", "250")
    return Bench(tmp_path, fake)


def usd(row: dict[str, Any], input_usd_per_mtok: float, output_usd_per_mtok: float) -> float:
    """What a row's tokens cost at these prices."""
    tokens_usd = (
        row["correct_input_tokens"] * input_usd_per_mtok
        + row["correct_output_tokens"] * output_usd_per_mtok
    )
    return float(tokens_usd) / 1e6


def table_rows(text: str) -> list[list[str]]:
    """The rows of the rich tables in ``text`` (header included), as stripped cells."""
    return [
        [cell.strip() for cell in line.strip().strip("│┃").replace("┃", "│").split("│")]
        for line in text.splitlines()
        if line.strip().startswith(("│", "┃"))
    ]


# -- the score contract, per protocol ---------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=PROTOCOLS)
def test_every_protocol_fills_the_whole_output_contract(bench: Bench, protocol: str) -> None:
    model, input_price, output_price = TABLE_PRICES[protocol]
    config, data = bench.protocol_config(protocol), bench.dataset(8)
    result = bench.score(config, data)
    assert (result.exit_code, result.stdout) == (0, ""), result.stderr
    schema = pq.read_schema(bench.output)
    assert [(f.name, f.type) for f in schema] == INPUT_TYPES + RESULT_TYPES
    rows = bench.rows()
    assert [{k: r[k] for k, _ in INPUT_TYPES} for r in rows] == qa_rows(8)
    assert [r["correct_score"] for r in rows] == fake_scores(8)
    for row in rows:
        assert (row["correct_error"], row["correct_model"]) == (None, model)
        assert row["correct_passed"] is (row["correct_score"] >= 0.5)
        assert row["correct_reasoning"] and row["correct_latency_ms"] > 0
        assert row["correct_input_tokens"] > 0 and row["correct_output_tokens"] > 0
        assert row["correct_cost_usd"] > 0
        assert row["correct_cost_usd"] == pytest.approx(usd(row, input_price, output_price))
    ids = [r["correct_response_id"] for r in rows]
    assert all(ids) and len(set(ids)) == len(ids)
    stats = bench.fake.stats()
    assert stats.by_path == {PATHS[protocol]: 8}
    assert stats.input_tokens == sum(r["correct_input_tokens"] for r in rows)
    figures = bench.figures()
    spent = sum(r["correct_cost_usd"] for r in rows)
    assert (figures["spent_usd"], figures["errors"]) == (pytest.approx(spent, abs=1e-6), {})

    rerun = bench.score(config, data)
    assert rerun.exit_code == 0, rerun.stderr
    assert bench.fake.stats().requests == 8
    volatile = "correct_latency_ms"
    assert [{k: v for k, v in r.items() if k != volatile} for r in bench.rows()] == [
        {k: v for k, v in r.items() if k != volatile} for r in rows
    ]
    figures = bench.figures()
    assert (figures["requests"], figures["cache_hits"], figures["spent_usd"]) == (0, 8, 0)


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=PROTOCOLS)
def test_a_small_budget_stops_mid_run_and_is_never_exceeded(bench: Bench, protocol: str) -> None:
    # Short answers keep a call's worst case (every prompt byte a token, plus 120 output
    # tokens) within a few calls' real cost, so that a budget of 70% of the full run's
    # spend covers some calls but not all.
    config, data = (
        bench.protocol_config(protocol, extra="max_output_tokens = 120"),
        bench.dataset(10),
    )
    assert bench.score(config, data, "--no-cache").exit_code == 0
    budget = float(f"{bench.figures()['spent_usd'] * 0.7:.8f}")
    bench.fake.reset()
    result = bench.score(config, data, "--budget-usd", f"{budget:.8f}")
    assert result.exit_code == 1
    assert f"error: budget of ${budget:g} exhausted: " in result.stderr
    errors = [r["correct_error"] for r in bench.rows()]
    scored = errors.count(None)
    assert 0 < scored < 10
    assert errors.count("budget_exhausted") == 10 - scored
    for row in bench.rows():
        if row["correct_error"] is not None:
            assert (row["correct_score"], row["correct_passed"]) == (None, None)
            assert not row["correct_cost_usd"]
    figures = bench.figures()
    assert figures["spent_usd"] <= figures["budget_usd"] == budget
    assert figures["errors"] == {"budget_exhausted": 10 - scored}
    assert bench.fake.stats().requests == scored


# -- the provider:/model shorthand ------------------------------------------------------------

SHORTHANDS = {
    "openai": ("chat_completions", "OPENAI_API_KEY", "0.15 / 0.6 (OpenAI"),
    "anthropic": ("anthropic", "ANTHROPIC_API_KEY", "1 / 5 (Anthropic"),
}
"""provider -> (its protocol, its key variable, how validate shows the price of the protocol's
model in ``TABLE_PRICES``)."""


def shorthand_judge(provider: str) -> str:
    """A judge naming its model as ``provider:/model``, and no connection."""
    model = TABLE_PRICES[SHORTHANDS[provider][0]][0]
    return JUDGE.replace('connection = "{connection}"', f'model = "{provider}:/{model}"')


@pytest.mark.parametrize("provider", SHORTHANDS, ids=SHORTHANDS)
def test_shorthand_runs_on_an_explicit_connection_priced_from_the_table(
    bench: Bench, monkeypatch: pytest.MonkeyPatch, provider: str
) -> None:
    protocol, key_env, _ = SHORTHANDS[provider]
    model, input_price, output_price = TABLE_PRICES[protocol]
    monkeypatch.setenv(key_env, KEY)
    bench.fake.settings.api_key = KEY
    base_url = bench.fake.url if protocol == "anthropic" else bench.fake.openai_base_url
    config = bench.config(
        f'[connections.{provider}]\nprotocol = "{protocol}"\nbase_url = "{base_url}"\n'
        f'api_key_env = "{key_env}"\n{shorthand_judge(provider)}'
    )
    result = bench.score(config, bench.dataset(4), "--budget-usd", "1")
    assert result.exit_code == 0, result.stderr
    assert [(r.path, r.body["model"]) for r in bench.fake.requests] == [
        (PATHS[protocol], model)
    ] * 4
    for row in bench.rows():
        assert (row["correct_error"], row["correct_model"]) == (None, model)
        assert row["correct_cost_usd"] == pytest.approx(usd(row, input_price, output_price))
        assert row["correct_cost_usd"] > 0


@pytest.mark.parametrize("provider", SHORTHANDS, ids=SHORTHANDS)
def test_validate_shows_a_pure_shorthand_judge_without_calling_it(
    bench: Bench, monkeypatch: pytest.MonkeyPatch, provider: str
) -> None:
    protocol, key_env, price = SHORTHANDS[provider]
    monkeypatch.setenv(key_env, KEY)
    config = bench.config(shorthand_judge(provider))
    result = bench.invoke("validate", "-c", str(config))
    assert (result.exit_code, result.stderr) == (0, "")
    [header, judge] = table_rows(result.stdout)
    assert header[:5] == ["judge", "type", "connection", "model", "price (USD/Mtok in/out)"]
    assert judge == [
        "correct",
        "correctness",
        f"{provider} ({protocol})",
        TABLE_PRICES[protocol][0],
        f"{price} list price, {PRICES_AS_OF})",
        "input=question, output=answer, expected=reference",
    ]
    last = result.stdout.splitlines()[-1]
    assert last.startswith(f"ok: {config} ") and last.endswith(" valid; no model was called")


@pytest.mark.parametrize("command", ["validate", "score"])
@pytest.mark.parametrize("provider", SHORTHANDS, ids=SHORTHANDS)
def test_a_shorthand_without_its_key_is_a_usage_error(
    bench: Bench, provider: str, command: str
) -> None:
    key_env = SHORTHANDS[provider][1]
    config = bench.config(shorthand_judge(provider))
    if command == "validate":
        result = bench.invoke("validate", "-c", str(config))
    else:
        result = bench.score(config, bench.dataset(2))
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        f"error: connection '{provider}': environment variable {key_env} is not set "
        f"(export {key_env}=... before running)\n"
    )
    assert not bench.output.exists()


# -- prices -----------------------------------------------------------------------------------

UNKNOWN_MODEL = "mystery-judge-7"


@pytest.mark.parametrize("how", ["flag", "config", "validate"])
@pytest.mark.parametrize("protocol", PROTOCOLS, ids=PROTOCOLS)
def test_a_budget_needs_a_known_price(bench: Bench, protocol: str, how: str) -> None:
    run = "budget_usd = 2.0" if how != "flag" else ""
    config = bench.protocol_config(protocol, model=UNKNOWN_MODEL, run=run)
    if how == "validate":
        result = bench.invoke("validate", "-c", str(config))
    else:
        result = bench.score(config, bench.dataset(3), *(["--budget-usd", "2"] * (how == "flag")))
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        f"error: {config}: judges[0]: no known price for model '{UNKNOWN_MODEL}' and a budget "
        "is set; set input_usd_per_mtok and output_usd_per_mtok on connections.fake\n"
    )
    assert bench.fake.stats().requests == 0
    assert not bench.output.exists()


@pytest.mark.parametrize("model", [UNKNOWN_MODEL, "table"], ids=["unknown_model", "table_model"])
@pytest.mark.parametrize("protocol", PROTOCOLS, ids=PROTOCOLS)
def test_price_overrides_allow_a_budget_and_set_the_cost(
    bench: Bench, protocol: str, model: str
) -> None:
    model = TABLE_PRICES[protocol][0] if model == "table" else model
    prices = "input_usd_per_mtok = 3.5\noutput_usd_per_mtok = 14.0"
    config = bench.protocol_config(protocol, model=model, extra=prices)
    result = bench.score(config, bench.dataset(4), "--budget-usd", "1")
    assert result.exit_code == 0, result.stderr
    rows = bench.rows()
    for row in rows:
        assert (row["correct_error"], row["correct_model"]) == (None, model)
        assert row["correct_cost_usd"] == pytest.approx(usd(row, 3.5, 14.0))
    spent = sum(r["correct_cost_usd"] for r in rows)
    assert bench.figures()["spent_usd"] == pytest.approx(spent, abs=1e-6)
    validated = bench.invoke("validate", "-c", str(config))
    assert table_rows(validated.stdout)[1][4] == "3.5 / 14 (config)"
