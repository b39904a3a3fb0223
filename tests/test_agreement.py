"""Labels, pairing, reading scored files, and per-judge figures against scikit-learn."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sklearn.metrics import cohen_kappa_score, confusion_matrix, precision_score, recall_score

from judgekit.config import Config, LabelMeaning, parse_config
from judgekit.errors import ConfigError, DatasetError, UsageError
from judgekit.trust.agreement import NO_ROWS, SINGLE_CLASS, AgreementReport, compare
from judgekit.trust.labels import label_codes, label_vocabulary
from judgekit.trust.pairing import Pairing, pair_judges
from judgekit.trust.scored_file import read_scored
from judgekit.trust.stats import NO_SCORES

WRITERS: dict[str, Callable[[pl.DataFrame, Path], None]] = {
    ".parquet": lambda frame, path: frame.write_parquet(path),
    ".jsonl": lambda frame, path: frame.write_ndjson(path),
    ".csv": lambda frame, path: frame.write_csv(path),
}


def _config(*judges: dict[str, Any], labels: dict[str, str] | None = None) -> Config:
    raw: dict[str, Any] = {"judges": [{"type": "exact", **judge} for judge in judges]}
    if labels is not None:
        raw["agreement"] = {"labels": labels}
    return parse_config(raw, "config.toml")


def _write(tmp_path: Path, data: Mapping[str, Any], suffix: str = ".parquet") -> Path:
    path = tmp_path / f"scored{suffix}"
    WRITERS[suffix](pl.DataFrame(data), path)
    return path


# --- labels -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["correct", "PASS", " True ", "yes", "1"], [1, 1, 1, 1, 1]),
        (["Incorrect", "fail", "FALSE", "no", "0"], [0, 0, 0, 0, 0]),
        (["unsure", "Unknown", "SKIP"], [-1, -1, -1]),
        (["", "   ", None], [None, None, None]),
        ([True, False, None], [1, 0, None]),
        ([1, 0, None], [1, 0, None]),
        ([1.0, 0.0, float("nan"), None], [1, 0, None, None]),
    ],
    ids=["pass-words", "fail-words", "excluded-words", "blank", "booleans", "integers", "floats"],
)
def test_label_codes(values: list[Any], expected: list[int | None]) -> None:
    codes = label_codes(pl.Series("h", values, strict=False), label_vocabulary({}), "h")
    assert codes.to_list() == expected


def test_configured_words_are_added_and_win() -> None:
    vocabulary = label_vocabulary({"Good": "pass", "bad": "fail", "skip": "fail", "meh": "exclude"})
    codes = label_codes(pl.Series(["GOOD", "bad", "skip", "meh", "correct"]), vocabulary, "h")
    assert codes.to_list() == [1, 0, 0, -1, 1]


def test_a_blank_configured_word_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        label_vocabulary({" ": "pass"})
    assert str(caught.value) == "[agreement] labels: a blank label is always unlabelled; remove it"


def test_unknown_labels_are_counted_and_named_case_variants_as_one() -> None:
    values = pl.Series(["correct", "maybe", "n/a", "Maybe", " MAYBE ", "maybe", "unsure", "N/A"])
    vocabulary = label_vocabulary({"good": "pass"})
    with pytest.raises(DatasetError) as caught:
        label_codes(values, vocabulary, "scored.parquet: column 'human_verdict'")
    assert str(caught.value) == (
        "scored.parquet: column 'human_verdict': unknown labels: 'maybe' (4), 'n/a' (2); "
        "known: correct, pass, true, yes, 1, incorrect, fail, false, no, 0, unsure, "
        "unknown, skip, good; map them in [agreement] labels"
    )


def test_many_unknown_labels_are_cut_short() -> None:
    values = pl.Series([f"v{i:02d}" for i in range(12)])
    with pytest.raises(DatasetError) as caught:
        label_codes(values, label_vocabulary({}), "h")
    assert "'v07' (1), … (4 more); known:" in str(caught.value)


def test_labels_that_are_not_scalars_are_refused() -> None:
    with pytest.raises(DatasetError) as caught:
        label_codes(pl.Series("h", [[1], [2]]), label_vocabulary({}), "f: column 'h'")
    assert str(caught.value) == "f: column 'h': holds List(Int64) values, not labels"


# --- pairing ----------------------------------------------------------------

TWO_JUDGES = (
    {"name": "correctness", "human_label": "human_verdict", "threshold": 0.6},
    {"name": "rule_exact"},
    {"name": "helpfulness", "human_label": "helpful"},
)


@pytest.mark.parametrize(
    ("with_config", "judges", "humans", "expected"),
    [
        (
            True,
            [],
            [],
            [("correctness", "human_verdict", 0.6), ("helpfulness", "helpful", 0.7)],
        ),
        (True, ["helpfulness"], [], [("helpfulness", "helpful", 0.7)]),
        (True, ["rule_exact"], ["human_verdict"], [("rule_exact", "human_verdict", 0.7)]),
        (True, ["correctness"], ["other"], [("correctness", "other", 0.6)]),
        (
            False,
            ["a", "b"],
            ["h1", "h2"],
            [("a", "h1", 0.7, "default"), ("b", "h2", 0.7, "default")],
        ),
    ],
    ids=["config", "config-narrowed", "config-plus-flags", "flag-overrides", "flags-only"],
)
def test_pair_judges(
    with_config: bool, judges: list[str], humans: list[str], expected: list[tuple[Any, ...]]
) -> None:
    config = _config(*TWO_JUDGES) if with_config else None
    assert pair_judges(config, judges, humans) == tuple(Pairing(*pair) for pair in expected)


@pytest.mark.parametrize(
    ("with_config", "judges", "humans", "error", "message"),
    [
        (
            False,
            ["a", "b"],
            ["h"],
            UsageError,
            "--judge and --human must be given the same number of times",
        ),
        (True, [], ["h"], UsageError, "--judge and --human must be given the same number of times"),
        (False, [], [], UsageError, "nothing to compare: give --config, or --judge J --human COL"),
        (False, ["a"], [], UsageError, "without --config, give each --judge a --human COL"),
        (
            True,
            ["rule_exact"],
            [],
            ConfigError,
            "judge 'rule_exact' has no human_label; give --human COL too",
        ),
        (
            True,
            ["nope"],
            [],
            ConfigError,
            "no judge 'nope' in the config (judges: correctness, rule_exact, helpfulness)",
        ),
    ],
    ids=["uneven", "human-alone", "nothing", "judge-alone", "no-human-label", "unknown-judge"],
)
def test_pair_judges_errors(
    with_config: bool,
    judges: list[str],
    humans: list[str],
    error: type[Exception],
    message: str,
) -> None:
    config = _config(*TWO_JUDGES) if with_config else None
    with pytest.raises(error) as caught:
        pair_judges(config, judges, humans)
    assert type(caught.value) is error and str(caught.value) == message


def test_a_config_without_human_labels_says_what_to_do() -> None:
    with pytest.raises(ConfigError) as caught:
        pair_judges(_config({"name": "rule_exact"}), [], [])
    assert str(caught.value) == (
        "no judge in the config has a human_label; set one, or give --judge J --human COL"
    )


# --- reading ----------------------------------------------------------------

SMALL: dict[str, list[Any]] = {
    "id": [1, 2, 3],
    "human_verdict": ["correct", "incorrect", "unsure"],
    "correctness_score": [0.9, 0.2, 0.5],
    "correctness_passed": [True, False, False],
    "correctness_error": [None, None, None],
    "rule_exact_passed": [True, True, True],
}
CORRECTNESS = Pairing("correctness", "human_verdict", 0.7)


@pytest.mark.parametrize(
    ("pairing", "message"),
    [
        (
            Pairing("helpfulness", "human_verdict", 0.7),
            "no column 'helpfulness_passed' for judge 'helpfulness' "
            "(judges found: correctness, rule_exact)",
        ),
        (
            Pairing("corectness", "human_verdict", 0.7),
            "no column 'corectness_passed' for judge 'corectness'; did you mean 'correctness'? "
            "(judges found: correctness, rule_exact)",
        ),
        (
            Pairing("correctness", "verdict", 0.7),
            "no column 'verdict' for the human labels of judge 'correctness'; did you mean "
            "'human_verdict'? (columns: id, human_verdict)",
        ),
    ],
    ids=["judge-missing", "judge-misspelt", "human-missing"],
)
def test_missing_columns_are_named(tmp_path: Path, pairing: Pairing, message: str) -> None:
    path = _write(tmp_path, SMALL)
    with pytest.raises(DatasetError) as caught:
        read_scored(path, [pairing])
    assert str(caught.value) == f"{path}: {message}"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.parquet", None, "no such file"),
        ("scored.txt", b"x", "unknown file type '.txt'; use .parquet, .jsonl or .csv"),
        ("scored.parquet", b"not parquet", "cannot read ("),
        ("scored.jsonl", b'{"a": 1}\n{not json\n', "cannot read ("),
    ],
    ids=["missing", "unknown-type", "bad-parquet", "bad-jsonl"],
)
def test_unreadable_files(tmp_path: Path, name: str, content: bytes | None, message: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DatasetError) as caught:
        read_scored(path, [CORRECTNESS])
    assert str(caught.value).startswith(f"{path}: {message}")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("suffix", list(WRITERS), ids=[s[1:] for s in WRITERS])
def test_reads_only_the_columns_it_needs(tmp_path: Path, suffix: str) -> None:
    frame = read_scored(_write(tmp_path, SMALL, suffix), [CORRECTNESS])
    assert frame.columns == [
        "human_verdict",
        "correctness_passed",
        "correctness_score",
        "correctness_error",
    ]
    assert frame["correctness_passed"].to_list() == [True, False, False]


@pytest.mark.parametrize(
    ("column", "values", "message"),
    [
        ("correctness_passed", ["yes", "no", "no"], "holds String values, expected booleans"),
        ("correctness_score", ["a", "b", "c"], "holds String values, expected numbers"),
    ],
    ids=["passed-text", "score-text"],
)
def test_judge_columns_of_the_wrong_type(
    tmp_path: Path, column: str, values: list[str], message: str
) -> None:
    path = _write(tmp_path, {**SMALL, column: values})
    with pytest.raises(DatasetError) as caught:
        compare(path, [CORRECTNESS], {}, 0, 0)
    assert str(caught.value) == f"{path}: column '{column}' {message}"


# --- figures ----------------------------------------------------------------


def _random_scored(seed: int, rows: int) -> dict[str, list[Any]]:
    """Scores, verdicts, judge errors and messy human labels, reproducibly."""
    rng = random.Random(seed)
    words = ["correct", "Incorrect", "PASS", "fail", "unsure", "skip", "", None, "yes", "0"]
    data: dict[str, list[Any]] = {"human": [], "j_score": [], "j_passed": [], "j_error": []}
    for _ in range(rows):
        failed = rng.random() < 0.05
        score = None if failed else round(rng.random(), 3)
        data["human"].append(rng.choice(words))
        data["j_score"].append(score)
        data["j_passed"].append(None if score is None else score >= 0.5)
        data["j_error"].append("timeout" if failed else None)
    return data


def _independent(data: dict[str, list[Any]]) -> dict[str, Any]:
    """The same figures, computed row by row and with scikit-learn."""
    meaning = {"correct": True, "pass": True, "yes": True, "incorrect": False, "fail": False}
    meaning["0"] = False
    labelled = [h for h in data["human"] if h]
    pairs = [
        (meaning[h.lower()], passed)
        for h, passed in zip(data["human"], data["j_passed"], strict=True)
        if h and h.lower() in meaning and passed is not None
    ]
    human = [h for h, _ in pairs]
    judge = [j for _, j in pairs]
    usable = sum(1 for h in data["human"] if h and h.lower() in meaning)
    matrix = confusion_matrix(human, judge, labels=[True, False])
    return {
        "labelled": len(labelled),
        "unsure": sum(1 for h in labelled if h.lower() in ("unsure", "skip")),
        "judge_error": usable - len(pairs),
        "compared": len(pairs),
        "agreement": sum(h == j for h, j in pairs) / len(pairs),
        "kappa": cohen_kappa_score(human, judge),
        # confusion_matrix: rows human (truth), columns judge; True first.
        "confusion": (matrix[0, 0], matrix[0, 1], matrix[1, 0], matrix[1, 1]),
        "fail_precision": precision_score(human, judge, pos_label=False),
        "fail_recall": recall_score(human, judge, pos_label=False),
        "judge_pass_rate": sum(judge) / len(judge),
        "human_pass_rate": sum(human) / len(human),
    }


@pytest.mark.parametrize("suffix", list(WRITERS), ids=[s[1:] for s in WRITERS])
@pytest.mark.parametrize("seed", [1, 2], ids=["seed1", "seed2"])
def test_figures_match_an_independent_computation(tmp_path: Path, seed: int, suffix: str) -> None:
    data = _random_scored(seed, 3000)
    path = _write(tmp_path, data, suffix)
    report = compare(path, [Pairing("j", "human", 0.5)], {}, 200, seed)
    assert isinstance(report, AgreementReport)
    (judge,) = report.judges
    expected = _independent(data)
    assert judge.rows == 3000
    assert (judge.labelled, judge.excluded_unsure, judge.excluded_judge_error) == (
        expected["labelled"],
        expected["unsure"],
        expected["judge_error"],
    )
    assert judge.compared == expected["compared"]
    assert judge.labelled - judge.excluded_unsure - judge.excluded_judge_error == judge.compared
    c = judge.confusion
    assert (c.tp, c.fn, c.fp, c.tn) == expected["confusion"]
    for name in ("agreement", "kappa", "fail_precision", "fail_recall"):
        assert getattr(judge, name) == pytest.approx(expected[name], abs=1e-12), name
    assert judge.judge_pass_rate == pytest.approx(expected["judge_pass_rate"])
    assert judge.human_pass_rate == pytest.approx(expected["human_pass_rate"])
    assert judge.kappa_note is None
    assert judge.agreement_ci is not None and judge.kappa_ci is not None
    assert judge.agreement_ci.low < expected["agreement"] < judge.agreement_ci.high
    assert judge.kappa_ci.low < expected["kappa"] < judge.kappa_ci.high
    calibration = judge.calibration
    assert calibration.scored == judge.compared
    assert calibration.at_configured is not None
    # Verdicts were written with threshold 0.5, so re-deriving them changes nothing.
    assert calibration.at_configured.agreement == pytest.approx(expected["agreement"])


def test_judges_share_a_file_and_a_label_column(tmp_path: Path) -> None:
    path = _write(tmp_path, SMALL)
    pairings = [CORRECTNESS, Pairing("rule_exact", "human_verdict", 0.7)]
    report = compare(path, pairings, {}, 0, 0)
    assert [j.judge for j in report.judges] == ["correctness", "rule_exact"]
    rule = report.judges[1]
    assert (rule.agreement, rule.kappa, rule.calibration.note) == (0.5, 0.0, NO_SCORES)


@pytest.mark.parametrize(
    ("humans", "passed", "errors", "expected"),
    [
        (["unsure", "skip", None], [True, False, True], [None] * 3, (0, 2, 0)),
        (["correct", "incorrect", ""], [None, None, True], ["timeout", "auth", None], (0, 0, 2)),
        ([None, "", "  "], [True, True, True], [None] * 3, (0, 0, 0)),
    ],
    ids=["all-unsure", "all-judge-errors", "no-labels"],
)
def test_nothing_compared(
    tmp_path: Path,
    humans: list[str | None],
    passed: list[bool | None],
    errors: list[str | None],
    expected: tuple[int, int, int],
) -> None:
    data = {"h": humans, "j_passed": passed, "j_score": [0.9] * 3, "j_error": errors}
    (judge,) = compare(_write(tmp_path, data), [Pairing("j", "h", 0.7)], {}, 100, 0).judges
    assert (judge.compared, judge.excluded_unsure, judge.excluded_judge_error) == expected
    assert judge.agreement is None and judge.kappa is None and judge.kappa_note == NO_ROWS
    assert judge.agreement_ci is None and judge.kappa_ci is None
    assert (judge.judge_pass_rate, judge.human_pass_rate) == (None, None)
    assert (judge.fail_precision, judge.fail_recall) == (None, None)
    assert judge.calibration.note == NO_SCORES


def test_everybody_agrees_on_one_class(tmp_path: Path) -> None:
    data = {"h": ["pass"] * 4, "j_passed": [True] * 4, "j_score": [0.8, 0.9, 0.9, 1.0]}
    (judge,) = compare(_write(tmp_path, data), [Pairing("j", "h", 0.7)], {}, 50, 0).judges
    assert (judge.agreement, judge.kappa, judge.kappa_note) == (1.0, None, SINGLE_CLASS)
    assert judge.kappa_ci is None and judge.agreement_ci is not None
    # 4 of 4: Wilson [n / (n + z²), 1] = [0.510, 1], not the zero-width [1, 1] of a bootstrap.
    assert judge.agreement_ci.low == pytest.approx(4 / (4 + 1.959963984540054**2), rel=1e-12)
    assert judge.agreement_ci.high == 1.0
    assert (judge.fail_precision, judge.fail_recall) == (None, None)


def test_a_judge_error_column_is_optional(tmp_path: Path) -> None:
    data = {"h": ["pass", "fail", "fail"], "j_passed": [True, None, False]}
    (judge,) = compare(_write(tmp_path, data), [Pairing("j", "h", 0.7)], {}, 0, 0).judges
    assert (judge.excluded_judge_error, judge.compared, judge.agreement) == (1, 2, 1.0)
    assert judge.calibration.note == NO_SCORES


def test_an_error_overrules_a_verdict(tmp_path: Path) -> None:
    data = {"h": ["pass", "fail"], "j_passed": [True, True], "j_error": ["", "timeout"]}
    (judge,) = compare(_write(tmp_path, data), [Pairing("j", "h", 0.7)], {}, 0, 0).judges
    assert (judge.excluded_judge_error, judge.compared) == (1, 1)


def test_configured_words_apply_to_the_file(tmp_path: Path) -> None:
    data = {"h": ["good", "bad", "meh"], "j_passed": [True, False, True]}
    labels: dict[str, LabelMeaning] = {"good": "pass", "bad": "fail", "meh": "exclude"}
    (judge,) = compare(_write(tmp_path, data), [Pairing("j", "h", 0.7)], labels, 0, 0).judges
    assert (judge.compared, judge.excluded_unsure, judge.agreement) == (2, 1, 1.0)


def test_unknown_labels_in_a_file(tmp_path: Path) -> None:
    data = {"h": ["good", "bad", "correct"], "j_passed": [True, False, True]}
    path = _write(tmp_path, data)
    with pytest.raises(DatasetError) as caught:
        compare(path, [Pairing("j", "h", 0.7)], {}, 0, 0)
    assert str(caught.value).startswith(
        f"{path}: column 'h': unknown labels: 'bad' (1), 'good' (1);"
    )
