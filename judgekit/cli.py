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
from judgekit.memory import (
    claim_process,
    hand_back_large_blocks,
    keep_pandas_unloaded,
    keep_s3_unloaded,
    use_system_allocator,
)

if TYPE_CHECKING:  # the engine (aiohttp, pyarrow, polars) loads only when a command needs it
    from judgekit.engine.estimate import Estimate
    from judgekit.engine.plan import RunPlan
    from judgekit.engine.run import RunHooks
    from judgekit.engine.score import ScoreJob, ScoreReport

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
    batch: Annotated[
        bool,
        typer.Option(
            "--batch",
            help="Submit uncached calls through the provider's batch API (half price); "
            'exit 3 while batches are pending, rerun to collect (as run.mode = "batch").',
        ),
    ] = False,
    wait: Annotated[
        bool,
        typer.Option("--wait", help="With --batch: poll until every batch is collected."),
    ] = False,
    engine: Annotated[
        Literal["local", "ray"],
        typer.Option(
            help="local: this process; ray: a Ray cluster (pip install 'judgekit\\[ray]')."
        ),
    ] = "local",
    address: Annotated[
        str | None,
        typer.Option(
            metavar="ADDR", help="Ray cluster to join (--engine ray; default: start one)."
        ),
    ] = None,
) -> None:
    """Score every row of DATASET with every judge and write OUTPUT."""
    if engine == "local":
        keep_s3_unloaded()  # before pyarrow.parquet loads it
    from judgekit import pairwise_summary
    from judgekit.engine.estimate import estimate
    from judgekit.engine.plan import Overrides
    from judgekit.engine.run import RunHooks
    from judgekit.engine.score import ScoreJob, check_clean
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
            batch=batch or cfg.run.mode == "batch",
        )
        if dry_run:
            _print_estimate(estimate(job), batch=job.batch)
            return
        if engine == "ray":
            from judgekit.distributed import require_ray

            require_ray()
        with ProgressDisplay(stderr, quiet=quiet) as display:
            hooks = RunHooks(
                on_progress=display.update,
                on_notice=display.notice,
                progress_interval_s=display.interval_s,
                on_retry=display.notice if verbose else None,
            )
            if job.batch and engine == "ray":
                raise UsageError(
                    "--batch and --engine ray do not go together: a batch run makes no calls "
                    "to spread over a cluster (drop one of them)"
                )
            if job.batch:
                report = _score_batches(job, hooks, wait)
            else:
                report = _score(job, hooks, engine, address)
            display.finish(report.outcome.snapshot)
        snapshot = report.outcome.snapshot
        skipped = {s.name: s.reason for s in report.plan.skipped}
        if not quiet:
            pairs = pairwise_summary.summary_rows(report.pairwise)
            table = summary_table(snapshot, str(output), report.problem, skipped, pairs)
            stderr.print(terminal.fit(table, stderr))
        if summary_json is not None:
            figures = snapshot.as_dict() | {"output": str(output), "problem": report.problem}
            if skipped:
                figures["skipped"] = skipped
            if report.pairwise:
                figures["pairwise"] = {j: t.as_dict() for j, t in report.pairwise.items()}
            write_summary(summary_json, figures, output)
        check_clean(report)


def _score_batches(job: ScoreJob, hooks: RunHooks, wait: bool) -> ScoreReport:
    """``score --batch``: one pass, or (``--wait``) passes every ``run.batch_poll_s``
    until nothing is pending.  BatchesPending (exit 3) also writes ``--summary-json``."""
    import time

    from judgekit.engine.score import score_dataset
    from judgekit.errors import BatchesPending
    from judgekit.output_paths import write_summary

    while True:
        try:
            return score_dataset(job, hooks)
        except BatchesPending as pending:
            if not wait:
                if job.summary_path is not None:
                    figures = {"output": None, "problem": str(pending), **pending.figures}
                    write_summary(job.summary_path, figures, job.output)
                # Not an error: cron tells "pending" (3) from done (0) and failed (1, 2).
                stderr.print(f"pending: {pending}", markup=False, soft_wrap=True)
                raise typer.Exit(pending.exit_code) from None
            hooks.on_notice(f"{pending}; checking again in {job.config.run.batch_poll_s:g} s")
            time.sleep(job.config.run.batch_poll_s)


def _score(job: ScoreJob, hooks: RunHooks, engine: str, address: str | None) -> ScoreReport:
    """Run ``job`` on this machine or on a Ray cluster."""
    if engine == "ray":
        from judgekit.distributed.ray_engine import score_with_ray

        return score_with_ray(job, address, hooks)
    from judgekit.engine.score import score_dataset

    keep_pandas_unloaded()
    return score_dataset(job, hooks)


def _print_estimate(e: Estimate, *, batch: bool = False) -> None:
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
    if batch:
        table.add_row("worst-case cost (batch)", f"${e.batch_worst_case_usd:.4f}")
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


@app.command("try")
def try_(
    config: ConfigOption,
    judge: Annotated[str, typer.Option(help="The judge to try.")],
    output: Annotated[str | None, typer.Option(help="The output to judge.")] = None,
    input_: Annotated[str | None, typer.Option("--input", help="The request.")] = None,
    expected: Annotated[str | None, typer.Option(help="The reference answer.")] = None,
    context: Annotated[str | None, typer.Option(help="Source material.")] = None,
    history: Annotated[str | None, typer.Option(help="Earlier turns (JSON list).")] = None,
    tool_calls: Annotated[str | None, typer.Option(help="Tool calls (JSON).")] = None,
    expected_behavior: Annotated[str | None, typer.Option(help="What should happen.")] = None,
    constraints: Annotated[str | None, typer.Option(help="Rules to follow.")] = None,
    row: Annotated[
        tuple[str, str] | None,
        typer.Option(metavar="ID DATASET", help="Judge this row of a dataset instead."),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Neither read nor write the cache.")
    ] = False,
    cache: Annotated[
        Path | None, typer.Option(help="Cache file (default: ~/.cache/judgekit).")
    ] = None,
) -> None:
    """Score one sample with one judge and show the whole verdict (exit 0 pass, 1 fail)."""
    from judgekit.engine.trial import TrialJob, describe, try_judge

    given = {
        "input": input_,
        "output": output,
        "expected": expected,
        "context": context,
        "history": history,
        "tool_calls": tool_calls,
        "expected_behavior": expected_behavior,
        "constraints": constraints,
    }
    with _handled():
        job = TrialJob(
            config=load_config(config),
            config_path=str(config),
            judge=judge,
            fields={name: value for name, value in given.items() if value is not None},
            row=row,
            cache_path=cache,
            use_cache=not no_cache,
        )
        trial = try_judge(job, notice=lambda message: stderr.print(message, markup=False))
        for label, text in describe(trial):
            stdout.print(f"{label:<12}{text}", markup=False, soft_wrap=True)
    if not trial.passed:
        raise typer.Exit(1)


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
    from judgekit.trust.agreement_report import run_agreement

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


@app.command()
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
        typer.Option(
            min=0.0, metavar="USD", help="Hard cap on new spend (overrides run.budget_usd)."
        ),
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
    from judgekit.stopping import stop_signals_interrupt
    from judgekit.trust.align import AlignJob, align, estimate_align, write_aligned
    from judgekit.trust.align_report import compare, comparison_lines, estimate_lines

    def say(line: str) -> None:
        stdout.print(line, markup=False, soft_wrap=True, highlight=False)

    with _handled(), stop_signals_interrupt():
        cfg = load_config(config)
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
    hand_back_large_blocks()
    claim_process()
    app()
