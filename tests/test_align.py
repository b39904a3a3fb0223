"""``judgekit align`` end to end against the fake provider, on the demo's labelled rows."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
from conftest import Workspace

from judgekit.config import load_config
from judgekit.trust.fewshot import (
    LabelledRow,
    choose_examples,
    mcnemar_exact,
    stratified_split,
)

ROOT = Path(__file__).resolve().parent.parent
DEMO = str(ROOT / "datasets" / "demo.jsonl")
CONFIG = str(ROOT / "configs" / "demo.toml")


@pytest.fixture
def demo(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """The workspace with the demo config's fake URL pointing at this test's fake."""
    monkeypatch.setenv("JUDGEKIT_FAKE_URL", workspace.fake.url)
    return workspace


def _align(ws: Workspace, output: Path, *extra: str, config: str = CONFIG) -> object:
    args = ["align", DEMO, "-c", config, "--judge", "correctness", "-o", str(output)]
    return ws.invoke(*args, "--cache", str(ws.cache), *extra)


def test_align_writes_the_aligned_judge_and_a_rerun_is_free(demo: Workspace) -> None:
    out = demo.root / "aligned.toml"
    result = _align(demo, out, "--seed", "1")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:3] == [
        "scoring 71 labelled rows with the current judge 'correctness'",
        "scoring 22 held-out rows with the few-shot judge (4 examples, threshold 0.5)",
        "held-out rows: 22 compared of 22 (train: 49)",
    ]
    assert lines[4].startswith("before  current judge        0.5  0.773 [")
    assert lines[5].startswith("after   4 examples           0.5  0.773 [")
    assert lines[6] == (
        "McNemar exact test: b=0 (right before, wrong after), c=0 (wrong before, "
        "right after), p=1.000"
    )
    assert lines[-1] == f"wrote {out}: held-out agreement did not get worse (0.773 -> 0.773)"
    assert len(demo.fake.requests) == 71 + 22
    # The aligned config loads, validates and keeps everything else.
    aligned = load_config(out)
    judge = next(j for j in aligned.judges if j.name == "correctness")
    assert judge.examples is not None and len(judge.examples) == 4
    assert [e.verdict for e in judge.examples] == ["fail", "pass", "fail", "pass"]
    assert [j.name for j in aligned.judges] == ["correctness", "helpfulness", "mentions_reference"]
    raw = tomllib.loads(out.read_text("utf-8"))
    assert raw["connections"]["fake"]["base_url"] == "${JUDGEKIT_FAKE_URL}/v1"
    # The few-shot prompts carried the examples inside tags, their data neutralised.
    few_shot = [json.dumps(r.body) for r in demo.fake.requests[71:]]
    first = judge.examples[0]
    assert all("\\n<examples>\\n<example>\\n<input>\\n" in body for body in few_shot)
    assert all(f"<verdict>\\n{first.verdict}\\n</verdict>" in body for body in few_shot)
    assert not any("<examples>" in json.dumps(r.body) for r in demo.fake.requests[:71])
    # A rerun sends nothing: every answer is in the cache.
    demo.fake.reset()
    again = _align(demo, demo.root / "again.toml", "--seed", "1")
    assert again.exit_code == 0, again.output
    assert len(demo.fake.requests) == 0
    assert "calls: 0 sent, $0.0000 spent" in again.stdout
    assert (demo.root / "again.toml").read_text("utf-8") == out.read_text("utf-8")


def test_align_writes_nothing_when_held_out_agreement_got_worse(demo: Workspace) -> None:
    # examples_shift: every few-shot prompt scores 0.5 lower, so most rows fail.
    demo.fake.settings.examples_shift = -0.5
    out = demo.root / "aligned.toml"
    result = _align(demo, out, "--seed", "1")
    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines()[-1] == (
        f"not written: held-out agreement got worse (0.773 -> 0.364); {out} left alone"
    )
    assert not out.exists()
    assert not list(demo.root.glob(".aligned.toml*"))


def test_align_dry_run_shows_calls_and_worst_case(demo: Workspace) -> None:
    out = demo.root / "aligned.toml"
    result = _align(demo, out, "--dry-run")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "dry run: nothing sent"
    assert re.fullmatch(
        r"  current judge on the labelled rows: 71 rows, 71 calls to send \(0 cached\), "
        r"worst case \$0\.0\d+",
        lines[1],
    )
    assert re.fullmatch(
        r"  few-shot judge on the held-out rows: 22 rows, 22 calls to send \(0 cached\), "
        r"worst case \$0\.0\d+",
        lines[2],
    )
    assert lines[3].endswith("(budget $1)")
    assert len(demo.fake.requests) == 0
    assert not out.exists()


def _config_with_labels(ws: Workspace, labels: list[str], notes: bool = False) -> tuple[Path, Path]:
    rows = [
        {"id": f"r{i}", "q": f"question {i}", "a": f"answer {i}", "ref": f"answer {i}", "h": h}
        | ({"why": f"note {i}"} if notes else {})
        for i, h in enumerate(labels)
    ]
    data = ws.write_rows(rows)
    judges = (
        '[[judges]]\nname = "c"\nconnection = "fake"\ntemplate = "correctness"\n'
        'human_label = "h"\n[judges.columns]\ninput = "q"\noutput = "a"\nexpected = "ref"\n'
        '[[judges]]\nname = "rule"\ntype = "exact"\n'
        '[judges.columns]\noutput = "a"\nexpected = "ref"\n'
        '[[judges]]\nname = "nolabel"\nconnection = "fake"\ntemplate = "correctness"\n'
        '[judges.columns]\ninput = "q"\noutput = "a"\nexpected = "ref"\n'
    )
    return data, ws.write_config(judges=judges)


@pytest.mark.parametrize(
    ("labels", "args", "message"),
    [
        (
            ["", "unsure"] * 5,
            ["--judge", "c"],
            "error: {data}: column 'h' holds no pass/fail label; "
            "label some rows (pass or fail) and rerun",
        ),
        (
            ["pass"] * 10 + ["fail"] * 3,
            ["--judge", "c"],
            "error: {data}: column 'h' has 10 pass and 3 fail labels; "
            "align needs at least 4 of each: label more rows",
        ),
        (
            ["pass", "fail"] * 5,
            ["--judge", "nope"],
            "error: --judge nope: no such judge in {config}; judges: c, rule, nolabel",
        ),
        (
            ["pass", "fail"] * 5,
            ["--judge", "rule"],
            "error: --judge rule: a rule judge (type exact) has no prompt to align; "
            "choose an llm judge (c, nolabel)",
        ),
        (
            ["pass", "fail"] * 5,
            ["--judge", "nolabel"],
            "error: judge 'nolabel' has no human_label in {config}; "
            "pass --human COLUMN (the column of human pass/fail labels)",
        ),
        (
            ["pass", "fail"] * 5,
            ["--judge", "c", "--note", "why"],
            "error: {data}: no column 'why' (--note); columns: id, q, a, ref, h",
        ),
    ],
    ids=["no labels", "too few of a class", "unknown judge", "rule judge", "no human", "note"],
)
def test_align_errors(
    workspace: Workspace, labels: list[str], args: list[str], message: str
) -> None:
    data, config = _config_with_labels(workspace, labels)
    out = workspace.root / "out.toml"
    result = workspace.invoke("align", str(data), "-c", str(config), *args, "-o", str(out))
    assert result.exit_code == 2, result.output
    assert result.stderr == message.format(data=data, config=config) + "\n"
    assert len(workspace.fake.requests) == 0
    assert not out.exists()


def test_align_refuses_an_existing_output(workspace: Workspace) -> None:
    data, config = _config_with_labels(workspace, ["pass", "fail"] * 5)
    out = workspace.root / "out.toml"
    out.write_text("mine\n")
    result = workspace.invoke("align", str(data), "-c", str(config), "--judge", "c", "-o", str(out))
    assert result.exit_code == 2
    assert result.stderr == f"error: {out}: already exists; choose another -o or remove it\n"
    assert out.read_text() == "mine\n"


# -- the statistics behind it (trust/fewshot.py) -----------------------------------------------


def test_stratified_split_keeps_each_class_share_and_is_seeded() -> None:
    rows = [LabelledRow(i, i % 3 != 0) for i in range(30)]  # 20 pass, 10 fail
    split = stratified_split(rows, 0.3, seed=7)
    held = [rows[i] for i in split.holdout]
    assert (sum(r.human_pass for r in held), sum(not r.human_pass for r in held)) == (6, 3)
    assert sorted(split.train + split.holdout) == list(range(30))
    assert split == stratified_split(rows, 0.3, seed=7)
    assert split != stratified_split(rows, 0.3, seed=8)
    with pytest.raises(ValueError, match="between 0 and 1"):
        stratified_split(rows, 1.0, seed=0)


def test_choose_examples_puts_disagreements_first_and_alternates_classes() -> None:
    rows = [
        LabelledRow(0, True, 0.9, True),
        LabelledRow(1, True, 0.2, False),  # disagreement
        LabelledRow(2, False, 0.8, True),  # disagreement
        LabelledRow(3, False, 0.1, False),
        LabelledRow(4, True, None, None),  # a judge error counts as a disagreement
    ]
    chosen = choose_examples(rows, 4, seed=0)
    assert [r.index for r in chosen[:3]] == [2, 4, 1]
    assert chosen[3].index in (0, 3)
    assert choose_examples(rows, 0, seed=0) == []


@pytest.mark.parametrize(
    ("b", "c", "p"),
    [(0, 0, 1.0), (1, 0, 1.0), (0, 6, 0.03125), (2, 8, 0.109375)],
    ids=["none", "one", "six-nil", "two-eight"],
)
def test_mcnemar_exact(b: int, c: int, p: float) -> None:
    assert mcnemar_exact(b, c) == pytest.approx(p)


_CONNECTION = {
    "protocol": "chat_completions",
    "base_url": "http://127.0.0.1:9/v1",
    "model": "m",
    "api_key_required": False,
}


@pytest.mark.parametrize(
    ("judge", "message"),
    [
        (
            {"name": "r", "type": "exact", "examples": [{"output": "a", "verdict": "pass"}]},
            "x.toml: judges[0]: a exact rule judge takes no examples",
        ),
        (
            {
                "name": "l",
                "connection": "c",
                "template": "correctness",
                "examples": [{"output": "a", "verdict": "maybe"}],
            },
            "x.toml: judges[0].examples[0].verdict: invalid value 'maybe' "
            "(allowed: 'pass' or 'fail')",
        ),
    ],
    ids=["rule judge", "bad verdict"],
)
def test_examples_key_is_checked(judge: dict[str, object], message: str) -> None:
    from judgekit.config import parse_config
    from judgekit.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        parse_config({"connections": {"c": _CONNECTION}, "judges": [judge]}, "x.toml")
    assert str(info.value) == message


def test_align_takes_each_examples_reasoning_from_the_note_column(workspace: Workspace) -> None:
    data, config = _config_with_labels(workspace, ["pass", "fail"] * 5, notes=True)
    out = workspace.root / "out.toml"
    args = ["--judge", "c", "--note", "why", "--examples", "2", "--cache", str(workspace.cache)]
    result = workspace.invoke("align", str(data), "-c", str(config), *args, "-o", str(out))
    assert result.exit_code == 0, result.output
    examples = tomllib.loads(out.read_text("utf-8"))["judges"][0]["examples"]
    # The fake passes every row here: the human fails are the disagreements, chosen first.
    assert [(e["verdict"], e["reasoning"][:5]) for e in examples] == [
        ("fail", "note "),
        ("fail", "note "),
    ]
    few_shot = json.dumps(workspace.fake.requests[-1].body)
    assert f"<reasoning>\\n{examples[0]['reasoning']}\\n</reasoning>" in few_shot


def test_align_stops_at_the_budget_and_a_rerun_pays_only_the_rest(demo: Workspace) -> None:
    out = demo.root / "aligned.toml"
    result = _align(demo, out, "--seed", "1", "--budget-usd", "0.002")
    assert result.exit_code == 1, result.output
    assert re.fullmatch(
        r"error: budget of \$0\.002 exhausted: \d+ judgements not scored \(raise --budget-usd "
        r"and rerun; answered calls come from the cache\)\n",
        result.stderr,
    )
    assert not out.exists()
    paid = len(demo.fake.requests)
    assert 0 < paid < 71
    again = _align(demo, out, "--seed", "1")
    assert again.exit_code == 0, again.output
    assert len(demo.fake.requests) == 71 + 22
