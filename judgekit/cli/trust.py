"""The commands that say how far to trust a judge: ``agreement`` with human labels, the
HTML ``report``, and ``align`` (few-shot examples from disagreements)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from judgekit.cli.app import ConfigOption, check_toml_name, handled, stderr, stdout
from judgekit.config import load_config
from judgekit.errors import UsageError
from judgekit.given_paths import check_given_paths
from judgekit.output_paths import check_directory, check_local_scored

REPORT_EXTRA = ("jinja2", "matplotlib")
"""What ``pip install 'judgekit[report]'`` brings (pyproject.toml), as modules."""

if TYPE_CHECKING:  # the engine (aiohttp, pyarrow, polars) loads only when a command needs it
    pass


def agreement(
    scored: Annotated[
        Path, typer.Argument(help="File written by `judgekit score`: .parquet, .jsonl or .csv.")
    ],
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="The config it was scored with: human_label columns, labels."
        ),
    ] = None,
    judge: Annotated[
        list[str] | None,
        typer.Option(
            metavar="NAME", help="Judge to compare (repeatable; default: each with a human_label)."
        ),
    ] = None,
    human: Annotated[
        list[str] | None,
        typer.Option(metavar="COLUMN", help="Column of human labels, one per --judge."),
    ] = None,
    output_format: Annotated[
        Literal["table", "json", "markdown"], typer.Option("--format", help="Report format.")
    ] = "table",
    output: Annotated[
        Path | None, typer.Option(help="Write the report to this file instead of stdout.")
    ] = None,
    fail_under: Annotated[
        float | None,
        typer.Option(
            min=0.0, max=1.0, metavar="F", help="Exit 1 if any judge's agreement is below F."
        ),
    ] = None,
    bootstrap: Annotated[
        int | None,
        typer.Option(
            min=0, metavar="N", help="Bootstrap resamples for the 95% CIs (default 1000; 0: none)."
        ),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(metavar="N", help="Bootstrap seed (default 0).")
    ] = None,
) -> None:
    """Compare judge verdicts with human labels: agreement, kappa, confusion, CIs."""
    from judgekit.config_numbers import checked_share
    from judgekit.trust.agreement_report import run_agreement

    with handled():
        checked_share("--fail-under", fail_under)
        check_local_scored(scored, "agreement")
        from judgekit.trust.scored_file import check_scored_path

        check_given_paths((scored, None, False), (output, "--output", True))
        check_scored_path(scored)  # before anything reads it (a FIFO would hang the read)
        cfg = load_config(config, expand=False) if config else None
        code = run_agreement(
            scored,
            config=cfg,
            judges=judge or (),
            humans=human or (),
            output_format=output_format,
            output_path=output,
            fail_under=fail_under,
            bootstrap=bootstrap,
            seed=seed,
            console=stdout,
            messages=stderr,
        )
        if code:
            raise typer.Exit(code)


def report(
    scored: Annotated[Path, typer.Argument(help="Scored Parquet/JSONL/CSV from `score`.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write.")],
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="TOML config (labels, columns).")
    ] = None,
    judge: Annotated[
        list[str] | None,
        typer.Option(metavar="NAME", help="Only this judge (repeatable; default: all)."),
    ] = None,
    human: Annotated[
        list[str] | None,
        typer.Option(metavar="COLUMN", help="Column of human labels, one per --judge."),
    ] = None,
) -> None:
    """Write one self-contained HTML page: distributions, agreement, disagreements, cost."""
    with handled():
        check_given_paths((scored, None, False), (output, "-o", True))
        check_directory(output)
        check_local_scored(scored, "report")
        from judgekit.trust.scored_file import check_scored_path

        check_scored_path(scored)
        # The extra's libraries are imported only while the page is drawn: look for them
        # first, so a missing one is this line, not a traceback after the file was read.
        missing = [name for name in REPORT_EXTRA if not _installed(name)]
        if missing:
            raise UsageError(
                f"judgekit report needs its extra ({' and '.join(missing)} missing): "
                "pip install 'judgekit[report]'"
            )
        from judgekit.trust.html_report import write_html_report

        cfg = load_config(config, expand=False) if config else None
        size = write_html_report(scored, output, config=cfg, judges=judge or (), humans=human or ())
        stderr.print(f"wrote {output} ({size / 1e6:.1f} MB)", markup=False, soft_wrap=True)


def align(
    dataset: Annotated[str, typer.Argument(help="Dataset with human pass/fail labels.")],
    config: ConfigOption,
    judge: Annotated[str, typer.Option(metavar="NAME", help="The llm judge to align.")],
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="Aligned config to write (only if held-out agreement holds)."
        ),
    ],
    human: Annotated[
        str | None,
        typer.Option(metavar="COLUMN", help="Column of human labels (default: human_label)."),
    ] = None,
    note: Annotated[
        str | None,
        typer.Option(metavar="COLUMN", help="Column of human notes: each example's reasoning."),
    ] = None,
    examples: Annotated[
        int, typer.Option(min=1, max=50, metavar="K", help="Few-shot examples, at most K.")
    ] = 4,
    holdout: Annotated[
        float,
        typer.Option(
            min=0.05, max=0.95, metavar="F", help="Share of labelled rows held out for the test."
        ),
    ] = 0.3,
    seed: Annotated[int, typer.Option(metavar="N", help="Seed of the split and choice.")] = 0,
    budget_usd: Annotated[
        float | None,
        typer.Option(metavar="USD", help="Hard cap on new spend (overrides run.budget_usd)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the calls and worst-case cost; call nothing.")
    ] = False,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Neither read nor write the answer cache.")
    ] = False,
    cache: Annotated[
        Path | None, typer.Option(help="Answer cache file (default: as for score).")
    ] = None,
) -> None:
    """Add few-shot examples and a calibrated threshold to a judge; keep them if they help."""
    from judgekit.config import RunConfig
    from judgekit.config_numbers import checked_flag, checked_share
    from judgekit.stopping import stop_signals_interrupt

    with handled():  # the flags before any file is read, as score's
        checked_flag("--budget-usd", budget_usd, RunConfig, "budget_usd")
        checked_share("--holdout", holdout, 0.05, 0.95)
    from judgekit.trust.align import AlignJob, align, estimate_align, write_aligned
    from judgekit.trust.align_report import compare, comparison_lines, estimate_lines

    def say(line: str) -> None:
        stdout.print(line, markup=False, soft_wrap=True, highlight=False)

    with handled(), stop_signals_interrupt():
        check_toml_name(output, "align")
        cfg = load_config(config)
        check_given_paths((dataset, None, False), (output, "-o", True), (cache, "--cache", True))
        check_directory(output)  # before paying for calls whose result could not be kept
        job = AlignJob(
            dataset=dataset,
            config=cfg,
            config_path=config,
            judge=judge,
            output=output,
            human=human,
            note=note,
            examples=examples,
            holdout_share=holdout,
            seed=seed,
            budget_usd=budget_usd,
            cache_path=cache,
            use_cache=not no_cache,
        )
        if dry_run:
            for line in estimate_lines(estimate_align(job)):
                say(line)
            return
        alignment = align(job, say)
        comparison = compare(alignment, cfg.agreement.bootstrap, cfg.agreement.seed)
        for line in comparison_lines(alignment, comparison):
            say(line)
        say(f"calls: {alignment.requests} sent, ${alignment.spent_usd:.4f} spent")
        before, after = comparison.before.agreement, comparison.after.agreement
        change = f"{before:.3f} -> {after:.3f}" if before is not None and after is not None else ""
        if not comparison.not_worse:
            say(f"not written: held-out agreement got worse ({change}); {output} left alone")
            raise typer.Exit(1)
        write_aligned(job, alignment)
        say(f"wrote {output}: held-out agreement did not get worse ({change})")


def _installed(module: str) -> bool:
    """Whether ``module`` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a finder that refuses it, a module set to None
        return False
