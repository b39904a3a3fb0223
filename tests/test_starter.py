"""`judgekit init`: a starter config from a dataset's columns, valid for that dataset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import pytest

from judgekit.presets import default_base_url
from judgekit.starter import PROVIDERS, StarterJudge, choose_judges, map_columns

if TYPE_CHECKING:
    from conftest import Workspace


@pytest.mark.parametrize(
    ("columns", "fields", "human"),
    [
        (
            ["id", "question", "answer", "reference", "human_verdict"],
            {"input": "question", "output": "answer", "expected": "reference"},
            "human_verdict",
        ),
        (
            ["Prompt", "Response", "Ground Truth", "contexts", "label"],
            {
                "input": "Prompt",
                "output": "Response",
                "expected": "Ground Truth",
                "context": "contexts",
            },
            "label",
        ),
        (
            ["input", "output", "expected", "documents", "verdict", "tool_calls"],
            {
                "input": "input",
                "output": "output",
                "expected": "expected",
                "context": "documents",
                "tool_calls": "tool_calls",
            },
            "verdict",
        ),
        (["text", "answer", "human_rating"], {"output": "answer"}, "human_rating"),
        (["query", "completion", "score"], {"input": "query", "output": "completion"}, None),
    ],
    ids=["qa", "case-and-spaces", "plain-names", "human-prefix", "no-labels"],
)
def test_columns_are_mapped_by_name(
    columns: list[str], fields: dict[str, str], human: str | None
) -> None:
    assert map_columns(columns) == (fields, human)


QA = {"input": "question", "output": "answer"}


@pytest.mark.parametrize(
    ("fields", "judges"),
    [
        ({**QA, "expected": "reference"}, ["correctness", "reference_overlap"]),
        (QA, ["helpfulness"]),
        ({"output": "answer", "context": "docs"}, ["faithfulness"]),
        ({"output": "answer"}, ["safety"]),
        (
            {**QA, "expected": "ref", "context": "ctx", "expected_behavior": "eb"},
            ["correctness", "faithfulness", "behavior", "reference_overlap"],
        ),
    ],
    ids=["reference", "no-reference", "rag", "output-only", "everything"],
)
def test_templates_are_those_the_columns_allow(fields: dict[str, str], judges: list[str]) -> None:
    chosen = choose_judges(fields, "h")
    assert [judge.name for judge in chosen] == judges
    assert all(judge.human_label == "h" for judge in chosen)


def test_a_judge_maps_only_the_fields_its_template_reads() -> None:
    fields = {**QA, "expected": "reference", "context": "ctx"}
    correctness, faithfulness, overlap = choose_judges(fields, None)
    assert correctness == StarterJudge(
        "correctness", "correctness", {**QA, "expected": "reference"}, None
    )
    assert faithfulness.fields == {"output": "answer", "context": "ctx", "input": "question"}
    assert overlap.fields == {"output": "answer", "expected": "reference"}


# -- the command ---------------------------------------------------------------------


def qa_rows(n: int = 4) -> list[dict[str, Any]]:
    """Question/answer rows with a reference and a human verdict."""
    return [
        {
            "id": f"q{i}",
            "question": f"How many apples in basket {i}?",
            "answer": f"{i * 7} apples",
            "reference": f"There are {i * 7} apples.",
            "human_verdict": "correct" if i % 2 else "incorrect",
        }
        for i in range(n)
    ]


def test_init_writes_a_config_that_validates(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = workspace.write_rows(qa_rows())
    config = workspace.root / "judgekit.toml"
    result = workspace.invoke("init", str(data), "-o", str(config))
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == (
        f"wrote {config} for {data} (4 rows)\n"
        "  judge correctness: input=question, output=answer, expected=reference; "
        "human_label=human_verdict\n"
        "  judge reference_overlap: output=answer, expected=reference; human_label=human_verdict\n"
        "next:\n"
        "  export OPENAI_API_KEY=sk-...\n"
        f"  judgekit validate -c {config} {data}\n"
        f"  judgekit score {data} -c {config} -o out/scored.parquet --dry-run\n"
        f"  judgekit score {data} -c {config} -o out/scored.parquet\n"
        f"  judgekit agreement out/scored.parquet -c {config}\n"
    )
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    validated = workspace.invoke("validate", "-c", str(config), str(data))
    assert validated.exit_code == 0, validated.output
    assert validated.stdout.splitlines()[-1] == (
        f"ok: {config} and {data} (4 rows) are valid; no model was called"
    )


@pytest.mark.parametrize("provider", ["openai", "anthropic", "ollama"])
def test_each_provider_block_validates(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, provider: str
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    data = workspace.write_rows(qa_rows())
    config = workspace.root / f"{provider}.toml"
    assert (
        workspace.invoke("init", str(data), "-o", str(config), "--provider", provider).exit_code
        == 0
    )
    validated = workspace.invoke("validate", "-c", str(config), str(data))
    assert validated.exit_code == 0, validated.output
    text = config.read_text(encoding="utf-8")
    for name, block in PROVIDERS.items():  # the others stay, commented out
        prefix = "" if name == provider else "# "
        assert "\n".join(f"{prefix}{line}" for line in block.lines) in text


def test_switching_provider_is_swapping_the_comment_marks(workspace: Workspace) -> None:
    data = workspace.write_rows(qa_rows())
    bodies = {}
    for provider in ("openai", "anthropic"):
        path = workspace.root / f"{provider}.toml"
        workspace.invoke("init", str(data), "-o", str(path), "--provider", provider)
        bodies[provider] = path.read_text(encoding="utf-8").split("\n[run]\n")[1].splitlines()
    lines = bodies["openai"]
    for provider, mark in (("openai", True), ("anthropic", False)):
        start = lines.index(f"# {PROVIDERS[provider].title}") + 1
        for i in range(start, start + 1 + len(PROVIDERS[provider].lines)):
            lines[i] = f"# {lines[i]}" if mark else lines[i].removeprefix("# ")
    assert lines == bodies["anthropic"]


def test_the_starter_config_scores_against_the_fake(workspace: Workspace) -> None:
    data = workspace.write_rows(qa_rows())
    config = workspace.root / "judgekit.toml"
    workspace.invoke("init", str(data), "-o", str(config))
    text = config.read_text(encoding="utf-8").replace(
        default_base_url("openai"), workspace.fake.openai_base_url
    )
    config.write_text(text.replace("OPENAI_API_KEY", workspace.key_env), encoding="utf-8")
    output = workspace.root / "scored.parquet"
    result = workspace.score(data, config, output, "-q")
    assert result.exit_code == 0, result.output
    agreement = workspace.invoke("agreement", str(output), "-c", str(config), "--format", "json")
    judges = [judge["judge"] for judge in json.loads(agreement.stdout)["judges"]]
    assert judges == ["correctness", "reference_overlap"]


def test_a_parquet_dataset_and_an_empty_required_column(workspace: Workspace) -> None:
    data = workspace.root / "rag.parquet"
    frame = pl.DataFrame(
        {"question": ["q1", "q2", "q3"], "answer": ["a", "b", "c"], "context": ["c1", None, " "]}
    )
    frame.write_parquet(data)
    config = workspace.root / "judgekit.toml"
    result = workspace.invoke("init", str(data), "-o", str(config))
    assert result.exit_code == 0, result.output
    note = (
        "'context' is empty on 2 of 3 rows; they get J_error = bad_request (nothing to judge) "
        "and count towards max_error_rate"
    )
    assert result.stdout.splitlines()[1:4] == [
        "  judge faithfulness: output=answer, context=context, input=question",
        f"    note: {note}",
        "  judge helpfulness: input=question, output=answer",
    ]
    text = config.read_text(encoding="utf-8")
    assert "# note: 'context' is empty on 2 of 3 rows; they get J_error = bad_request\n" in text
    assert '# id_column = "id"' in text  # no id column: commented, rows named by index


def test_an_empty_answer_is_noted_as_judged_not_refused(workspace: Workspace) -> None:
    # The answer under test is never refused (engine.judging.missing_field): the note says so.
    data = workspace.root / "answers.csv"
    data.write_text("question,answer\nq1,a\nq2,\nq3,\n", encoding="utf-8")
    config = workspace.root / "judgekit.toml"
    result = workspace.invoke("init", str(data), "-o", str(config))
    assert result.exit_code == 0, result.output
    notes = [line.strip() for line in result.stdout.splitlines() if "note:" in line]
    assert notes == [
        "note: 'answer' is empty on 2 of 3 rows; they are still judged (an empty answer is an "
        "answer: the judge sees it empty and scores it)"
    ]


def test_init_never_overwrites(workspace: Workspace) -> None:
    data = workspace.write_rows(qa_rows())
    config = workspace.root / "judgekit.toml"
    config.write_text("# mine\n", encoding="utf-8")
    result = workspace.invoke("init", str(data), "-o", str(config))
    assert (result.exit_code, result.stdout, result.stderr) == (
        2,
        "",
        f"error: {config}: already exists; judgekit init never overwrites a file "
        "(remove it, or write elsewhere with -o PATH)\n",
    )
    assert config.read_text(encoding="utf-8") == "# mine\n"


def test_init_default_output_is_judgekit_toml(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = workspace.write_rows(qa_rows())
    monkeypatch.chdir(workspace.root)
    assert workspace.invoke("init", str(data)).exit_code == 0
    assert (workspace.root / "judgekit.toml").is_file()
    again = workspace.invoke("init", str(data))
    assert (again.exit_code, again.stderr) == (
        2,
        "error: judgekit.toml: already exists; judgekit init never overwrites a file "
        "(remove it, or write elsewhere with -o PATH)\n",
    )


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        (
            {"text": "x", "score": 1},
            "{data}: no column holds the answers to judge (looked for answer, response, output, "
            "completion, prediction, generation; columns: text, score); rename that column, or "
            "write the config by hand (README: The config, walked through)",
        ),
    ],
    ids=["no-answer-column"],
)
def test_init_refuses_a_dataset_without_answers(
    workspace: Workspace, columns: dict[str, Any], message: str
) -> None:
    data = workspace.write_rows([columns])
    config = workspace.root / "judgekit.toml"
    result = workspace.invoke("init", str(data), "-o", str(config))
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == f"error: {message.format(data=data)}\n"
    assert not config.exists()


def test_init_output_is_a_directory(workspace: Workspace) -> None:
    data = workspace.write_rows(qa_rows())
    result = workspace.invoke("init", str(data), "-o", str(workspace.root))
    assert (result.exit_code, result.stderr) == (
        2,
        f"error: {workspace.root}: is a directory; give a file name, "
        f"e.g. -o {workspace.root}/judgekit.toml\n",
    )


def test_init_creates_the_output_directory(workspace: Workspace) -> None:
    data = workspace.write_rows(qa_rows())
    config: Path = workspace.root / "configs" / "new" / "judgekit.toml"
    assert workspace.invoke("init", str(data), "-o", str(config)).exit_code == 0
    assert config.is_file()


def test_init_lines_are_never_wrapped(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    rows = [{"question": "q", "answer": "a", "context": None}, {"question": "q", "answer": "a"}]
    data = workspace.write_rows(rows)
    result = workspace.invoke("init", str(data), "-o", str(workspace.root / "j.toml"))
    assert result.stdout.splitlines()[2] == (
        "    note: 'context' is empty on 2 of 2 rows; they get J_error = bad_request "
        "(nothing to judge) and count towards max_error_rate"
    )


def test_init_under_a_file_is_refused_before_reading(workspace: Workspace) -> None:
    blocker = workspace.root / "notes.txt"
    blocker.write_text("", encoding="utf-8")
    config = blocker / "sub" / "judgekit.toml"
    result = workspace.invoke("init", str(workspace.root / "missing.jsonl"), "-o", str(config))
    assert (result.exit_code, result.stderr) == (
        2,
        f"error: {config}: cannot create directory {config.parent} ({blocker} is a file)\n",
    )
