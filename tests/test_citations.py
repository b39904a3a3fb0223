"""The citations template: the reply it asks for, the score judgekit computes, end to end."""

from __future__ import annotations

import json
import re
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import Workspace

from judgekit.citations import citation_schema, parse_citations
from judgekit.prompts import render, stricter
from judgekit.records import Verdict
from judgekit.templates import TEMPLATES
from judgekit.testing.fake_judges import citation_verdicts, sources
from judgekit.verdicts import MalformedVerdict


def reply(*verdicts: str, **extra: Any) -> str:
    items = [{"marker": f"[{i}]", "claim": "c", "verdict": v} for i, v in enumerate(verdicts, 1)]
    return json.dumps({"reasoning": "checked", "citations": items, "confidence": 0.8, **extra})


COUNTS = [
    ("all supported", reply("supported", "supported"), 1.0, (2, 0, 0)),
    (
        "one of four",
        reply("supported", "unsupported", "missing_source", "unsupported"),
        0.25,
        (1, 2, 1),
    ),
    ("nothing cited scores 0", reply(), 0.0, (0, 0, 0)),
    (
        "forgiving spelling",
        reply("Supported", "Missing source", "missing-source"),
        1 / 3,
        (1, 0, 2),
    ),
]


@pytest.mark.parametrize(
    ("text", "score", "counts"), [c[1:] for c in COUNTS], ids=[c[0] for c in COUNTS]
)
def test_the_score_is_the_share_of_supported_citations(
    text: str, score: float, counts: tuple[int, int, int]
) -> None:
    verdict = parse_citations(text)
    assert verdict == Verdict(
        score=score,
        reasoning="checked",
        confidence=0.8,
        criteria=dict(
            zip(("supported", "unsupported", "missing_source"), map(float, counts), strict=True)
        ),
    )


def test_a_wrapped_answer_in_prose_is_read() -> None:
    text = 'Here it is: {"evaluation": ' + reply("unsupported") + "} done"
    assert parse_citations(text).criteria == {
        "supported": 0.0,
        "unsupported": 1.0,
        "missing_source": 0.0,
    }


BAD = [
    ("no citations key", '{"reasoning": "x"}', "missing citations"),
    ("not a list", '{"citations": {"a": 1}}', "citations is not a list"),
    ("an item not an object", '{"citations": ["[1]"]}', "citation 1 is not an object"),
    (
        "an unknown verdict",
        reply("supported", "partly"),
        'citation 2 has verdict "partly" (supported, unsupported, missing_source)',
    ),
    (
        "no verdict",
        '{"citations": [{"marker": "[1]"}]}',
        "citation 1 has verdict null (supported, unsupported, missing_source)",
    ),
    ("bad confidence", reply("supported", confidence=3), "confidence 3 outside 0..1"),
    ("reasoning not text", reply("supported", reasoning=[1]), "reasoning is not a string"),
    ("no JSON", "All citations look fine.", "no JSON object in reply"),
]


@pytest.mark.parametrize(("text", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_an_unusable_answer_is_malformed(text: str, message: str) -> None:
    with pytest.raises(MalformedVerdict, match=f"^{re.escape(message)}$"):
        parse_citations(text)


def test_the_prompt_asks_for_one_verdict_per_citation_and_no_scale() -> None:
    template = TEMPLATES["citations"]
    prompt = render(
        template,
        {"output": "It launched in 2021 [1].", "context": "[1] Launched 2021."},
        template.dimensions,
    )
    closing = prompt.user.split("## Answer format", 1)[1]
    assert "Citation verdicts: supported, unsupported, missing_source" in closing
    assert "Score scale" not in closing and "Criteria:" not in closing
    shape = stricter(prompt, "no json").user.rsplit("\n", 1)[1]
    assert shape.startswith('{"reasoning": "<text>", "citations": [{"marker": ')


def test_the_schema_is_strict_mode_shaped() -> None:
    schema = citation_schema()
    assert schema["required"] == ["reasoning", "citations", "confidence"]
    item = schema["properties"]["citations"]["items"]
    assert item["properties"]["verdict"]["enum"] == ["supported", "unsupported", "missing_source"]
    assert item["additionalProperties"] is False and schema["additionalProperties"] is False


# -- the fake's stand-in ---------------------------------------------------------------------

CONTEXT = "[1] JWST launched on 25 December 2021 from Kourou.\n[2] JWST orbits the Sun near L2."


def test_the_fake_reads_numbered_sources() -> None:
    assert sources(CONTEXT) == {
        "1": "JWST launched on 25 December 2021 from Kourou.",
        "2": "JWST orbits the Sun near L2.",
    }


def test_the_fake_checks_each_cited_claim_against_its_source() -> None:
    output = "JWST launched in December 2021 [1]. It was built by ESA alone [2, 3]."
    assert citation_verdicts(output, CONTEXT) == [
        {"marker": "[1]", "claim": "JWST launched in December 2021", "verdict": "supported"},
        {"marker": "[2]", "claim": "It was built by ESA alone", "verdict": "unsupported"},
        {"marker": "[3]", "claim": "It was built by ESA alone", "verdict": "missing_source"},
    ]


# -- end to end ------------------------------------------------------------------------------

JUDGE = """
[[judges]]
name = "grounded"
connection = "fake"
template = "citations"
threshold = 0.8
[judges.columns]
input = "question"
output = "answer"
context = "sources"
"""

ROWS = [
    {
        "id": "r1",
        "question": "When?",
        "answer": "JWST launched on 25 December 2021 [1] from Kourou [1].",
        "sources": CONTEXT,
    },
    {
        "id": "r2",
        "question": "Who?",
        "answer": "JWST orbits the Sun [2]; NASA built it with Boeing [4].",
        "sources": CONTEXT,
    },
    {"id": "r3", "question": "Where?", "answer": "It orbits near L2.", "sources": CONTEXT},
]


def test_citations_end_to_end(workspace: Workspace) -> None:
    config = workspace.write_config(judges=JUDGE)
    out = workspace.root / "out.parquet"
    result = workspace.score(workspace.write_rows(ROWS), config, out, "-q")
    assert result.exit_code == 0, result.stderr
    rows = workspace.read_rows(out)
    assert [(r["grounded_score"], r["grounded_passed"]) for r in rows] == [
        (1.0, True),
        (0.5, False),
        (0.0, False),
    ]
    assert [r["grounded_criteria"] for r in rows] == [
        {"supported": 2.0, "unsupported": 0.0, "missing_source": 0.0},
        {"supported": 1.0, "unsupported": 0.0, "missing_source": 1.0},
        {"supported": 0.0, "unsupported": 0.0, "missing_source": 0.0},
    ]
    assert rows[2]["grounded_reasoning"] == "The output cites no source."
    criteria = pq.read_schema(out).field("grounded_criteria").type
    assert criteria == pa.struct(
        [pa.field(n, pa.float64()) for n in ("supported", "unsupported", "missing_source")]
    )
    body = workspace.fake.requests[0].body
    assert body["response_format"]["json_schema"]["schema"] == citation_schema()


def test_citations_take_no_criteria_weights(workspace: Workspace) -> None:
    judges = JUDGE + "[judges.criteria]\nsupported = 1.0\n"
    config = workspace.write_config(judges=judges)
    result = workspace.score(workspace.write_rows(ROWS), config, workspace.root / "o.parquet")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        f"error: {config}: judges[0].criteria: template 'citations' takes no criteria weights "
        "(its score is the share of supported citations)\n"
    )


@pytest.mark.parametrize("protocol", ["chat_completions", "responses", "anthropic"])
def test_citations_and_continuation_on_every_protocol(workspace: Workspace, protocol: str) -> None:
    base = workspace.fake.url if protocol == "anthropic" else workspace.fake.openai_base_url
    config = workspace.root / "p.toml"
    config.write_text(
        f'[connections.fake]\nprotocol = "{protocol}"\nbase_url = "{base}"\nmodel = "fake-judge"\n'
        f'api_key_env = "{workspace.key_env}"\n'
        + JUDGE.replace(
            'template = "citations"', 'template = "citations"\ncontinue_conversation = true'
        ),
        encoding="utf-8",
    )
    out = workspace.root / "out.parquet"
    result = workspace.score(workspace.write_rows(ROWS), config, out, "-q")
    assert result.exit_code == 0, result.stderr
    rows = workspace.read_rows(out)
    assert [r["grounded_score"] for r in rows] == [1.0, 0.5, 0.0]
    assert [r["grounded_should_continue"] for r in rows] == [True, True, True]
    assert rows[0]["grounded_next_prompt"] == 'Thanks. What else should I know about "When"?'
