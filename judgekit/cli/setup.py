"""The commands that set a run up: ``validate`` a config (and a dataset), list or show
``templates``, ``try`` one judge on one output, ``init`` a starter config from a dataset."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.table import Table

from judgekit import terminal
from judgekit.cli.app import ConfigOption, check_toml_name, handled, stderr, stdout
from judgekit.config import Config, load_config
from judgekit.errors import UsageError
from judgekit.output_paths import check_directory

if TYPE_CHECKING:  # the engine (aiohttp, pyarrow, polars) loads only when a command needs it
    from judgekit.datasets import DatasetInfo
    from judgekit.engine.plan import RunPlan


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
    local_only: Annotated[
        bool,
        typer.Option(
            "--local-only",
            help="Check as 'score --local-only' runs: only judges that cost nothing.",
        ),
    ] = False,
    judge: Annotated[
        list[str] | None,
        typer.Option(metavar="NAME", help="Check only this judge, as 'score --judge' runs it."),
    ] = None,
) -> None:
    """Check config, credentials, columns and prices; call no model."""
    from judgekit.datasets import inspect_dataset
    from judgekit.engine.plan import Overrides, make_plan
    from judgekit.given_paths import check_given_paths
    from judgekit.output import check_output_path
    from judgekit.preflight import run_warnings

    with handled():
        check_given_paths((dataset, None, False), (output, "-o", True))
        cfg = load_config(config)
        if output is not None:
            check_output_path(output)
        info = inspect_dataset(dataset, cfg.run.id_column) if dataset else None
        overrides = Overrides(judges=tuple(judge or ()), local_only=local_only or None)
        plan = make_plan(cfg, str(config), info, overrides)
        _print_plan(cfg, plan)
        for skipped in plan.skipped:
            stdout.print(f"skipped (local only): {skipped.name}: {skipped.reason}", markup=False)
        warnings = run_warnings(cfg, str(config), plan, info)
        if info is not None and dataset is not None:
            refused = _refused_warning(cfg, str(config), dataset, info, plan)
            warnings += [refused] if refused is not None else []
        for warning in warnings:
            stderr.print(f"warning: {warning}", markup=False, soft_wrap=True)
        checked = f"{config} and {dataset} ({info.rows} rows) are" if info else f"{config} is"
        noted = f" ({len(warnings)} warning{'s' if len(warnings) > 1 else ''} above)"
        stdout.print(
            f"ok: {checked} valid{noted if warnings else ''}; no model was called", markup=False
        )


def _refused_warning(
    cfg: Config, source: str, dataset: str, info: DatasetInfo, plan: RunPlan
) -> str | None:
    """``score --dry-run``'s warning when the calls its guards refuse alone would make the
    run exit 1, from the same count (``estimate_plan``, the cache left alone)."""
    from judgekit.cli.score import refused_warning
    from judgekit.engine.estimate import estimate_plan
    from judgekit.engine.score import ScoreJob

    if not any(judge.is_llm for judge in plan.judges):
        return None
    job = ScoreJob(dataset, cfg, source, Path("-"), use_cache=False)
    return refused_warning(estimate_plan(job, info, plan), plan.max_error_rate)


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


def templates(
    name: Annotated[
        str | None, typer.Argument(help="Print this template (fields, scale, prompt).")
    ] = None,
) -> None:
    """List the built-in judge templates, or print one."""
    from judgekit.config_errors import did_you_mean
    from judgekit.templates import TEMPLATES, describe

    with handled():
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
            guess = did_you_mean(name, TEMPLATES)
            raise UsageError(f"no template '{name}'{guess} (templates: {', '.join(TEMPLATES)})")
        stdout.print(describe(TEMPLATES[name]), markup=False)


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
    from judgekit.given_paths import check_given_paths

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
    with handled():
        check_given_paths((row[1] if row else None, "--row", False), (cache, "--cache", True))
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

    with handled():
        check_toml_name(output, "init")
        check_new(output)  # before the dataset is read
        check_directory(output)
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
