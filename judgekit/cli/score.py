"""``judgekit score``: flags to a ScoreJob, the dry run's estimate, the summary, batch mode's
exit 3, and the Ray engine when asked for."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.table import Table

from judgekit import terminal
from judgekit.cli.app import ConfigOption, handled, stderr
from judgekit.config import RunConfig, load_config
from judgekit.config_numbers import checked_flag
from judgekit.errors import UsageError
from judgekit.memory import keep_pandas_unloaded, keep_s3_unloaded

if TYPE_CHECKING:  # the engine (aiohttp, pyarrow, polars) loads only when a command needs it
    from judgekit.engine.estimate import Estimate
    from judgekit.engine.run import RunHooks
    from judgekit.engine.score import ScoreJob, ScoreReport


def score(
    dataset: Annotated[
        str,
        typer.Argument(
            help="JSONL (.jsonl, .ndjson, gzipped), CSV or Parquet file; a directory or glob "
            "of Parquet files."
        ),
    ],
    config: ConfigOption,
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            metavar="PATH",
            help="Output file: .parquet, .jsonl, .ndjson, .jsonl.gz or .csv; DIR/: Parquet "
            "parts (--engine ray).",
        ),
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
        typer.Option(metavar="USD", help="Hard cap on new spend (overrides run.budget_usd)."),
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
    from judgekit.engine.plan import Overrides
    from judgekit.engine.run import RunHooks
    from judgekit.engine.score import ScoreJob, check_clean
    from judgekit.given_paths import check_given_paths
    from judgekit.output_paths import write_summary
    from judgekit.progress import ProgressDisplay, summary_table
    from judgekit.stopping import stop_signals_interrupt

    with handled(), stop_signals_interrupt():
        from judgekit.distributed.storage import check_engine_paths

        checked_flag("--budget-usd", budget_usd, RunConfig, "budget_usd")
        checked_flag("--max-error-rate", max_error_rate, RunConfig, "max_error_rate")

        if dataset == "-":
            raise UsageError(
                "-: judgekit reads a dataset twice (to check it, then to score it), so not from "
                "standard input; save it to a file and give that"
            )
        if output == "-":
            raise UsageError(
                "-o -: judgekit writes a whole file at the end (Parquet, JSONL or CSV), not to "
                "standard output; give a file name, e.g. -o out.jsonl"
            )
        check_engine_paths(dataset, output, engine, dry_run=dry_run)
        check_given_paths(
            (dataset, None, False),
            (output, "-o", True),
            (cache, "--cache", True),
            (summary_json, "--summary-json", True),
        )
        if address is not None and engine != "ray":
            raise UsageError(
                f"--address {address}: a Ray cluster's address, for --engine ray; add "
                "--engine ray, or drop --address to score on this machine"
            )
        cfg = load_config(config)
        job = ScoreJob(
            dataset=dataset,
            config=cfg,
            config_path=str(config),
            output=Path(output),
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
            counted = _dry_run(job, engine, output)
            _print_estimate(counted, batch=job.batch)
            limit_rate = max_error_rate if max_error_rate is not None else cfg.run.max_error_rate
            warning = refused_warning(counted, limit_rate)
            if warning is not None:
                stderr.print(f"warning: {warning}", markup=False, soft_wrap=True)
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
                report = _score(job, hooks, engine, address, output)
            display.finish(report.outcome.snapshot)
        snapshot = report.outcome.snapshot
        skipped = {s.name: s.reason for s in report.plan.skipped}
        if not quiet:
            pairs = pairwise_summary.summary_rows(report.pairwise)
            table = summary_table(snapshot, _shown(output), report.problem, skipped, pairs)
            stderr.print(terminal.fit(table, stderr))
        if summary_json is not None:
            figures = snapshot.as_dict() | {"output": _shown(output), "problem": report.problem}
            if skipped:
                figures["skipped"] = skipped
            if report.pairwise:
                figures["pairwise"] = {j: t.as_dict() for j, t in report.pairwise.items()}
            write_summary(summary_json, figures, job.output)
        check_clean(report)


def _dry_run(job: ScoreJob, engine: str, output: str) -> Estimate:
    """``--dry-run``'s estimate, with OUT checked as the run would check it: under
    ``--engine ray`` a directory of parts, or a Parquet file (Ray is not started)."""
    from dataclasses import replace

    from judgekit.datasets.files import dataset_files, dataset_format
    from judgekit.distributed import check_ray_reads
    from judgekit.engine.estimate import estimate
    from judgekit.output_parts import check_parts_path, check_ray_output, part_name

    if engine == "ray":  # a local dataset: --dry-run refuses object storage earlier
        check_ray_reads(job.dataset, dataset_format(job.dataset))
    if engine == "ray" and check_ray_output(
        job.output, output, use_cache=job.use_cache, cache_path=job.cache_path
    ):
        check_parts_path(job.output, output, dataset_files(job.dataset))  # as the run does
        return estimate(replace(job, output=job.output / part_name(0)))
    return estimate(job)


def _score_batches(job: ScoreJob, hooks: RunHooks, wait: bool) -> ScoreReport:
    """``score --batch``: one pass, or (``--wait``) passes every ``run.batch_poll_s``
    until nothing is pending.  BatchesPending (exit 3) also writes ``--summary-json``."""
    import time

    from judgekit.engine.score import score_dataset
    from judgekit.errors import BatchesPending
    from judgekit.output_paths import write_summary

    started = time.monotonic()
    poll_s = job.config.run.batch_poll_s
    # A small batch is often done within seconds: look again soon, then every poll_s.
    delay_s = min(FIRST_BATCH_CHECK_S, poll_s)
    while True:
        try:
            report = score_dataset(job, hooks)
        except BatchesPending as pending:
            if not wait:
                if job.summary_path is not None:
                    figures = {"output": None, "problem": str(pending), **pending.figures}
                    write_summary(job.summary_path, figures, job.output)
                # Not an error: cron tells "pending" (3) from done (0) and failed (1, 2).
                stderr.print(f"pending: {pending}", markup=False, soft_wrap=True)
                raise typer.Exit(pending.exit_code) from None
            hooks.on_notice(f"{pending.waiting}; checking again in {delay_s:g} s")
            time.sleep(delay_s)
            delay_s = min(delay_s * 2, poll_s)
        else:
            # The summary's wall time is the whole wait, not the last pass.
            snapshot = replace(report.outcome.snapshot, elapsed_s=time.monotonic() - started)
            return replace(report, outcome=replace(report.outcome, snapshot=snapshot))


FIRST_BATCH_CHECK_S = 5.0
"""``--wait``: seconds before the first look at batches just submitted (then doubling, up to
``run.batch_poll_s``)."""


def _shown(output: str) -> str:
    """OUT as the summary names it: a path as pathlib spells it; a URI or a directory of
    parts (ending in /) as given."""
    return output if output.endswith("/") or "://" in output else str(Path(output))


def _score(
    job: ScoreJob, hooks: RunHooks, engine: str, address: str | None, output: str
) -> ScoreReport:
    """Run ``job`` on this machine or on a Ray cluster."""
    if engine == "ray":
        from judgekit.distributed.ray_engine import score_with_ray

        return score_with_ray(job, address, hooks, output=output)
    from judgekit.engine.score import score_dataset

    keep_pandas_unloaded()
    return score_dataset(job, hooks)


def refused_warning(e: Estimate, max_error_rate: float) -> str | None:
    """The dry run's warning when the calls its guards refuse (an empty required field, a
    prompt over max_input_tokens, a worst case over max_cost_usd_per_call) alone make the
    run's error rate exceed ``max_error_rate``: it would pay for the rest, then exit 1."""
    judgements = e.calls_needed + e.calls_cached + e.calls_refused
    if not judgements or e.calls_refused / judgements <= max_error_rate:
        return None
    return (
        f"{e.calls_refused} of {judgements} LLM judgements are refused before any call "
        f"({e.calls_refused / judgements:.0%}, above max_error_rate {max_error_rate:.0%}): the "
        "run would exit 1 (a required field empty on those rows, a prompt over "
        "max_input_tokens or a call over max_cost_usd_per_call); map other columns, or raise "
        "[run] max_error_rate"
    )


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
