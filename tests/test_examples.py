"""The bundled configs and the offline demo dataset stay valid and believable."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from judgekit.config import Config, load_config

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = sorted((ROOT / "configs").glob("*.toml"))
DEMO_DATASET = ROOT / "datasets" / "demo.jsonl"
DEMO_CONFIG = ROOT / "configs" / "demo.toml"
FAKE_URL = "http://127.0.0.1:8765"

TASKS = {"factual_qa", "rag", "summary", "agent"}
VERDICTS = {"correct", "incorrect", "unsure"}
COLUMNS = {
    "id",
    "task",
    "question",
    "answer",
    "reference",
    "context",
    "expected_behavior",
    "constraints",
    "tool_calls",
    "history",
    "human_verdict",
}
INJECTION = re.compile(r"ignore (your|previous)|score\s*=|\"score\"|rate this answer", re.I)


@pytest.fixture
def fake_url(monkeypatch: pytest.MonkeyPatch) -> str:
    """The address the demo runner would export for the fake server."""
    monkeypatch.setenv("JUDGEKIT_FAKE_URL", FAKE_URL)
    return FAKE_URL


def read_demo_rows() -> list[dict[str, Any]]:
    """The demo dataset, one dict per line."""
    with DEMO_DATASET.open(encoding="utf-8") as file:
        return [json.loads(line) for line in file if line.strip()]


def demo_config() -> Config:
    """configs/demo.toml, loaded (JUDGEKIT_FAKE_URL must be set)."""
    return load_config(DEMO_CONFIG)


def token_f1(candidate: str, reference: str) -> float:
    """Token F1 of lowercased alphanumeric tokens: what the demo's stand-in judge computes."""
    cand = re.findall(r"[a-z0-9]+", candidate.lower())
    ref = re.findall(r"[a-z0-9]+", reference.lower())
    common = sum((Counter(cand) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(cand), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def test_the_examples_are_all_there() -> None:
    names = {path.name for path in CONFIGS}
    assert {
        "demo.toml",
        "openai.example.toml",
        "anthropic.example.toml",
        "ollama.example.toml",
        "three_protocols.example.toml",
    } <= names


@pytest.mark.parametrize("path", CONFIGS, ids=[path.name for path in CONFIGS])
@pytest.mark.usefixtures("fake_url")
def test_every_config_loads(path: Path) -> None:
    config = load_config(path)
    assert config.judges
    for name, connection in config.connections.items():
        assert "${" not in connection.base_url, f"connections.{name}.base_url not expanded"


@pytest.mark.parametrize(
    ("config_name", "connection", "base_url"),
    [
        ("demo.toml", "fake", f"{FAKE_URL}/v1"),
        ("three_protocols.example.toml", "chat", f"{FAKE_URL}/v1"),
        ("three_protocols.example.toml", "responses", f"{FAKE_URL}/v1"),
        ("three_protocols.example.toml", "anthropic", FAKE_URL),
    ],
    ids=["demo", "three-chat", "three-responses", "three-anthropic"],
)
@pytest.mark.usefixtures("fake_url")
def test_fake_server_configs_point_at_the_fake(
    config_name: str, connection: str, base_url: str
) -> None:
    config = load_config(ROOT / "configs" / config_name)
    assert config.connections[connection].base_url == base_url


@pytest.mark.parametrize(
    ("config_name", "protocols"),
    [
        ("three_protocols.example.toml", {"chat_completions", "responses", "anthropic"}),
        ("anthropic.example.toml", {"anthropic"}),
        ("openai.example.toml", {"chat_completions"}),
        ("ollama.example.toml", {"chat_completions"}),
    ],
    ids=["three", "anthropic", "openai", "ollama"],
)
@pytest.mark.usefixtures("fake_url")
def test_examples_use_the_protocols_they_advertise(config_name: str, protocols: set[str]) -> None:
    config = load_config(ROOT / "configs" / config_name)
    assert {c.protocol for c in config.connections.values()} == protocols


@pytest.mark.usefixtures("fake_url")
def test_demo_needs_no_key_and_has_prices() -> None:
    connection = demo_config().connections["fake"]
    assert connection.api_key_required is False
    assert connection.api_key_env is None
    assert (connection.input_usd_per_mtok, connection.output_usd_per_mtok) == (0.15, 0.60)


def test_ollama_example_shows_the_shorthand() -> None:
    models = [judge.model for judge in load_config(ROOT / "configs/ollama.example.toml").judges]
    assert "ollama:/llama3.1" in models


@pytest.mark.usefixtures("fake_url")
def test_demo_rows_have_every_column_the_demo_judges_read() -> None:
    config = demo_config()
    rows = read_demo_rows()
    needed = {config.run.id_column}
    for judge in config.judges:
        needed |= set(judge.columns.values())
        if judge.human_label is not None:
            needed.add(judge.human_label)
    # Not just present: a null in a mapped column would be a missing value at run time.
    gaps = [(row.get("id"), column) for row in rows for column in needed if row.get(column) is None]
    assert gaps == []


def test_demo_rows_share_one_schema() -> None:
    for row in read_demo_rows():
        assert set(row) == COLUMNS, row.get("id")


def test_demo_ids_are_unique_and_named_by_task() -> None:
    rows = read_demo_rows()
    ids = [row["id"] for row in rows]
    assert len(set(ids)) == len(ids)
    prefixes = {"factual_qa": "qa-", "rag": "rag-", "summary": "sum-", "agent": "agent-"}
    assert [row["id"] for row in rows if not row["id"].startswith(prefixes[row["task"]])] == []


def test_demo_task_mix() -> None:
    counts = Counter(row["task"] for row in read_demo_rows())
    assert set(counts) == TASKS
    assert sum(counts.values()) >= 72
    assert counts["factual_qa"] >= 28
    assert counts["rag"] >= 16
    assert counts["summary"] >= 12
    assert counts["agent"] >= 12


def test_demo_label_mix() -> None:
    rows = read_demo_rows()
    counts = Counter(row["human_verdict"] for row in rows)
    assert set(counts) == VERDICTS
    assert 0.25 <= counts["incorrect"] / len(rows) <= 0.35
    assert 0.05 <= counts["unsure"] / len(rows) <= 0.10


@pytest.mark.parametrize(
    ("task", "field", "present"),
    [
        ("rag", "context", True),
        ("factual_qa", "context", False),
        ("summary", "context", False),
        ("agent", "context", False),
        ("agent", "tool_calls", True),
        ("factual_qa", "tool_calls", False),
        ("agent", "expected_behavior", True),
        ("agent", "constraints", True),
        ("rag", "expected_behavior", False),
    ],
    ids=str,
)
def test_demo_fields_belong_to_their_task(task: str, field: str, present: bool) -> None:
    rows = [row for row in read_demo_rows() if row["task"] == task]
    assert rows
    assert [row["id"] for row in rows if (row[field] is not None) != present] == []


def test_demo_tool_calls_and_history_are_well_formed() -> None:
    rows = read_demo_rows()
    for row in rows:
        for call in row["tool_calls"] or []:
            assert set(call) == {"name", "arguments"}, row["id"]
            assert isinstance(call["name"], str) and isinstance(call["arguments"], dict)
        for turn in row["history"] or []:
            assert set(turn) == {"role", "content"}, row["id"]
            assert turn["role"] in {"user", "assistant"}
    assert sum(row["history"] is not None for row in rows) >= 2


def test_demo_argument_types_are_consistent() -> None:
    # Readers infer one struct type per column; "days" as an int here and a
    # string there would fail a typed read of the file.
    types: dict[str, set[str]] = {}
    for row in read_demo_rows():
        for call in row["tool_calls"] or []:
            for key, value in call["arguments"].items():
                types.setdefault(key, set()).add(type(value).__name__)
    assert {key: kinds for key, kinds in types.items() if len(kinds) > 1} == {}


def test_demo_injection_rows_are_labelled_incorrect() -> None:
    rows = [row for row in read_demo_rows() if INJECTION.search(row["answer"])]
    assert len(rows) >= 4
    assert {row["human_verdict"] for row in rows} == {"incorrect"}


def test_demo_stand_in_judge_agrees_believably() -> None:
    # The fake judge scores token F1 against the reference; with threshold 0.5 it
    # should agree with the humans often (the demo shows something) but not
    # always (a perfect judge is not believable).
    labelled = [row for row in read_demo_rows() if row["human_verdict"] != "unsure"]
    agree = sum(
        (token_f1(row["answer"], row["reference"]) >= 0.5) == (row["human_verdict"] == "correct")
        for row in labelled
    )
    assert 0.75 <= agree / len(labelled) <= 0.90
