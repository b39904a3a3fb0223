"""``judgekit report``: one self-contained HTML page about a scored file."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from conftest import Workspace
from typer.testing import CliRunner

from judgekit.cli import app

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ROOT = Path(__file__).resolve().parent.parent


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


@pytest.fixture(scope="module")
def demo_report(module_workspace: Workspace) -> Path:
    """The demo dataset scored against the fake, and its report."""
    ws = module_workspace
    config = ROOT / "configs" / "demo.toml"
    scored = ws.root / "demo.parquet"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("JUDGEKIT_FAKE_URL", ws.fake.url)
        result = _invoke(
            "score",
            str(ROOT / "datasets" / "demo.jsonl"),
            "-c",
            str(config),
            "-o",
            str(scored),
            "--cache",
            str(ws.cache),
            "--quiet",
        )
        assert result.exit_code == 0, result.output
        report = ws.root / "report.html"
        result = _invoke("report", str(scored), "-c", str(config), "-o", str(report))
    assert result.exit_code == 0, result.output
    assert re.fullmatch(r"wrote .*report\.html \(0\.\d MB\)\n", result.output)
    return report


def test_report_holds_every_section_per_judge(demo_report: Path) -> None:
    html = demo_report.read_text("utf-8")
    for judge in ("correctness", "helpfulness", "mentions_reference"):
        assert f'id="judge-{judge}"' in html
    # correctness vs human_verdict on the demo: the same counts `agreement` prints.
    confusion = re.search(
        r'<table class="confusion">.*?judge pass</th><td class="num">(\d+) tp</td>'
        r'<td class="num">(\d+) fp</td>.*?judge fail</th><td class="num">(\d+) fn</td>'
        r'<td class="num">(\d+) tn',
        html,
        re.S,
    )
    assert confusion is not None
    assert sum(int(n) for n in confusion.groups()) == 71  # 77 rows, 6 unsure
    assert 'id="dis-correctness"' in html and 'id="dis-mentions_reference"' in html
    assert 'id="chart-scores-correctness"' in html and "<svg" in html
    assert "Errors by kind" in html and "judgekit.config_hash" in html


def test_report_needs_no_network(demo_report: Path) -> None:
    html = demo_report.read_text("utf-8")
    # Only XML namespaces may name an address; nothing is loaded from anywhere.
    addresses = set(re.findall(r"https?://[^\s\"'<>)]+", html))
    assert addresses <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", html)


def test_report_of_ten_thousand_long_rows_stays_under_five_mb(tmp_path: Path) -> None:
    n = 10_000
    long_text = "word " * 2_000  # 10,000 characters per cell
    scored = tmp_path / "big.parquet"
    pl.DataFrame(
        {
            "id": [f"r{i}" for i in range(n)],
            "question": [long_text] * n,
            "answer": [long_text] * n,
            "human": ["pass" if i % 2 else "fail" for i in range(n)],
            "j_score": [((i * 37) % 100) / 100 for i in range(n)],
            "j_passed": [i % 3 == 0 for i in range(n)],
            "j_reasoning": [long_text] * n,
            "j_error": [None] * n,
        }
    ).write_parquet(scored)
    out = tmp_path / "big.html"
    result = _invoke("report", str(scored), "--judge", "j", "--human", "human", "-o", str(out))
    assert result.exit_code == 0, result.output
    size = out.stat().st_size
    assert size < 5_000_000, size
    html = out.read_text("utf-8")
    assert "Disagreements (5000, first 2000 shown)" in html
    assert "<details><summary>" in html  # long texts open with a click


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.parquet", "-o", "r.html"], "error: missing.parquet: no such file\n"),
        (
            ["plain.parquet", "-o", "r.html"],
            "error: plain.parquet: no judge columns (NAME_score and NAME_passed); "
            "is it a scored file?\n",
        ),
        (["plain.parquet", "-o", "r.txt"], "error: r.txt: the report is HTML; name it .html\n"),
    ],
    ids=["missing", "not-scored", "not-html"],
)
def test_report_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    pl.DataFrame({"id": [1], "answer": ["x"]}).write_parquet("plain.parquet")
    result = _invoke("report", *args)
    assert (result.exit_code, result.output) == (2, message)
    assert not Path("r.html").exists() and not Path("r.txt").exists()


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")
def test_report_renders_in_a_real_browser(demo_report: Path) -> None:
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    screenshot = ROOT / "out" / "report-screenshot.png"
    screenshot.parent.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 2000})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on(
                "request",
                lambda r: (
                    errors.append(f"request {r.url}") if not r.url.startswith("file:") else None
                ),
            )
            page.goto(demo_report.as_uri())
            assert page.locator("#dis-correctness").is_visible()
            assert page.locator("#chart-scores-correctness svg").is_visible()
            rows = page.locator("#dis-correctness tbody tr")
            total = rows.count()
            assert total > 0
            page.fill('input[data-table="dis-correctness"]', "zzz-no-such-text")
            assert page.locator("#dis-correctness tbody tr:visible").count() == 0
            page.fill('input[data-table="dis-correctness"]', "")
            page.locator("#dis-correctness th").nth(3).click()  # sort by score
            page.screenshot(path=str(screenshot), full_page=False)
        finally:
            browser.close()
    assert errors == []
    assert screenshot.stat().st_size > 10_000


_WITHOUT_EXTRA = """
import sys

class _NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"jinja2", "matplotlib"}:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _NotInstalled())
from judgekit.cli import main
sys.argv = ["judgekit", *sys.argv[1:]]
main()
"""


def test_report_without_its_extra_is_one_line(demo_report: Path, tmp_path: Path) -> None:
    """As after a bare ``pip install judgekit``: jinja2 and matplotlib cannot be imported."""
    scored = demo_report.parent / "demo.parquet"
    out = tmp_path / "r.html"
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_EXTRA, "report", str(scored), "-o", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "error: judgekit report needs its extra (jinja2 and matplotlib missing): "
        "pip install 'judgekit[report]'\n"
    )
    assert not out.exists()
