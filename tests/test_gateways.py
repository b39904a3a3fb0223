"""Connection ``headers`` (gateways, routers) and ``params`` (model knobs): what reaches the
wire, what reaches the cache key, and that header values reach nothing else."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import httpx
import pytest

from judgekit.providers.failures import classify_response

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import Workspace

GATEWAY_SECRET = "hk-gw-SECRET-8c1d2e"
GATEWAY_HEADERS = """headers = { "Helicone-Auth" = "Bearer ${HELICONE_API_KEY}", \
"HTTP-Referer" = "https://judge.example" }
"""


def secret_free(*texts: str, files: tuple[Path, ...] = ()) -> bool:
    """Neither the gateway secret nor its distinctive tail is in any text or file."""
    needles = (GATEWAY_SECRET, GATEWAY_SECRET[-11:])
    blobs = [t.encode() for t in texts] + [f.read_bytes() for f in files]
    return not any(n.encode() in blob for n in needles for blob in blobs)


def test_headers_reach_the_wire_and_nothing_else(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = workspace
    monkeypatch.setenv("HELICONE_API_KEY", GATEWAY_SECRET)
    data = ws.write_rows(ws.qa_rows(3))
    config = ws.write_config(connection=GATEWAY_HEADERS)
    jsonl, summary = ws.root / "out.jsonl", ws.root / "summary.json"
    first = ws.score(data, config, jsonl, "--summary-json", str(summary), "-v")
    validate = ws.invoke("validate", "-c", str(config), str(data))
    dry = ws.score(data, config, ws.root / "dry.parquet", "--dry-run")
    assert (first.exit_code, validate.exit_code, dry.exit_code) == (0, 0, 0), first.stderr
    for request in ws.fake.requests:
        assert request.headers["helicone-auth"] == f"Bearer {GATEWAY_SECRET}"
        assert request.headers["http-referer"] == "https://judge.example"
        assert request.headers["authorization"] == f"Bearer {ws.key}"
        assert GATEWAY_SECRET not in json.dumps(request.body)
    texts = [r.stdout + r.stderr for r in (first, validate, dry)]
    files = (jsonl, summary, *(p for p in ws.root.iterdir() if p.name.startswith("cache")))
    assert secret_free(*texts, files=files)


def test_a_refused_run_names_no_header_value(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = workspace
    monkeypatch.setenv("HELICONE_API_KEY", GATEWAY_SECRET)
    ws.fake.settings.status_401 = True
    config = ws.write_config(connection=GATEWAY_HEADERS)
    result = ws.score(ws.write_rows(ws.qa_rows(2)), config, ws.root / "out.parquet", "-v")
    assert result.exit_code == 2
    assert secret_free(result.stdout, result.stderr)


def test_a_gateway_echoing_a_header_in_its_error_is_redacted() -> None:
    request = httpx.Request(
        "POST",
        "https://gw.example/v1/chat/completions",
        headers={"Helicone-Auth": f"Bearer {GATEWAY_SECRET}", "X-Team": "team-blue-7"},
    )
    body = {"error": {"message": f"bad auth Bearer {GATEWAY_SECRET} for team-blue-7"}}
    failure = classify_response(httpx.Response(400, json=body, request=request))
    assert failure is not None
    assert failure.message == "HTTP 400 Bad Request: bad auth Bearer [redacted] for [redacted]"


def test_a_missing_header_variable_is_a_usage_error(workspace: Workspace) -> None:
    ws = workspace
    config = ws.write_config(connection=GATEWAY_HEADERS)
    result = ws.score(ws.write_rows(ws.qa_rows(2)), config, ws.root / "out.parquet")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        "error: connection 'fake': headers.Helicone-Auth: environment variable "
        "HELICONE_API_KEY is not set (export HELICONE_API_KEY=... before running, or write "
        "${HELICONE_API_KEY:-default})\n"
    )
    assert ws.fake.stats().requests == 0


def test_changing_headers_keeps_the_cache_changing_params_misses_it(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = workspace
    data = ws.write_rows(ws.qa_rows(3))
    output = ws.root / "out.parquet"
    monkeypatch.setenv("HELICONE_API_KEY", GATEWAY_SECRET)
    base = ws.write_config(connection=GATEWAY_HEADERS)
    assert ws.score(data, base, output).exit_code == 0
    assert ws.fake.stats().requests == 3
    monkeypatch.setenv("HELICONE_API_KEY", "hk-rotated-0000000")
    other_headers = ws.write_config(
        connection='headers = { "Helicone-Auth" = "Bearer ${HELICONE_API_KEY}" }\n'
    )
    assert ws.score(data, other_headers, output).exit_code == 0
    assert ws.fake.stats().requests == 3  # all from the cache
    with_params = ws.write_config(connection="params = { seed = 7 }\n")
    assert ws.score(data, with_params, output).exit_code == 0
    assert ws.fake.stats().requests == 6
    other_params = ws.write_config(connection="params = { seed = 8 }\n")
    assert ws.score(data, other_params, output).exit_code == 0
    assert ws.fake.stats().requests == 9
    assert ws.score(data, other_params, output).exit_code == 0
    assert ws.fake.stats().requests == 9


PARAMS_JUDGES = """
[[judges]]
name = "low"
connection = "fake"
template = "correctness"
columns = { input = "question", output = "answer", expected = "reference" }

[[judges]]
name = "high"
connection = "fake"
template = "correctness"
columns = { input = "question", output = "answer", expected = "reference" }
params = { reasoning_effort = "high", metadata = { run = "nightly" } }
"""


def test_params_are_merged_into_every_body_judge_over_connection(workspace: Workspace) -> None:
    ws = workspace
    connection = (
        'params = { reasoning_effort = "low", seed = 7, service_tier = "flex", top_p = 0.9, '
        'metadata = { team = "eval" } }\n'
    )
    config = ws.write_config(connection=connection, judges=PARAMS_JUDGES)
    assert ws.score(ws.write_rows(ws.qa_rows(1)), config, ws.root / "o.parquet").exit_code == 0
    bodies = sorted((r.body for r in ws.fake.requests), key=lambda b: b["reasoning_effort"])
    assert [list(b)[:5] for b in bodies] == [
        ["model", "messages", "temperature", "max_tokens", "response_format"]
    ] * 2
    assert [{k: b[k] for k in list(b)[5:]} for b in bodies] == [
        {
            "reasoning_effort": "high",
            "seed": 7,
            "service_tier": "flex",
            "top_p": 0.9,
            "metadata": {"team": "eval", "run": "nightly"},
        },
        {
            "reasoning_effort": "low",
            "seed": 7,
            "service_tier": "flex",
            "top_p": 0.9,
            "metadata": {"team": "eval"},
        },
    ]


PROTOCOL_PARAMS = [
    (
        "responses",
        '{ reasoning = { effort = "low" }, text = { verbosity = "low" } }',
        {"reasoning": {"effort": "low"}},
        ("text", "verbosity", "low"),
    ),
    (
        "anthropic",
        '{ thinking = { type = "enabled", budget_tokens = 1024 } }',
        {"thinking": {"type": "enabled", "budget_tokens": 1024}},
        None,
    ),
    (
        "bedrock_converse",
        "{ inferenceConfig = { topP = 0.5 }, additionalModelRequestFields = { top_k = 40 } }",
        {"additionalModelRequestFields": {"top_k": 40}},
        ("inferenceConfig", "topP", 0.5),
    ),
]


@pytest.mark.parametrize(
    ("protocol", "params", "added", "nested"), PROTOCOL_PARAMS, ids=[p[0] for p in PROTOCOL_PARAMS]
)
def test_params_merge_into_each_protocols_body(
    workspace: Workspace,
    protocol: str,
    params: str,
    added: dict[str, object],
    nested: tuple[str, str, object] | None,
) -> None:
    ws = workspace
    base = ws.fake.openai_base_url if protocol == "responses" else ws.fake.url
    connection = (
        f'[connections.p]\nprotocol = "{protocol}"\nbase_url = "{base}"\nmodel = "fake-judge"\n'
        f'api_key_env = "{ws.key_env}"\nparams = {params}\n'
    )
    judges = PARAMS_JUDGES.split("[[judges]]")[1].replace('"fake"', '"p"')
    config = ws.write_config(connection=connection, judges="[[judges]]" + judges)
    assert ws.score(ws.write_rows(ws.qa_rows(1)), config, ws.root / "o.parquet").exit_code == 0
    [request] = ws.fake.requests
    for key, value in added.items():
        assert request.body[key] == value
    if nested is not None:  # merged into judgekit's own table, which keeps its members
        table, key, value = nested
        assert request.body[table][key] == value
        assert len(request.body[table]) >= 2


CONFIG_ERRORS = [
    (
        "params = { temperature = 1.0 }\n",
        "connections.fake.params: 'temperature' cannot be a param "
        "(set the connection's 'temperature')",
    ),
    (
        "params = { max_tokens = 99 }\n",
        "connections.fake.params: 'max_tokens' cannot be a param "
        "(set the connection's 'max_output_tokens')",
    ),
    (
        "params = { when = 2026-01-01 }\n",
        "connections.fake.params: params hold only strings, numbers, booleans, arrays and "
        "tables (no dates)",
    ),
    (
        'headers = { "Bad Header" = "x" }\n',
        "connections.fake.headers: 'Bad Header' is not a valid header name",
    ),
    (
        'headers = { "Content-Type" = "text/plain" }\n',
        "connections.fake.headers: header 'Content-Type' is set by judgekit itself",
    ),
]


@pytest.mark.parametrize(
    ("extra", "message"), CONFIG_ERRORS, ids=[m[:40] for _, m in CONFIG_ERRORS]
)
def test_bad_headers_and_params_are_config_errors(
    workspace: Workspace, extra: str, message: str
) -> None:
    ws = workspace
    config = ws.write_config(connection=extra)
    result = ws.invoke("validate", "-c", str(config))
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == f"error: {config}: {message}\n"


def test_a_rule_judge_takes_no_params(workspace: Workspace) -> None:
    ws = workspace
    judges = '[[judges]]\nname = "f1"\ntype = "token_f1"\nparams = { seed = 1 }\n'
    config = ws.write_config(judges=judges)
    result = ws.invoke("validate", "-c", str(config))
    assert result.exit_code == 2
    assert result.stderr == f"error: {config}: judges[0]: a token_f1 rule judge takes no params\n"
