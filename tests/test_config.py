"""Config loading: every validation error names the file, the key path and what is allowed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from judgekit.config import config_hash, load_config, parse_config
from judgekit.config_connections import resolve_connection
from judgekit.errors import ConfigError
from judgekit.presets import default_base_url

CONN = {"base_url": "http://127.0.0.1:1/v1", "model": "m", "api_key_env": "K"}
LLM = {"name": "j", "connection": "c", "template": "correctness"}
JUDGE_KEYS = (
    "name, type, connection, model, template, prompt, system, scale, threshold, "
    "human_label, criteria, columns, pattern, ignore_case, max_cost_usd_per_call, "
    "max_input_tokens, params, text, tool, arguments, tools, min_chars, max_chars, "
    "min_words, max_words, json_schema, schema_file, continue_conversation, max_turns, samples, "
    "examples"
)
CONNECTION_KEYS = (
    "protocol, base_url, model, api_key_env, api_key_required, requests_per_minute, "
    "tokens_per_minute, timeout_s, max_retries, temperature, max_output_tokens, output_mode, "
    "input_usd_per_mtok, cached_input_usd_per_mtok, output_usd_per_mtok, "
    "max_cost_usd_per_call, max_input_tokens, provider, api_key_header, headers, params, proxy, "
    "cache_endpoint, batch_discount"
)


def doc(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"connections": {"c": dict(CONN)}, "judges": [dict(LLM)]}
    base.update(over)
    return base


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            doc(judges=[{**LLM, "colums": {}}]),
            "x.toml: judges[0].colums: unknown key; did you mean 'columns'? (allowed: "
            f"{JUDGE_KEYS})",
        ),
        (
            doc(run={"concurrency": 0}),
            "x.toml: run.concurrency: 0 is below the minimum 1; raise it",
        ),
        (
            doc(run={"concurrency": "16"}),
            'x.toml: run.concurrency: must be a number, not "16"; write it without quotes',
        ),
        (
            doc(connections={"c": {**CONN, "timeout_s": True}}),
            "x.toml: connections.c.timeout_s: must be a number, not true; give a number",
        ),
        (
            doc(run={"budget_usd": "5"}),
            'x.toml: run.budget_usd: must be a number, not "5"; write it without quotes',
        ),
        (
            doc(judges=[{**LLM, "criteria": {"a": 0.5, "b": 0.4}}]),
            "x.toml: judges[0].criteria: criteria weights must sum to 1, got 0.9",
        ),
        (
            doc(judges=[{**LLM, "columns": {"expectd": "reference"}}]),
            "x.toml: judges[0].columns.expectd: unknown key; did you mean 'expected'? (allowed: "
            "input, output, expected, context, history, tool_calls, expected_behavior, "
            "constraints, output_a, output_b)",
        ),
        (
            doc(connections={"c": {**CONN, "protocol": "grpc"}}),
            "x.toml: connections.c.protocol: invalid value 'grpc' (allowed: 'chat_completions', "
            "'responses', 'anthropic' or 'bedrock_converse')",
        ),
        (
            doc(judges=[{"name": "j", "connection": "nope", "template": "correctness"}]),
            "x.toml: judges[0].connection: judge 'j' names unknown connection 'nope' "
            "(connections: c)",
        ),
        (
            doc(
                connections={"judge": dict(CONN)},
                judges=[{"name": "j", "connection": "jugde", "template": "correctness"}],
            ),
            "x.toml: judges[0].connection: judge 'j' names unknown connection 'jugde'; did you "
            "mean 'judge'? (connections: judge)",
        ),
        (
            doc(judges=[dict(LLM), dict(LLM)]),
            "x.toml: judges[1].name: duplicate judge name 'j' (judges[0] has it too); give each "
            "judge its own name (it begins the output column names)",
        ),
        (
            doc(judges=[{"name": "j", "connection": "c"}]),
            "x.toml: judges[0]: an llm judge needs exactly one of 'template' or 'prompt'",
        ),
        (
            doc(judges=[{"name": "Bad-Name", "type": "exact"}]),
            "x.toml: judges[0].name: 'Bad-Name' is not a judge name: use lowercase letters, "
            "digits and underscores, starting with a letter (it begins the output column "
            "names); e.g. 'bad_name'",
        ),
        (
            doc(judges=[{"name": "r", "type": "exact", "connection": "c"}]),
            "x.toml: judges[0]: a exact rule judge takes no connection",
        ),
        (
            doc(judges=[{"name": "r", "type": "regex", "pattern": "("}]),
            "x.toml: judges[0].pattern: invalid regular expression (missing ), unterminated "
            "subpattern at position 0)",
        ),
        (
            doc(connections={"c": {"base_url": "http://x", "model": "m"}}),
            "x.toml: connections.c: set api_key_env to the name of the environment variable "
            "holding the key, or api_key_required = false for a server that takes none",
        ),
        (
            doc(connections={"c": {**CONN, "input_usd_per_mtok": 1.0}}),
            "x.toml: connections.c: give both input_usd_per_mtok and output_usd_per_mtok, "
            "or neither",
        ),
        (
            {"judges": []},
            "x.toml: judges: no judge; add at least one [[judges]] table (see judgekit init)",
        ),
        (
            doc(run={"concurency": 4}),
            "x.toml: run.concurency: unknown key; did you mean 'concurrency'? (allowed: "
            "concurrency, budget_usd, max_error_rate, id_column, local_only, mode, batch_poll_s)",
        ),
        (
            doc(connections={"c": {**CONN, "modle": "m"}}),
            "x.toml: connections.c.modle: unknown key; did you mean 'model'? (allowed: "
            f"{CONNECTION_KEYS})",
        ),
        (
            doc(agreement={"bootstrapp": 10}),
            "x.toml: agreement.bootstrapp: unknown key; did you mean 'bootstrap'? (allowed: "
            "labels, bootstrap, seed)",
        ),
        (
            doc(runn={}),
            "x.toml: runn: unknown key; did you mean 'run'? (allowed: run, connections, judges, "
            "agreement)",
        ),
        (  # the unknown key comes first: it is why `judges` is missing
            {"judge": [LLM]},
            "x.toml: judge: unknown key; did you mean 'judges'? (allowed: run, connections, "
            "judges, agreement) (+1 more: judges)",
        ),
        (  # the other errors are named by their key paths
            doc(judges=[{**LLM, "weight": 2}, {**LLM, "name": "d", "weigth": 1}], runn={}),
            "x.toml: judges[0].weight: unknown key (allowed: "
            f"{JUDGE_KEYS}) (+2 more: judges[1].weigth, runn)",
        ),
        (
            doc(judges=[{**LLM, "weight": 2}]),
            f"x.toml: judges[0].weight: unknown key (allowed: {JUDGE_KEYS})",
        ),
        (
            doc(judges=[{**LLM, "threshold": 7}]),
            "x.toml: judges[0].threshold: 7 is outside 0..1: every score is normalised to 0..1, "
            "and so is the threshold (on a 1-5 template, 4 becomes (4 - 1) / (5 - 1) = 0.75)",
        ),
        (
            doc(judges=[{**LLM, "threshold": -0.5}]),
            "x.toml: judges[0].threshold: -0.5 is outside 0..1: every score is normalised to "
            "0..1, and so is the threshold (on a 1-5 template, 4 becomes (4 - 1) / (5 - 1) = "
            "0.75)",
        ),
        (
            doc(judges=[{"name": "2nd", "type": "exact"}]),
            "x.toml: judges[0].name: '2nd' is not a judge name: use lowercase letters, "
            "digits and underscores, starting with a letter (it begins the output column "
            "names)",
        ),
        (
            doc(connections={"c": {**CONN, "api_key_env": "sk-abc123"}}),
            "x.toml: connections.c.api_key_env: 'sk-abc123' is not an environment variable "
            "name: use letters, digits and underscores, not starting with a digit (the NAME of "
            "the variable, not the key)",
        ),
        (
            {"judges": {"name": "j", "type": "exact"}},
            "x.toml: judges: a single [judges] table; write [[judges]] (double brackets) before "
            "each judge",
        ),
        (
            doc(connections={"base_url": "http://x"}),
            "x.toml: connections.base_url: 'base_url' is not a connection table; write "
            "[connections.NAME] with base_url = ... under it",
        ),
        (
            doc(connections={"c": {**CONN, "base_url": "localhost:8000/v1?key=sk-1"}}),
            'x.toml: connections.c.base_url: "localhost:8000/v1" is not an http:// or https:// '
            "URL; add the scheme, e.g. http://localhost:8000/v1",
        ),
        (
            doc(connections={"c": {**CONN, "base_url": "ftp://example.com/v1"}}),
            'x.toml: connections.c.base_url: "ftp://example.com/v1" is not an http:// or '
            "https:// URL; use http:// or https://",
        ),
        (
            doc(connections={"c": {**CONN, "base_url": "http://127.0.0.1:99999/v1"}}),
            'x.toml: connections.c.base_url: "http://127.0.0.1:99999/v1" is not a valid URL; '
            "write it as http://HOST:PORT/PATH",
        ),
        (
            doc(connections={"c": {**CONN, "base_url": "http://gw:s3cret@127.0.0.1:8000/v1"}}),
            'x.toml: connections.c.base_url: "http://127.0.0.1:8000/v1" holds a user name or '
            "password (user:password@ before the host); drop it from the URL and send the "
            "credential with api_key_env, or as a header in the connection's headers (e.g. "
            'Authorization = "Basic ${GATEWAY_AUTH}")',
        ),
        (
            doc(run={"budget_usd": float("inf")}),
            "x.toml: run.budget_usd: inf is not a finite number; give a positive number of "
            "dollars or drop the key",
        ),
        (
            doc(run={"max_error_rate": float("nan")}),
            "x.toml: run.max_error_rate: nan is not a finite number; give a number from 0 to 1",
        ),
        (
            doc(connections={"c": {**CONN, "timeout_s": float("inf")}}),
            "x.toml: connections.c.timeout_s: inf is not a finite number; give a number of "
            "seconds above 0, at most 3600",
        ),
        (
            doc(run={"budget_usd": 0}),
            "x.toml: run.budget_usd: 0 is not above 0; give a positive number of dollars or "
            "drop the key",
        ),
        (
            doc(run={"concurrency": 5000}),
            "x.toml: run.concurrency: 5000 is above the maximum 4096; lower it",
        ),
        (
            doc(connections={"c": {**CONN, "batch_discount": 1}}),
            "x.toml: connections.c.batch_discount: 1 is not below 1; give a number at least 0 "
            "and below 1",
        ),
        (
            doc(run={"concurrency": 2.5}),
            "x.toml: run.concurrency: 2.5 is not a whole number; give a whole number",
        ),
        (
            {"connections": {"c": dict(CONN)}},
            "x.toml: judges: missing; add at least one [[judges]] table (see judgekit init)",
        ),
        (
            doc(connections={"c": {"model": "m", "api_key_env": "K"}}),
            "x.toml: connections.c.base_url: missing; add base_url = ... (a required key)",
        ),
        (
            doc(judges=[{**LLM, "model": 5}]),
            "x.toml: judges[0].model: must be text in quotes, not 5",
        ),
        (
            doc(judges=[{**LLM, "scale": [1, 2, 3]}]),
            "x.toml: judges[0].scale: 3 items given; give at most 2 items",
        ),
        (
            doc(connections={"c": {**CONN, "cache_endpoint": ""}}),
            "x.toml: connections.c.cache_endpoint: empty; give a value or drop the key",
        ),
        (
            doc(connections={"c": {**CONN, "api_key_header": "api key"}}),
            "x.toml: connections.c.api_key_header: 'api key' is not a header name: use letters, "
            "digits and -, no spaces (e.g. 'api-key')",
        ),
        (
            doc(run={"local_only": "yes"}),
            'x.toml: run.local_only: must be true or false, not "yes"',
        ),
        (
            doc(connections={"c": {**CONN, "api_key_required": "false"}}),
            'x.toml: connections.c.api_key_required: must be true or false, not "false"; write '
            "it without quotes",
        ),
        (
            doc(judges=[{"name": "r", "type": "exact", "ignore_case": 1}]),
            "x.toml: judges[0].ignore_case: must be true or false, not 1",
        ),
        (
            doc(judges=[{**LLM, "continue_conversation": "no"}]),
            'x.toml: judges[0].continue_conversation: must be true or false, not "no"',
        ),
        (
            doc(connections={"c": {**CONN, "provider": "opnai"}}),
            "x.toml: connections.c: unknown provider 'opnai'; did you mean 'openai'? (providers: "
            "openai, anthropic, gemini, azure, bedrock, together, mistral, groq, deepseek, "
            "openrouter, xai, vllm, ollama)",
        ),
        (
            doc(connections={"c": {**CONN, "params": {"seed": float("nan")}}}),
            "x.toml: connections.c.params: params hold finite numbers only (not inf or nan)",
        ),
        (
            doc(agreement={"labels": {" ": "pass"}}),
            "x.toml: agreement.labels: a blank label is always unlabelled; remove it",
        ),
    ],
    ids=[
        "unknown-key",
        "bounds",
        "quoted-number",
        "boolean-number",
        "quoted-budget",
        "criteria-sum",
        "unknown-field",
        "protocol",
        "unknown-connection",
        "unknown-connection-near",
        "duplicate-judge",
        "template-or-prompt",
        "judge-name",
        "rule-with-connection",
        "bad-regex",
        "key-not-explicit",
        "half-price",
        "no-judges",
        "unknown-run-key",
        "unknown-connection-key",
        "unknown-agreement-key",
        "unknown-section",
        "misspelt-judges-table",
        "more-errors-named",
        "unknown-key-no-guess",
        "threshold-above-1",
        "threshold-below-0",
        "judge-name-no-suggestion",
        "api-key-env-not-a-name",
        "judges-table-not-array",
        "connection-key-without-name",
        "base-url-without-scheme",
        "base-url-not-http",
        "base-url-bad-port",
        "base-url-credentials",
        "infinite-budget",
        "nan-error-rate",
        "infinite-timeout",
        "budget-zero",
        "above-maximum",
        "not-below",
        "not-whole",
        "judges-missing",
        "base-url-missing",
        "not-text",
        "too-many-items",
        "empty-text",
        "header-name",
        "quoted-bool",
        "quoted-true-false",
        "number-for-bool",
        "bool-string-no",
        "unknown-provider-near",
        "params-nan",
        "blank-label",
    ],
)
def test_invalid_config_is_one_clear_line(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(raw, "x.toml")
    assert str(info.value) == message


def test_load_config_reports_toml_syntax_with_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[run\nconcurrency = 3\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: invalid TOML \("):
        load_config(path)


def test_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes(b'\xef\xbb\xbf[[judges]]\nname = "j"\ntype = "exact"\n')
    assert load_config(path).judges[0].name == "j"


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml: no such config file"):
        load_config(tmp_path / "nope.toml")


def test_env_expansion_in_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOST_URL", "http://127.0.0.1:9999")
    cfg = parse_config(doc(connections={"c": {**CONN, "base_url": "${HOST_URL}/v1"}}), "x.toml")
    assert cfg.connections["c"].base_url == "http://127.0.0.1:9999/v1"


def test_env_expansion_missing_variable_is_an_error_when_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NOT_SET_VAR", raising=False)
    cfg = parse_config(doc(connections={"c": {**CONN, "base_url": "${NOT_SET_VAR}/v1"}}), "x.toml")
    with pytest.raises(ConfigError) as info:
        resolve_connection(cfg, cfg.judges[0])
    assert str(info.value) == (
        "x.toml: connections.c.base_url: environment variable NOT_SET_VAR is not set"
        " (export NOT_SET_VAR=... before running, or write ${NOT_SET_VAR:-default})"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "${HOST_URL}/v1",
            '"127.0.0.1:37633/v1" is not an http:// or https:// URL; add the scheme, e.g. '
            "http://127.0.0.1:37633/v1",
        ),
        (
            "http://${EMPTY_HOST}/v1",
            '"http:///v1" names no host (an empty variable?); write it as '
            "http://HOST:PORT/PATH, e.g. http://localhost:8000/v1",
        ),
    ],
    ids=["no-scheme", "no-host"],
)
def test_an_expanded_base_url_must_be_an_http_url(
    monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv("HOST_URL", "127.0.0.1:37633")
    monkeypatch.setenv("EMPTY_HOST", "")
    cfg = parse_config(doc(connections={"c": {**CONN, "base_url": value}}), "x.toml")
    with pytest.raises(ConfigError) as info:
        resolve_connection(cfg, cfg.judges[0])
    assert str(info.value) == f"x.toml: connections.c.base_url: {message}"


def test_an_unused_connection_needs_no_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOT_SET_VAR", raising=False)
    connections = {"c": dict(CONN), "other": {**CONN, "base_url": "${NOT_SET_VAR}/v1"}}
    cfg = parse_config(doc(connections=connections), "x.toml")
    assert resolve_connection(cfg, cfg.judges[0])[1].base_url == CONN["base_url"]


def test_shorthand_resolves_to_builtin_connection() -> None:
    cfg = parse_config(
        {"judges": [{"name": "j", "model": "openai:/gpt-4o-mini", "template": "correctness"}]},
        "x.toml",
    )
    name, conn, model = resolve_connection(cfg, cfg.judges[0])
    assert (name, model) == ("openai", "gpt-4o-mini")
    assert (conn.protocol, conn.base_url, conn.api_key_env) == (
        "chat_completions",
        default_base_url("openai"),
        "OPENAI_API_KEY",
    )


def test_explicit_connection_wins_over_shorthand() -> None:
    cfg = parse_config(
        {
            "connections": {"openai": {**CONN, "base_url": "http://127.0.0.1:5/v1"}},
            "judges": [{"name": "j", "model": "openai:/gpt-4o", "template": "correctness"}],
        },
        "x.toml",
    )
    name, conn, model = resolve_connection(cfg, cfg.judges[0])
    assert (name, conn.base_url, model) == ("openai", "http://127.0.0.1:5/v1", "gpt-4o")


def test_unknown_shorthand_provider() -> None:
    cfg = parse_config(
        {"judges": [{"name": "j", "model": "acme:/large", "template": "correctness"}]}, "x.toml"
    )
    with pytest.raises(ConfigError, match="unknown provider prefix 'acme'"):
        resolve_connection(cfg, cfg.judges[0])


def test_config_hash_changes_with_content() -> None:
    a = parse_config(doc(), "x.toml")
    b = parse_config(doc(run={"concurrency": 7}), "x.toml")
    assert config_hash(a) != config_hash(b)
    assert config_hash(a) == config_hash(parse_config(doc(), "y.toml"))


RULE = {"name": "r"}
JUDGE_OPTION_ERRORS = [
    (
        "tool without its type",
        {**RULE, "type": "exact", "tool": "t"},
        'judges[0]: \'tool\' goes with type = "tool_called" or "tool_not_called"',
    ),
    (
        "text on an llm judge",
        {**LLM, "text": "x"},
        'judges[0]: \'text\' goes with type = "contains" or "not_contains"',
    ),
    (
        "arguments on tool_not_called",
        {**RULE, "type": "tool_not_called", "tool": "t", "arguments": {"a": 1}},
        "judges[0]: 'arguments' goes with type = \"tool_called\"",
    ),
    (
        "tool_called without a tool",
        {**RULE, "type": "tool_called"},
        "judges[0]: type = \"tool_called\" needs 'tool' (the tool's name)",
    ),
    (
        "tool_order without tools",
        {**RULE, "type": "tool_order"},
        "judges[0]: type = \"tool_order\" needs 'tools' (names, in order)",
    ),
    (
        "tool_order with no tools",
        {**RULE, "type": "tool_order", "tools": []},
        "judges[0].tools: no item given; give at least 1 item",
    ),
    (
        "length without a bound",
        {**RULE, "type": "length"},
        'judges[0]: type = "length" needs min_chars, max_chars, min_words or max_words',
    ),
    (
        "length bounds crossed",
        {**RULE, "type": "length", "min_words": 9, "max_words": 3},
        "judges[0]: min_words 9 is above max_words 3",
    ),
    (
        "negative length",
        {**RULE, "type": "length", "max_chars": -1},
        "judges[0].max_chars: -1 is below the minimum 0; raise it",
    ),
    (
        "json_schema without a schema",
        {**RULE, "type": "json_schema"},
        'judges[0]: type = "json_schema" needs exactly one of json_schema or schema_file',
    ),
    (
        "json_schema with both",
        {**RULE, "type": "json_schema", "json_schema": {}, "schema_file": "s.json"},
        'judges[0]: type = "json_schema" needs exactly one of json_schema or schema_file',
    ),
    (
        "continuation on a rule",
        {**RULE, "type": "exact", "continue_conversation": True},
        "judges[0]: 'continue_conversation' goes with type = \"llm\"",
    ),
    (
        "max_turns alone",
        {**LLM, "max_turns": 3},
        "judges[0]: 'max_turns' goes with continue_conversation = true",
    ),
    (
        "max_turns zero",
        {**LLM, "continue_conversation": True, "max_turns": 0},
        "judges[0].max_turns: 0 is below the minimum 1; raise it",
    ),
    (
        "unknown rule type",
        {**RULE, "type": "tool_caled"},
        "judges[0].type: invalid value 'tool_caled'",
    ),
]


@pytest.mark.parametrize(
    ("judge", "message"),
    [e[1:] for e in JUDGE_OPTION_ERRORS],
    ids=[e[0] for e in JUDGE_OPTION_ERRORS],
)
def test_judge_options_fit_their_type(judge: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(doc(judges=[judge]), "x.toml")
    assert str(info.value).startswith(f"x.toml: {message}")


def test_judge_options_parse() -> None:
    judges = [
        {**RULE, "type": "tool_called", "tool": "t", "arguments": {"city": "Lisbon", "days": 1}},
        {"name": "o", "type": "tool_order", "tools": ["a", "b"]},
        {"name": "n", "type": "not_contains", "text": ["as an AI", "I cannot"]},
        {"name": "l", "type": "length", "min_chars": 1, "max_words": 50},
        {"name": "s", "type": "json_schema", "json_schema": {"type": "object"}},
        {**LLM, "continue_conversation": True, "max_turns": 4},
    ]
    config = parse_config(doc(judges=judges), "x.toml")
    assert config.judges[0].arguments == {"city": "Lisbon", "days": 1}
    assert config.judges[1].tools == ["a", "b"]
    assert config.judges[2].text == ["as an AI", "I cannot"]
    assert (config.judges[3].min_chars, config.judges[3].max_words) == (1, 50)
    assert config.judges[4].json_schema == {"type": "object"}
    assert (config.judges[5].continue_conversation, config.judges[5].max_turns) == (True, 4)
