"""``judgekit init``: a starter config written from a dataset's column names.

Columns are matched by name (case, ``-`` and spaces ignored), each role taking
the first match of its list in ``ROLE_NAMES`` and each column serving one role::

    input     question, prompt, input, query, instruction, request
    output    answer, response, output, completion, prediction, generation
    expected  reference, expected, ground_truth, expected_answer, reference_answer, gold, target
    context   context, contexts, documents, retrieved_context, passages
    human     human_label, human_verdict, human, label, verdict, then any ``human*`` column

plus ``expected_behavior``, ``constraints``, ``tool_calls`` and ``history`` by
their own names.  Judges are the built-in templates whose required fields are
all mapped (``STARTER_TEMPLATES``, in that order), plus a free ``token_f1`` rule
when there is a reference; the human label goes on each of them.  The
connection is OpenAI, Anthropic or Ollama (``PROVIDERS``): one is active, the
other two stay in the file as comments, so switching is uncommenting.

Errors: ``UsageError`` when the file exists (never overwritten) or is a
directory; ``DatasetError`` when no column holds answers to judge.
"""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc

from judgekit.datasets import DatasetInfo, iter_windows
from judgekit.errors import DatasetError, UsageError
from judgekit.templates import ANSWER_FIELDS, TEMPLATES

Provider = Literal["openai", "anthropic", "ollama"]

ROLE_NAMES: Mapping[str, tuple[str, ...]] = {
    "input": ("question", "prompt", "input", "query", "instruction", "request"),
    "output": ("answer", "response", "output", "completion", "prediction", "generation"),
    "expected": (
        "reference",
        "expected",
        "ground_truth",
        "expected_answer",
        "reference_answer",
        "gold",
        "target",
    ),
    "context": ("context", "contexts", "documents", "retrieved_context", "passages"),
    "expected_behavior": ("expected_behavior",),
    "constraints": ("constraints",),
    "tool_calls": ("tool_calls",),
    "history": ("history",),
}
"""Template field -> column names that fill it, most likely first."""

HUMAN_NAMES: tuple[str, ...] = ("human_label", "human_verdict", "human", "label", "verdict")
"""Columns read as human labels, most likely first; then any column starting with "human"."""

STARTER_TEMPLATES: tuple[str, ...] = ("correctness", "faithfulness", "behavior", "helpfulness")
"""Templates a starter config may use, in the order they are written."""

RULE_JUDGE = "reference_overlap"
"""Name of the free token_f1 judge written when there is a reference column."""

DEFAULT_THRESHOLD = 0.7


@dataclass(frozen=True, slots=True)
class ProviderBlock:
    """One ``[connections.judge]`` table: its TOML lines and what it needs."""

    title: str
    lines: tuple[str, ...]
    needs: str
    """What the user must do before ``validate`` passes (shown after init)."""


PROVIDERS: Mapping[Provider, ProviderBlock] = {
    "openai": ProviderBlock(
        "OpenAI (Chat Completions); needs: export OPENAI_API_KEY=sk-...",
        (
            'protocol = "chat_completions"',
            'base_url = "https://api.openai.com/v1"',
            'model = "gpt-4o-mini"',
            'api_key_env = "OPENAI_API_KEY"   # the NAME of the variable; the key stays out',
            "# requests_per_minute = 500      # your account's limits, if you know them",
            "# tokens_per_minute = 200000",
        ),
        "export OPENAI_API_KEY=sk-...",
    ),
    "anthropic": ProviderBlock(
        "Anthropic (Messages API); needs: export ANTHROPIC_API_KEY=sk-ant-...",
        (
            'protocol = "anthropic"',
            'base_url = "https://api.anthropic.com"',
            'model = "claude-haiku-4-5"',
            'api_key_env = "ANTHROPIC_API_KEY"',
        ),
        "export ANTHROPIC_API_KEY=sk-ant-...",
    ),
    "ollama": ProviderBlock(
        "Ollama on this machine: no key, no cost; needs: ollama pull llama3.1",
        (
            'protocol = "chat_completions"',
            'base_url = "http://localhost:11434/v1"',
            'model = "llama3.1"',
            "api_key_required = false",
            "input_usd_per_mtok = 0.0",
            "output_usd_per_mtok = 0.0",
            'output_mode = "json_object"      # json_schema needs Ollama >= 0.5',
        ),
        "ollama serve (and: ollama pull llama3.1)",
    ),
}
"""The connection tables a starter config offers; the active one is uncommented."""


@dataclass(frozen=True, slots=True)
class StarterJudge:
    """One judge of the starter config."""

    name: str
    kind: str
    """A template name, or ``token_f1``."""
    fields: Mapping[str, str]
    """Template field -> dataset column."""
    human_label: str | None
    notes: tuple[str, ...] = ()
    """Warnings written above the judge (a required column empty on some rows)."""


@dataclass(frozen=True, slots=True)
class Starter:
    """What ``init`` writes: the config text and what it decided."""

    text: str
    judges: tuple[StarterJudge, ...]
    id_column: str | None
    provider: Provider


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def map_columns(columns: Sequence[str]) -> tuple[dict[str, str], str | None]:
    """(template field -> column, human label column or None) from column names."""
    by_key: dict[str, str] = {}
    for column in columns:
        by_key.setdefault(_key(column), column)
    used: set[str] = set()
    fields: dict[str, str] = {}
    for field, names in ROLE_NAMES.items():
        found = [by_key[name] for name in names if name in by_key and by_key[name] not in used]
        if found:
            fields[field] = found[0]
            used.add(found[0])
    humans = [by_key[name] for name in HUMAN_NAMES if name in by_key]
    humans += [c for c in columns if _key(c).startswith("human")]
    return fields, next((c for c in humans if c not in used), None)


def choose_judges(fields: Mapping[str, str], human: str | None) -> list[StarterJudge]:
    """The templates the mapped fields allow (``STARTER_TEMPLATES``), then the rule judge."""
    judges: list[StarterJudge] = []
    for name in STARTER_TEMPLATES:
        template = TEMPLATES[name]
        if not all(field in fields for field in template.required):
            continue
        if name == "helpfulness" and "expected" in fields:
            continue  # with a reference, correctness says more
        used = [f for f in (*template.required, *template.optional) if f in fields]
        judges.append(StarterJudge(name, name, {f: fields[f] for f in used}, human))
    if not judges and "output" in fields:
        judges.append(StarterJudge("safety", "safety", _only(fields, ("output", "input")), human))
    if "output" in fields and "expected" in fields:
        rule_fields = _only(fields, ("output", "expected"))
        judges.append(StarterJudge(RULE_JUDGE, "token_f1", rule_fields, human))
    return judges


def _with_notes(judge: StarterJudge, empty: Mapping[str, int], rows: int) -> StarterJudge:
    """An LLM ``judge`` with a note per required column that is empty on some rows: what
    the run does with those rows (``engine.judging.missing_field``): an empty answer is
    judged, another empty field is refused."""
    if judge.kind not in TEMPLATES:
        return judge
    required = TEMPLATES[judge.kind].required
    notes = tuple(
        f"'{judge.fields[field]}' is empty on {empty[judge.fields[field]]} of {rows} rows; "
        + (
            "they are still judged (an empty answer is an answer: the judge sees it empty "
            "and scores it)"
            if field in ANSWER_FIELDS
            else "they get J_error = bad_request (nothing to judge) and count towards "
            "max_error_rate"
        )
        for field in required
        if empty.get(judge.fields[field], 0)
    )
    return replace(judge, notes=notes)


def _only(fields: Mapping[str, str], names: Sequence[str]) -> dict[str, str]:
    return {name: fields[name] for name in names if name in fields}


def build_starter(info: DatasetInfo, config_path: str, provider: Provider = "openai") -> Starter:
    """The starter config for ``info``, to be written at ``config_path`` (named in its
    comments); DatasetError when no column holds answers."""
    fields, human = map_columns(info.columns)
    if "output" not in fields:
        raise DatasetError(
            f"{info.path}: no column holds the answers to judge (looked for "
            f"{', '.join(ROLE_NAMES['output'])}; columns: {', '.join(info.columns)}); "
            "rename that column, or write the config by hand (README: The config, walked through)"
        )
    empty = empty_counts(info, list(dict.fromkeys(fields.values())))
    judges = tuple(_with_notes(judge, empty, info.rows) for judge in choose_judges(fields, human))
    id_column = "id" if "id" in info.columns else None
    starter = Starter("", judges, id_column, provider)
    text = _render(info, config_path, starter)
    return Starter(text, judges, id_column, provider)


def empty_counts(info: DatasetInfo, columns: Sequence[str]) -> dict[str, int]:
    """Rows whose value in each of ``columns`` is null, blank text or an empty list."""
    counts = dict.fromkeys(columns, 0)
    for window in iter_windows(info):
        for column in columns:
            values = window.column(column)
            empty = values.null_count
            kind = values.type
            if pa.types.is_string(kind) or pa.types.is_large_string(kind):
                blank = pc.equal(pc.utf8_trim_whitespace(values), "")
                empty += pc.sum(blank.cast(pa.int64())).as_py() or 0
            elif pa.types.is_list(kind) or pa.types.is_large_list(kind):
                length = pc.list_value_length(values)
                empty += pc.sum(pc.equal(length, 0).cast(pa.int64())).as_py() or 0
            counts[column] += empty
    return counts


def _toml(value: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(value, ensure_ascii=False)


def _line(code: str, comment: str) -> str:
    """``code`` with ``comment`` aligned at column 30."""
    return f"{code.ljust(29)} # {comment}"


def _comment(text: str) -> str:
    return " ".join(text.split())


def next_steps(starter: Starter, dataset: str, config_path: str) -> list[str]:
    """The commands to run after ``init`` (also written at the top of the config)."""
    steps = [
        PROVIDERS[starter.provider].needs,
        f"judgekit validate -c {config_path} {dataset}",
        f"judgekit score {dataset} -c {config_path} -o out/scored.parquet --dry-run",
        f"judgekit score {dataset} -c {config_path} -o out/scored.parquet",
    ]
    if any(judge.human_label for judge in starter.judges):
        steps.append(f"judgekit agreement out/scored.parquet -c {config_path}")
    return steps


def _render(info: DatasetInfo, config_path: str, starter: Starter) -> str:
    steps = next_steps(starter, _comment(info.path), _comment(config_path))
    lines = [
        "# judgekit config written by `judgekit init` from the columns of",
        f"# {_comment(info.path)}. Edit it freely; then:",
        *(f"#   {step}" for step in steps),
        '# Every key is explained in README.md, section "The config, walked through".',
        "",
        "[run]",
        _line("concurrency = 16", "requests in flight, all judges together"),
        _line("budget_usd = 1.0", "hard cap on new spend per run, in USD"),
        _line("max_error_rate = 0.02", "more than 2% failed judgements and the run exits 1"),
    ]
    if starter.id_column is not None:
        lines.append(_line(f"id_column = {_toml(starter.id_column)}", "row ids in outputs"))
    else:
        lines.append(_line('# id_column = "id"', "no 'id' column: rows are named 0, 1, 2, ..."))
    lines += ["", "# Where judge calls go: one [connections.judge] table; to switch, swap the #s."]
    for name, block in PROVIDERS.items():
        prefix = "" if name == starter.provider else "# "
        lines += ["", f"# {block.title}", f"{prefix}[connections.judge]"]
        lines += [f"{prefix}{line}" for line in block.lines]
    for judge in starter.judges:
        lines += ["", *_judge_lines(judge)]
    return "\n".join(lines) + "\n"


def _judge_lines(judge: StarterJudge) -> list[str]:
    if judge.kind == "token_f1":
        lines = [
            "# A free rule judge (no model, no cost): token overlap with the reference,",
            "# a baseline to compare the model's verdicts with.",
            "[[judges]]",
            f"name = {_toml(judge.name)}",
            'type = "token_f1"',
            "threshold = 0.5",
        ]
    else:
        template = TEMPLATES[judge.kind]
        low, high = template.scale.low, template.scale.high
        scale = (
            f"scores {low:g}-{high:g}, mapped to 0..1 as (s - {low:g}) / {high - low:g}"
            if (low, high) != (0.0, 1.0)
            else "scores 0..1"
        )
        lines = [
            f"# {template.description}",
            f"# `judgekit templates {judge.kind}` prints the prompt; {scale}.",
            *(
                line
                for note in judge.notes
                for line in textwrap.wrap(
                    f"note: {note}", 78, initial_indent="# ", subsequent_indent="# "
                )
            ),
            "[[judges]]",
            f"name = {_toml(judge.name)}",
            'connection = "judge"',
            f"template = {_toml(judge.kind)}",
            f"threshold = {DEFAULT_THRESHOLD}",
        ]
    lines[-1] = _line(lines[-1], "passed = score >= threshold; scores are 0..1")
    if judge.human_label is not None:
        label = f"human_label = {_toml(judge.human_label)}"
        lines.append(_line(label, "compared by `judgekit agreement`"))
    lines.append(_line("[judges.columns]", "template field = dataset column"))
    lines += [f"{field} = {_toml(column)}" for field, column in judge.fields.items()]
    return lines


def check_new(path: Path) -> None:
    """UsageError when ``path`` is a directory or an existing file (never overwritten),
    or a path the system refuses (``given_paths``)."""
    from judgekit.given_paths import check_given_path

    check_given_path(path, "-o", written=True)
    if path.is_dir():
        raise UsageError(f"{path}: is a directory; give a file name, e.g. -o {path}/judgekit.toml")
    if path.exists() or path.is_symlink():
        raise UsageError(_EXISTS.format(path=path))
    existing = path.parent
    while not existing.exists() and existing != existing.parent:  # write_starter creates them
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"{path}: cannot create directory {path.parent} ({existing} is a file)")


_EXISTS = (
    "{path}: already exists; judgekit init never overwrites a file "
    "(remove it, or write elsewhere with -o PATH)"
)


def write_starter(path: Path, text: str) -> None:
    """Create ``path`` with ``text``; UsageError when it exists (never overwritten)."""
    check_new(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"{path}: cannot create directory {path.parent} ({exc.strerror})"
        ) from None
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:  # created since check_new
        raise UsageError(_EXISTS.format(path=path)) from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot create ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
    except OSError as exc:
        path.unlink(missing_ok=True)
        raise UsageError(f"{path}: cannot write ({exc.strerror or exc})") from None
