"""The command line: parse flags, call one function, map errors to exit codes.

Every ``JudgekitError`` becomes one line on stderr and its exit code; Ctrl-C
exits 130.  Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.table import Table

from judgekit import __version__, terminal
from judgekit.config import Config, load_config
from judgekit.errors import EXIT_INTERRUPTED, JudgekitError, UsageError
from judgekit.memory import use_system_allocator

if TYPE_CHECKING:  # the engine (aiohttp, pyarrow, polars) loads only when a command needs it
    from judgekit.engine.estimate import Estimate
    from judgekit.engine.plan import RunPlan

app = typer.Typer(
    name="judgekit",
    help="Score datasets with LLM judges, and measure how far to trust them.",
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    add_completion=False,
)
stderr = terminal.console(stderr=True)
stdout = terminal.console()

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="TOML config: judges, connections, run settings.")
]


@contextmanager
def _handled() -> Iterator[None]:
    """Turn judgekit's errors into one line and an exit code."""
    try:
        yield
    except JudgekitError as exc:
        stderr.print(f"error: {exc}", markup=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        stderr.print("interrupted", markup=False)
        raise typer.Exit(EXIT_INTERRUPTED) from None


@app.command()
def score(
    dataset: Annotated[str, typer.Argument(help="JSONL or Parquet file, a directory, or a glob.")],
    config: ConfigOption,
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help="Output file: .parquet, .jsonl or .csv."),
    ],
    judge: Annotated[
        list[str] | None, typer.Option(metavar="NAME", help="Run only this judge (repeatable).")
    ] = None,
    limit: Annotated[
        int | None, typer.Option(min=1, metavar="N", help="Score only the first N rows.")
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(
            min=1, max=4096, metavar="N", help="Max requests in flight (overrides run.concurrency)."
        ),
    ] = None,
    budget_usd: Annotated[
        float | None,
        typer.Option(
            min=0.0, metavar="USD", help="Hard cap on new spend (overrides run.budget_usd)."
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Count calls, tokens and worst-case cost; call nothing."),
    ] = False,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Neither read nor write the answer cache.")
    ] = False,
    cache: Annotated[
        Path | None,
        typer.Option(
            help="Answer cache file (default: $JUDGEKIT_CACHE, else "
            "$XDG_CACHE_HOME/judgekit/cache.sqlite3, else ~/.cache/judgekit/cache.sqlite3)."
        ),
    ] = None,
    summary_json: Annotated[
        Path | None, typer.Option(help="Also write the summary's figures as JSON here.")
    ] = None,
    max_error_rate: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=1.0,
            metavar="F",
            help="Share of failed judgements above which the run exits 1 "
            "(overrides run.max_error_rate).",
        ),
    ] = None,
    quiet: Annotated[
        bool,
        typer.Option("--quiet", "-q", help="No progress, no summary (warnings still print)."),
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="One line per retry, and every notice.")
    ] = False,
    local_only: Annotated[
        bool,
        typer.Option("--local-only", help="Run only judges that cost nothing; skip the rest."),
    ] = False,
) -> None:
    """Score every row of DATASET with every judge and write OUTPUT."""
    from judgekit.engine.estimate import estimate
    from judgekit.engine.plan import Overrides
    from judgekit.engine.run import RunHooks
    from judgekit.engine.score import ScoreJob, check_clean, score_dataset
    from judgekit.output_paths import write_summary
    from judgekit.progress import ProgressDisplay, summary_table
    from judgekit.stopping import stop_signals_interrupt

    with _handled(), stop_signals_interrupt():
        cfg = load_config(config)
        job = ScoreJob(
            dataset=dataset,
            config=cfg,
            config_path=str(config),
            output=output,
            overrides=Overrides(
                judges=judge or (),
                concurrency=concurrency,
                budget_usd=budget_usd,
                max_error_rate=max_error_rate,
                local_only=local_only or None,
            ),
            limit=limit,
            cache_path=cache,
            use_cache=not no_cache,
            summary_path=summary_json,
        )
        if dry_run:
            _print_estimate(estimate(job))
            return
        with ProgressDisplay(stderr, quiet=quiet) as display:
            hooks = RunHooks(
                on_progress=display.update,
                on_notice=display.notice,
                progress_interval_s=display.interval_s,
                on_retry=display.notice if verbose else None,
            )
            report = score_dataset(job, hooks)
            display.finish(report.outcome.snapshot)
        snapshot = report.outcome.snapshot
        skipped = {s.name: s.reason for s in report.plan.skipped}
        if not quiet:
            table = summary_table(snapshot, str(output), report.problem, skipped)
            stderr.print(terminal.fit(table, stderr))
        if summary_json is not None:
            figures = snapshot.as_dict() | {"output": str(output), "problem": report.problem}
            if skipped:
                figures["skipped"] = skipped
            write_summary(summary_json, figures, output)
        check_clean(report)


def _print_estimate(e: Estimate) -> None:
    table = Table(title="dry run: nothing was called", show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("rows", str(e.rows))
    table.add_row("judges", str(e.judges))
    table.add_row("calls needed", str(e.calls_needed))
    table.add_row("calls already cached", str(e.calls_cached))
    table.add_row("calls refused by guards", str(e.calls_refused))
    table.add_row("rule judgements (free)", str(e.rule_judgements))
    for name, reason in e.skipped.items():
        table.add_row("skipped (local only)", f"{name}: {reason}")
    table.add_row("estimated input tokens", f"{e.input_tokens:,}")
    table.add_row("worst-case cost", _worst_case(e))
    if e.budget_usd is not None:
        verdict = "yes" if e.budget_covers else "NO: the run would stop with budget_exhausted"
        table.add_row("budget", f"${e.budget_usd:g} (covers worst case: {verdict})")
    stderr.print(terminal.fit(table, stderr))  # where the summary of a real run goes


def _worst_case(e: Estimate) -> str:
    """The dry run's worst case: "unknown" for calls to a model without a price, never $0."""
    known = f"${e.worst_case_usd:.4f}"
    if not e.unpriced_models:
        return known
    models = ", ".join(f"'{m}'" for m in e.unpriced_models)
    unknown = f"unknown (no price for {models}: set input_usd_per_mtok, output_usd_per_mtok)"
    return unknown if e.worst_case_usd == 0 else f"{known} + {unknown}"


@app.command()
def validate(
    config: ConfigOption,
    dataset: Annotated[
        str | None,
        typer.Argument(help="Also check that this dataset has every column the judges need."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Also check that this output file can be written."),
    ] = None,
) -> None:
    """Check config, credentials, columns and prices; call no model."""
    from judgekit.datasets import inspect_dataset
    from judgekit.engine.plan import make_plan
    from judgekit.output import check_output_path
    from judgekit.preflight import run_warnings

    with _handled():
        cfg = load_config(config)
        if output is not None:
            check_output_path(output)
        info = inspect_dataset(dataset, cfg.run.id_column) if dataset else None
        plan = make_plan(cfg, str(config), info)
        _print_plan(cfg, plan)
        warnings = run_warnings(cfg, str(config), plan, info)
        for warning in warnings:
            stderr.print(f"warning: {warning}", markup=False, soft_wrap=True)
        checked = f"{config} and {dataset} ({info.rows} rows) are" if info else f"{config} is"
        noted = f" ({len(warnings)} warning{'s' if len(warnings) > 1 else ''} above)"
        stdout.print(
            f"ok: {checked} valid{noted if warnings else ''}; no model was called", markup=False
        )


def _print_plan(cfg: Config, plan: RunPlan) -> None:
    table = Table(title="judges", title_justify="left")
    for column in ("judge", "type", "connection", "model", "price (USD/Mtok in/out)", "columns"):
        table.add_column(column)
    for judge in plan.judges:
        price = (
            f"{judge.price.input_usd_per_mtok:g} / {judge.price.output_usd_per_mtok:g} "
            f"({judge.price.source})"
            if judge.price
            else ("-" if not judge.is_llm else "unknown")
        )
        table.add_row(
            judge.name,
            judge.template.name if judge.template and judge.is_llm else judge.type,
            f"{judge.connection.name} ({judge.connection.config.protocol})"
            if judge.connection
            else "-",
            judge.model or "-",
            price,
            ", ".join(f"{f}={c}" for f, c in judge.fields.items()),
        )
    stdout.print(terminal.fit(table, stdout))


@app.command()
def templates(
    name: Annotated[
        str | None, typer.Argument(help="Print this template (fields, scale, prompt).")
    ] = None,
) -> None:
    """List the built-in judge templates, or print one."""
    from judgekit.templates import TEMPLATES, describe

    with _handled():
        if name is None:
            table = Table(title="built-in templates", title_justify="left")
            for column in ("name", "needs", "optional", "scale", "what it judges"):
                table.add_column(column)
            for template in TEMPLATES.values():
                scale = f"{template.scale.low:g}-{template.scale.high:g}"
                table.add_row(
                    template.name,
                    ", ".join(template.required),
                    ", ".join(template.optional) or "-",
                    scale,
                    template.description,
                )
            stdout.print(terminal.fit(table, stdout))
            return
        if name not in TEMPLATES:
            raise UsageError(f"no template '{name}' (templates: {', '.join(TEMPLATES)})")
        stdout.print(describe(TEMPLATES[name]), markup=False)


@app.command()
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
    from judgekit.agreement_report import run_agreement

    with _handled():
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


@app.command()
def init(
    dataset: Annotated[
        str, typer.Argument(help="Dataset whose column names the config is written from.")
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Config file to write; never overwritten.")
    ] = Path("judgekit.toml"),
    provider: Annotated[
        Literal["openai", "anthropic", "ollama"],
        typer.Option(help="The active connection; the other two are written as comments."),
    ] = "openai",
) -> None:
    """Write a starter config from DATASET's columns (judges, columns, a connection)."""
    from judgekit.datasets import inspect_dataset
    from judgekit.starter import build_starter, check_new, next_steps, write_starter

    with _handled():
        check_new(output)  # before the dataset is read
        info = inspect_dataset(dataset)
        starter = build_starter(info, str(output), provider)
        write_starter(output, starter.text)
        stdout.print(
            f"wrote {output} for {dataset} ({info.rows} rows)", markup=False, soft_wrap=True
        )
        for judge in starter.judges:
            columns = ", ".join(f"{f}={c}" for f, c in judge.fields.items())
            human = f"; human_label={judge.human_label}" if judge.human_label else ""
            stdout.print(f"  judge {judge.name}: {columns}{human}", markup=False, soft_wrap=True)
            for note in judge.notes:
                stdout.print(f"    note: {note}", markup=False, soft_wrap=True)
        stdout.print("next:", markup=False, soft_wrap=True)
        for step in next_steps(starter, dataset, str(output)):
            stdout.print(f"  {step}", markup=False, soft_wrap=True)


@app.command()
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
    with _handled():
        try:
            from judgekit.trust.html_report import write_html_report
        except ImportError as exc:
            raise UsageError(
                f"judgekit report needs its extra ({exc.name} is missing): "
                "pip install 'judgekit[report]'"
            ) from None
        cfg = load_config(config, expand=False) if config else None
        size = write_html_report(scored, output, config=cfg, judges=judge or (), humans=human or ())
        stderr.print(f"wrote {output} ({size / 1e6:.1f} MB)", markup=False, soft_wrap=True)


def _version(value: bool) -> None:
    if value:
        stdout.print(f"judgekit {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Score datasets with LLM judges, and measure how far to trust them."""


def main() -> None:
    """Console-script entry point."""
    terminal.prepare_streams()
    use_system_allocator()
    app()
