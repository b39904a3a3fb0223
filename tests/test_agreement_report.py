"""The agreement report: formats, --output, --fail-under, config and flags."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from rich.console import Console

import judgekit.trust.agreement_report
from judgekit.config import Config, parse_config
from judgekit.errors import ConfigError, UsageError
from judgekit.trust.agreement_report import OutputFormat, run_agreement

# Four compared rows (tp, tn, fn, fp), one unsure, one judge error.
SMALL: dict[str, list[Any]] = {
    "human_verdict": ["correct", "incorrect", "correct", "incorrect", "unsure", "correct"],
    "correctness_passed": [True, False, False, True, True, None],
    "correctness_score": [0.9, 0.1, 0.6, 0.8, 0.5, None],
    "correctness_error": [None, None, None, None, None, "timeout"],
}
# Nothing compared for "empty"; one single class on both sides for "unanimous".
EDGES: dict[str, list[Any]] = {
    "h": ["pass", "pass", "unsure"],
    "unanimous_passed": [True, True, True],
    "unanimous_score": [0.9, 0.95, 0.9],
    "empty_passed": [None, None, True],
    "empty_error": ["timeout", "auth", None],
}


def _file(tmp_path: Path, data: Mapping[str, Any], name: str = "scored.parquet") -> Path:
    path = tmp_path / name
    pl.DataFrame(data).write_parquet(path)
    return path


def _console() -> Console:
    return Console(file=io.StringIO(), width=100, color_system=None)


def _run(
    path: Path,
    *,
    config: Config | None = None,
    judges: tuple[str, ...] = ("correctness",),
    humans: tuple[str, ...] = ("human_verdict",),
    output_format: OutputFormat = "json",
    output_path: Path | None = None,
    fail_under: float | None = None,
    bootstrap: int | None = 0,
    seed: int | None = None,
) -> tuple[int, str]:
    console = _console()
    code = run_agreement(
        path,
        config=config,
        judges=judges,
        humans=humans,
        output_format=output_format,
        output_path=output_path,
        fail_under=fail_under,
        bootstrap=bootstrap,
        seed=seed,
        console=console,
    )
    assert isinstance(console.file, io.StringIO)
    return code, console.file.getvalue()


def _no_nan(constant: str) -> None:
    raise AssertionError(f"{constant} in JSON")


def _json(text: str) -> dict[str, Any]:
    document = json.loads(text, parse_constant=_no_nan)
    assert isinstance(document, dict)
    return document


# --- json -------------------------------------------------------------------

JUDGE_KEYS = [
    "judge",
    "human_column",
    "rows",
    "labelled",
    "excluded_unsure",
    "excluded_judge_error",
    "compared",
    "agreement",
    "agreement_ci",
    "kappa",
    "kappa_ci",
    "kappa_ci_note",
    "kappa_note",
    "confusion",
    "fail_precision",
    "fail_recall",
    "judge_pass_rate",
    "human_pass_rate",
    "threshold",
    "split_votes",
]
THRESHOLD_KEYS = [
    "configured",
    "source",
    "scored",
    "configured_agreement",
    "configured_kappa",
    "mismatched",
    "config_threshold",
    "config_agreement",
    "config_kappa",
    "best_agreement",
    "best_kappa",
    "note",
]


def test_json_figures(tmp_path: Path) -> None:
    code, out = _run(_file(tmp_path, SMALL), bootstrap=200, seed=3)
    document = _json(out)
    assert code == 0
    assert list(document) == ["source", "bootstrap", "seed", "intervals", "judges"]
    assert (document["bootstrap"], document["seed"]) == (200, 3)
    assert document["intervals"] == {"agreement": "wilson score", "kappa": "bootstrap percentile"}
    (judge,) = document["judges"]
    assert list(judge) == JUDGE_KEYS and list(judge["threshold"]) == THRESHOLD_KEYS
    figures = {key: judge[key] for key in JUDGE_KEYS[:8]}
    assert figures == {
        "judge": "correctness",
        "human_column": "human_verdict",
        "rows": 6,
        "labelled": 6,
        "excluded_unsure": 1,
        "excluded_judge_error": 1,
        "compared": 4,
        "agreement": 0.5,
    }
    assert judge["confusion"] == {"tp": 1, "fn": 1, "fp": 1, "tn": 1}
    assert (judge["kappa"], judge["kappa_note"]) == (0.0, None)
    assert judge["fail_precision"] == judge["fail_recall"] == 0.5
    # Wilson for 2 of 4: (0.5 + z²/8 ± z·sqrt(1/16 + z²/64)) / (1 + z²/4)
    assert judge["agreement_ci"] == [
        pytest.approx(0.15004, abs=1e-5),
        pytest.approx(0.84996, abs=1e-5),
    ]
    assert judge["kappa_ci_note"] is None
    assert judge["threshold"] == {
        "configured": 0.7,
        "source": "default",
        "scored": 4,
        "configured_agreement": 0.5,
        "configured_kappa": 0.0,
        "mismatched": 0,
        "config_threshold": None,
        "config_agreement": None,
        "config_kappa": None,
        "best_agreement": {"threshold": pytest.approx(0.85), "agreement": 0.75, "kappa": 0.5},
        "best_kappa": {"threshold": pytest.approx(0.85), "agreement": 0.75, "kappa": 0.5},
        "note": None,
    }


def test_every_json_key_is_documented() -> None:
    documentation = judgekit.trust.agreement_report.__doc__ or ""
    for key in ["source", "bootstrap", "seed", "judges", *JUDGE_KEYS, *THRESHOLD_KEYS]:
        assert re.search(rf'"{key}"', documentation), key


def test_json_edge_cases_are_null_with_a_note(tmp_path: Path) -> None:
    path = _file(tmp_path, EDGES)
    _, out = _run(path, judges=("empty", "unanimous"), humans=("h", "h"), bootstrap=100)
    empty, unanimous = _json(out)["judges"]
    assert (empty["compared"], empty["excluded_judge_error"]) == (0, 2)
    for key in ("agreement", "agreement_ci", "kappa", "kappa_ci", "judge_pass_rate"):
        assert empty[key] is None, key
    assert empty["kappa_note"] == "no rows compared"
    assert empty["threshold"]["note"] == "no scores among the rows compared"
    assert empty["threshold"]["best_agreement"] is None
    # 2 of 2 agree: Wilson's [0.342, 1], never the zero-width [1, 1] a bootstrap gives.
    assert unanimous["agreement"] == 1.0
    assert unanimous["agreement_ci"] == [pytest.approx(2 / (2 + 1.959963984540054**2)), 1.0]
    assert (unanimous["kappa"], unanimous["kappa_ci"]) == (None, None)
    assert unanimous["kappa_note"] == "undefined: judge and humans each gave a single class"
    assert (unanimous["fail_precision"], unanimous["fail_recall"]) == (None, None)
    assert unanimous["threshold"]["best_kappa"] is None
    assert unanimous["threshold"]["note"].startswith("humans gave a single class")


PERFECT = {
    "human_verdict": ["pass", "pass", "pass", "fail", "fail"],
    "correctness_passed": [True, True, True, False, False],
    "correctness_score": [0.9, 0.8, 0.95, 0.1, 0.2],
}


def test_a_perfect_sample_has_no_zero_width_interval(tmp_path: Path) -> None:
    path = _file(tmp_path, PERFECT)
    (judge,) = _json(_run(path, bootstrap=1000)[1])["judges"]
    assert (judge["agreement"], judge["kappa"]) == (1.0, 1.0)
    assert [round(x, 4) for x in judge["agreement_ci"]] == [0.5655, 1.0]
    assert [round(x, 4) for x in judge["kappa_ci"]] == [0.0948, 1.0]
    assert judge["kappa_ci_note"] == (
        "every resample gave the same kappa (no disagreement in the sample), so its interval is"
        " the agreement's Wilson interval at the observed chance agreement"
    )
    _, markdown = _run(path, bootstrap=1000, output_format="markdown")
    assert (
        "| `correctness` | `human_verdict` | 5 | 1.000 [0.566, 1.000] | 1.000 [0.095, 1.000] |"
        in (markdown)
    )
    assert "kappa interval: every resample gave the same kappa" in markdown


def test_a_seed_reproduces_the_intervals(tmp_path: Path) -> None:
    path = _file(tmp_path, SMALL)
    first = _run(path, bootstrap=300, seed=1)[1]
    assert first == _run(path, bootstrap=300, seed=1)[1]
    assert first != _run(path, bootstrap=300, seed=2)[1]


# --- markdown and table -----------------------------------------------------


def test_markdown(tmp_path: Path) -> None:
    path = _file(tmp_path, SMALL)
    _, out = _run(path, output_format="markdown")
    head, legend = out.split("<details>")
    assert head == (
        "## Judge vs human agreement\n"
        "\n"
        f"`{path}` · 95% CI: agreement Wilson score; no kappa interval (--bootstrap 0)\n"
        "\n"
        "| judge | human labels | compared | agreement (95% CI) | kappa (95% CI) "
        "| judge pass | human pass | fail precision | fail recall |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|\n"
        "| `correctness` | `human_verdict` | 4 | 0.500 [0.150, 0.850] | 0.000 | 0.500 | 0.500 "
        "| 0.500 | 0.500 |\n"
        "\n"
        "### `correctness` vs `human_verdict` · threshold 0.7, the default "
        "(the file does not record one)\n"
        "\n"
        "rows 6 · labelled 6 · unsure 1 · judge errors 1 · compared 4\n"
        "\n"
        "| | human pass | human fail |\n"
        "|---|---:|---:|\n"
        "| **judge pass** | 1 (tp) | 1 (fp) |\n"
        "| **judge fail** | 1 (fn) | 1 (tn) |\n"
        "\n"
        "| | threshold | agreement | kappa |\n"
        "|---|---:|---:|---:|\n"
        "| default | 0.7 | 0.500 | 0.000 |\n"
        "| best agreement | 0.85 | 0.750 | 0.500 |\n"
        "| best kappa | 0.85 | 0.750 | 0.500 |\n"
        "\n"
    )
    assert legend.startswith("<summary>Legend</summary>\n\n- agreement: share of compared rows")
    assert legend.endswith("</details>\n")


def test_markdown_shows_intervals_and_notes(tmp_path: Path) -> None:
    path = _file(tmp_path, EDGES)
    _, out = _run(
        path, judges=("unanimous",), humans=("h",), output_format="markdown", bootstrap=50
    )
    assert "· 95% CI: agreement Wilson score, kappa from 50 bootstrap resamples (seed 0)\n" in out
    assert "| `unanimous` | `h` | 2 | 1.000 [0.342, 1.000] | — | 1.000 | 1.000 | — | — |" in out
    assert "Note: kappa: undefined: judge and humans each gave a single class." in out


def test_markdown_escapes_column_names(tmp_path: Path) -> None:
    path = _file(tmp_path, {"a|b": ["pass"], "j_passed": [True]})
    _, out = _run(path, judges=("j",), humans=("a|b",), output_format="markdown")
    assert "| `j` | `a\\|b` | 1 |" in out


def test_table(tmp_path: Path) -> None:
    code, out = _run(_file(tmp_path, SMALL), output_format="table", bootstrap=100)
    assert code == 0 and max(len(line) for line in out.splitlines()) <= 100
    assert "Judge vs human agreement" in out
    assert "95% CI: agreement Wilson score, kappa from 100 bootstrap resamples (seed 0)" in out
    assert re.search(r"correctness\s+4\s+0\.500 \[\d\.\d{3}, \d\.\d{3}\]", out)
    assert "rows 6 · labelled 6 · unsure 1 · judge errors 1 · compared 4" in out
    assert re.search(r"judge pass\s+│\s+1 tp\s+│\s+1 fp", out)
    assert re.search(r"judge fail\s+│\s+1 fn\s+│\s+1 tn", out)
    assert re.search(r"best agreement\s+0\.85\s+0\.750\s+0\.500", out)


@pytest.mark.parametrize("width", [80, 100], ids=["80", "100"])
def test_a_narrow_table_puts_intervals_under_figures(tmp_path: Path, width: int) -> None:
    long_name = "a_judge_with_a_rather_long_descriptive_name"
    data = {**SMALL, f"{long_name}_passed": SMALL["correctness_passed"]}
    path = _file(tmp_path, data)
    console = Console(file=io.StringIO(), width=width, color_system=None)
    run_agreement(
        path,
        config=None,
        judges=["correctness", long_name],
        humans=["human_verdict", "human_verdict"],
        output_format="table",
        output_path=None,
        fail_under=None,
        bootstrap=100,
        seed=None,
        console=console,
    )
    assert isinstance(console.file, io.StringIO)
    out = console.file.getvalue()
    assert max(len(line) for line in out.splitlines()) <= width
    assert re.search(r"correctness\s+4\s+0\.500\s+0\.000\s+0\.50 / 0\.50", out)
    assert re.search(r"^\s+\[\d\.\d{3}, \d\.\d{3}\]\s+\[-?\d\.\d{3}, \d\.\d{3}\]", out, re.M)
    assert "threshold: no scores among the rows compared" in out  # the long judge has none


# --- --output ---------------------------------------------------------------


@pytest.mark.parametrize("output_format", ["table", "json", "markdown"])
def test_output_writes_the_file_and_prints_nothing(
    tmp_path: Path, output_format: OutputFormat
) -> None:
    path, target = _file(tmp_path, SMALL), tmp_path / f"report.{output_format}"
    code, out = _run(path, output_format=output_format, output_path=target)
    assert (code, out) == (0, "")
    _, printed = _run(path, output_format=output_format)
    assert target.read_text(encoding="utf-8") == printed
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_output_into_a_missing_directory(tmp_path: Path) -> None:
    target = tmp_path / "nope" / "report.json"
    with pytest.raises(UsageError) as caught:
        _run(_file(tmp_path, SMALL), output_path=target)
    assert str(caught.value) == f"{target}: cannot write the report (No such file or directory)"


# --- --fail-under and flags -------------------------------------------------

AT_DEFAULT = "threshold 0.7, the default"


@pytest.mark.parametrize(
    ("fail_under", "code", "messages"),
    [
        (0.5, 0, []),
        (0.0, 0, []),
        (0.8, 1, [f"agreement of 'correctness' is 0.50 ({AT_DEFAULT}), below --fail-under 0.8"]),
        (
            0.501,
            1,
            [f"agreement of 'correctness' is 0.50 ({AT_DEFAULT}), below --fail-under 0.501"],
        ),
    ],
    ids=["equal-passes", "zero", "below", "just-below"],
)
def test_fail_under(tmp_path: Path, fail_under: float, code: int, messages: list[str]) -> None:
    result, out = _run(_file(tmp_path, SMALL), output_format="markdown", fail_under=fail_under)
    assert result == code
    assert out.splitlines()[len(out.splitlines()) - len(messages) :] == messages
    assert out.startswith("## Judge vs human agreement")


def test_fail_under_shows_enough_decimals(tmp_path: Path) -> None:
    path = _file(tmp_path, {"h": ["pass", "pass", "fail"], "j_passed": [True, True, True]})
    code, out = _run(path, judges=("j",), humans=("h",), fail_under=0.67)
    assert code == 1
    assert (
        out.splitlines()[-1]
        == "agreement of 'j' is 0.667 (threshold 0.7, the default), below --fail-under 0.67"
    )


def test_fail_under_messages_can_go_elsewhere(tmp_path: Path) -> None:
    console, messages = _console(), _console()
    code = run_agreement(
        _file(tmp_path, SMALL),
        config=None,
        judges=["correctness"],
        humans=["human_verdict"],
        output_format="json",
        output_path=None,
        fail_under=0.9,
        bootstrap=0,
        seed=None,
        console=console,
        messages=messages,
    )
    assert isinstance(console.file, io.StringIO) and isinstance(messages.file, io.StringIO)
    assert code == 1 and _json(console.file.getvalue())["judges"][0]["agreement"] == 0.5
    assert messages.file.getvalue() == (
        "agreement of 'correctness' is 0.50 (threshold 0.7, the default), below --fail-under 0.9\n"
    )


def test_fail_under_names_every_failing_judge(tmp_path: Path) -> None:
    path = _file(tmp_path, EDGES)
    code, out = _run(path, judges=("empty", "unanimous"), humans=("h", "h"), fail_under=0.9)
    assert code == 1
    assert out.splitlines()[-1] == (
        "agreement of 'empty' is undefined (no rows compared), below --fail-under 0.9"
    )
    assert "'unanimous'" not in out.split("}\n")[-1]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"fail_under": 80.0}, "--fail-under must be between 0 and 1, got 80"),
        ({"fail_under": -0.1}, "--fail-under must be between 0 and 1, got -0.1"),
        ({"bootstrap": -1}, "--bootstrap must be between 0 and 100000, got -1"),
        ({"bootstrap": 100_001}, "--bootstrap must be between 0 and 100000, got 100001"),
    ],
    ids=["percent", "negative", "negative-bootstrap", "huge-bootstrap"],
)
def test_bad_flags(tmp_path: Path, options: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError) as caught:
        _run(_file(tmp_path, SMALL), **options)
    assert str(caught.value) == message


# --- with a config ----------------------------------------------------------


def _config(**agreement: Any) -> Config:
    raw = {
        "judges": [
            {"name": "correctness", "type": "exact", "threshold": 0.55, "human_label": "verdict"},
            {"name": "rule_exact", "type": "exact"},
        ],
        "agreement": {"labels": {"good": "pass", "bad": "fail", "meh": "exclude"}, **agreement},
    }
    return parse_config(raw, "config.toml")


CONFIGURED: dict[str, list[Any]] = {
    "verdict": ["good", "bad", "good", "meh", None],
    "correctness_passed": [True, False, False, True, True],
    "correctness_score": [0.9, 0.1, 0.5, 0.6, 0.7],
    "rule_exact_passed": [True, True, True, True, True],
}


def test_config_pairs_judges_and_maps_words(tmp_path: Path) -> None:
    config = _config(bootstrap=40, seed=9)
    _, out = _run(_file(tmp_path, CONFIGURED), config=config, judges=(), humans=(), bootstrap=None)
    document = _json(out)
    assert (document["bootstrap"], document["seed"]) == (40, 9)
    (judge,) = document["judges"]
    assert (judge["judge"], judge["human_column"]) == ("correctness", "verdict")
    assert (judge["labelled"], judge["excluded_unsure"], judge["compared"]) == (4, 1, 3)
    assert judge["threshold"]["configured"] == 0.55
    assert judge["agreement_ci"] is not None


def test_flags_override_the_config(tmp_path: Path) -> None:
    config = _config(bootstrap=40, seed=9)
    path = _file(tmp_path, CONFIGURED)
    _, out = _run(path, config=config, judges=("rule_exact",), humans=("verdict",), seed=4)
    document = _json(out)
    assert (document["bootstrap"], document["seed"]) == (0, 4)
    assert [j["judge"] for j in document["judges"]] == ["rule_exact"]


def test_without_a_config_the_words_are_unknown(tmp_path: Path) -> None:
    path = _file(tmp_path, CONFIGURED)
    with pytest.raises(UsageError) as caught:
        _run(path, humans=("verdict",))
    assert str(caught.value).startswith(f"{path}: column 'verdict': unknown labels: 'good' (2)")


def test_config_errors_come_before_reading(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        _run(tmp_path / "absent.parquet", config=_config(), judges=("rule_exact",), humans=())
    assert str(caught.value) == "judge 'rule_exact' has no human_label; give --human COL too"
