"""``judgekit score --engine ray``, and ``score_ray_dataset`` for Ray pipelines.

Shape of a distributed run::

    driver: checks (as one machine) ─▶ Ray Data read ─▶ map_batches(score_batch) ─▶ OUT
                                                          │   ▲ (N worker processes)
                                           coordinator actor: budget, pacing, notices

The driver runs every check a one-machine run makes before any call (config, keys,
columns, ids, output path) on local datasets; ``s3://`` and ``gs://`` Parquet datasets
are read through pyarrow's filesystems (``storage``) and checked for bucket, files,
credentials and columns before Ray starts (no duplicate-id pass).  Batches come back in
input order (``preserve_order``) and the driver writes them to one Parquet file, or to a
directory of Parquet parts (OUT ending in ``/``, or an existing directory:
``output_parts``), atomically, as a one-machine run does; an OUT in object storage is
uploaded when it is finished (``storage.upload``).

Every worker opens the same SQLite cache file: on one machine that is the default path;
on a cluster it must be a path on a filesystem every node shares (``--cache``).
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from judgekit import __version__, errors
from judgekit.cache import AnswerCache, cache_location
from judgekit.config import Config, config_hash
from judgekit.datasets import DatasetInfo
from judgekit.distributed import check_ray_reads, start_local_cluster
from judgekit.distributed.address import check_reachable, join_cluster
from judgekit.distributed.coordinator import Coordinator, pacing_of
from judgekit.distributed.storage import (
    RemoteDataset,
    RemoteOutput,
    discard,
    remote_dataset,
    remote_output,
    upload,
    uri_scheme,
)
from judgekit.distributed.worker import WorkerSpec, score_batch
from judgekit.engine.plan import Overrides, RunPlan, make_plan
from judgekit.engine.run import RunHooks, RunOutcome
from judgekit.engine.score import ScoreJob, ScoreReport, _metadata, _problem, prepare
from judgekit.engine.stats import Counters, Snapshot
from judgekit.errors import Interrupted, JudgekitError
from judgekit.output import (
    OutputWriter,
    check_output_path,
    output_schema,
    thresholds_metadata,
)
from judgekit.output_parts import (
    PART_ROWS,
    PartsWriter,
    check_parts_path,
    check_ray_output,
    part_name,
)
from judgekit.output_paths import check_summary_path
from judgekit.stopping import claim_stop_signals, interrupting_signal, stop_signals_held

MAX_BATCH_ROWS = 1_000
"""Rows per Ray task at most: a retried task redoes (from the cache) at most this many."""
BATCHES_PER_WORKER = 4


def score_with_ray(
    job: ScoreJob,
    address: str | None,
    hooks: RunHooks | None = None,
    *,
    output: str | None = None,
    part_rows: int = PART_ROWS,
) -> ScoreReport:
    """Run ``job`` on a Ray cluster (``address``; None: a local one); raises what
    ``score_dataset`` raises, and UsageError for inputs Ray cannot take.

    ``output``: OUT as given (default ``job.output``); ending in ``/``, or an existing
    directory, it is a directory of parts of ``part_rows`` rows (``output_parts``); a
    ``s3://``/``gs://`` OUT is written on this machine, then uploaded (``storage``)."""
    import ray
    import ray.data  # configures Ray Data's logging now, before it is quietened

    if address is not None:
        # Before anything else, and also when this process already runs Ray (a library
        # caller, a test): the cluster asked for must be there.
        check_reachable(address)
    hooks = hooks or RunHooks()
    shown = str(job.output) if output is None else output
    remote_out: RemoteOutput | None = None
    if uri_scheme(shown) is not None:  # written here first, uploaded at the end
        remote_out = remote_output(shown)
        job = replace(job, output=remote_out.local)
    parts = check_ray_output(job.output, shown, use_cache=job.use_cache, cache_path=job.cache_path)
    remote = uri_scheme(job.dataset) is not None
    checked = replace(job, output=job.output / part_name(0)) if parts else job
    source: RemoteDataset | None = None
    if remote:
        source = remote_dataset(job.dataset)
        names = tuple(source.schema.names)
        id_column = job.config.run.id_column if job.config.run.id_column in names else None
        rows = source.rows if job.limit is None else min(source.rows, job.limit)
        dataset = DatasetInfo(job.dataset, (), "parquet", names, source.schema, rows, id_column)
        plan = make_plan(job.config, job.config_path, dataset, job.overrides)
        check_output_path(checked.output)
        if job.summary_path is not None:
            check_summary_path(job.summary_path, checked.output, (), Path(job.config_path))
    else:  # every local check before Ray starts
        dataset, plan = _checked(checked)
    if parts:
        check_parts_path(job.output, shown, dataset.files)
    started_ray = not ray.is_initialized()
    stack = contextlib.ExitStack()
    try:
        if started_ray:
            # A cluster started here lives on the loopback interface: its processes talk
            # only to this machine, never through a network address.
            options: dict[str, Any] = {
                "include_dashboard": False,
                "log_to_driver": False,
                "logging_level": logging.WARNING,
            }
            # A stop signal waits until Ray is up: one that lands inside ray.init can
            # crash its core (a segmentation fault) instead of stopping the run.
            with stop_signals_held():
                if address is None:  # a cluster of this machine's own: loopback only
                    start_local_cluster(**options)
                else:
                    join_cluster(address, **options)
        claim_stop_signals()  # ray.init's SIGTERM handler exits 15 without a word
        started_at, clock = datetime.now(UTC), time.monotonic()
        cache_path = _cache_path(job, plan)
        spec = WorkerSpec(
            job.config,
            job.config_path,
            job.overrides,
            dataset,
            jsonl_lines=dataset.format == "jsonl",
            cache_path=cache_path,
        )
        stack.enter_context(_ray_data_console_off())
        ds = _read(dataset, source)
        if job.limit is not None:
            ds = ds.limit(job.limit)
        scored, coordinator = _scored(ds, spec, plan, dataset.rows)
        judges = [(j.name, list(j.criteria)) for j in plan.judges]
        thresholds = thresholds_metadata({judge.name: judge.threshold for judge in plan.judges})
        writer: OutputWriter | PartsWriter
        if parts:
            schema = output_schema(dataset.schema, judges)
            known = _start_metadata(job, started_at) | thresholds
            writer = PartsWriter(job.output, schema, known, part_rows=part_rows)
        else:
            writer = OutputWriter(job.output, dataset.schema, judges)
        with writer:
            for table in _batches(scored, coordinator, hooks):
                writer.write_scored(table)
                elapsed_s = time.monotonic() - clock
                hooks.on_progress(_outcome(coordinator, dataset.rows, plan, elapsed_s).snapshot)
            outcome = _outcome(coordinator, dataset.rows, plan, time.monotonic() - clock)
            problem = _problem(outcome, plan, cached=job.use_cache)
            writer.commit(_metadata(job, outcome, started_at, problem) | thresholds)
        if remote_out is not None:
            upload(remote_out)
        for message in ray.get(coordinator.take_notices.remote()):
            hooks.on_notice(message)
    except KeyboardInterrupt:
        # As the local engine ends (engine.run): what was kept, and how to resume.  Workers
        # commit each answer to the shared cache as it arrives.
        raise Interrupted(
            f"interrupted by {interrupting_signal()}: answers received so far are kept in "
            "the cache; rerun the same command to resume"
        ) from None
    finally:
        stack.close()
        if remote_out is not None:
            discard(remote_out)
        if started_ray:
            ray.shutdown()
    return ScoreReport(outcome, plan, dataset, cache_path, problem)


def score_ray_dataset(
    ds: Any,
    config: Config,
    *,
    config_path: str = "config",
    overrides: Overrides | None = None,
    cache_path: Path | None = None,
    use_cache: bool = True,
) -> Any:
    """The scored ``ray.data.Dataset``: ``ds``'s columns, then every judge's (lazy, in
    order when the context preserves order).  ``cache_path`` must be reachable from every
    worker.  Raises ConfigError & co. (``make_plan``) before any call."""
    schema = ds.schema().base_schema
    id_column = config.run.id_column if config.run.id_column in schema.names else None
    info = DatasetInfo("ray dataset", (), "parquet", tuple(schema.names), schema, 0, id_column)
    overrides = overrides or Overrides()
    plan = make_plan(config, config_path, info, overrides)
    location = cache_location(cache_path).path if use_cache else None
    spec = WorkerSpec(config, config_path, overrides, info, False, location)
    scored, _coordinator = _scored(ds, spec, plan, None)
    return scored


@contextlib.contextmanager
def _ray_data_console_off() -> Iterator[None]:
    """Ray Data's own console lines (progress, a failed task's stack) stay in its log
    file for the length of a run: the CLI prints judgekit's summary and one-line errors."""
    logger = logging.getLogger("ray.data")
    console = [h for h in logger.handlers if type(h).__name__ != "SessionFileHandler"]
    for handler in console:
        logger.removeHandler(handler)
    try:
        yield
    finally:
        for handler in console:
            logger.addHandler(handler)


def _checked(job: ScoreJob) -> tuple[DatasetInfo, RunPlan]:
    """Every check a one-machine run makes on a local dataset; CSV refused."""
    dataset, plan = prepare(job)
    check_ray_reads(job.dataset, dataset.format)
    return dataset, plan


def _start_metadata(job: ScoreJob, started_at: datetime) -> dict[str, str]:
    """The run's metadata known before the first row (``engine.score._metadata``'s keys
    less the totals and the finish time): every part's footer carries it."""
    return {
        "judgekit.version": __version__,
        "judgekit.config_hash": config_hash(job.config),
        "judgekit.started_at": started_at.isoformat(timespec="seconds"),
    }


def _cache_path(job: ScoreJob, plan: RunPlan) -> Path | None:
    """The shared cache file, created (or refused: CacheError) before any call."""
    if not job.use_cache or not any(judge.is_llm for judge in plan.judges):
        return None
    cache = AnswerCache(cache_location(job.cache_path))
    cache.close()
    return cache.path


def _read(info: DatasetInfo, source: RemoteDataset | None) -> Any:
    """The dataset as a Ray Dataset: JSONL as raw lines (workers parse them as judgekit
    does), Parquet through Ray Data's reader (object storage through ``source``'s pyarrow
    filesystem, which the workers unpickle)."""
    import ray

    if source is not None:
        return ray.data.read_parquet(list(source.files), filesystem=source.filesystem)
    if info.format == "jsonl":
        return ray.data.read_text([str(f) for f in info.files], drop_empty_lines=True)
    return ray.data.read_parquet([str(f) for f in info.files])


def _scored(ds: Any, spec: WorkerSpec, plan: RunPlan, rows: int | None) -> tuple[Any, Any]:
    """``ds`` mapped by ``score_batch`` on the workers, and the run's coordinator."""
    import ray

    # A Dataset keeps the context it was made with: order is set on the input's own.
    ds.context.execution_options.preserve_order = True
    ds.context.enable_progress_bars = False
    workers = max(1, int(ray.cluster_resources().get("CPU", 1)))  # type: ignore[no-untyped-call]
    coordinator = (
        ray.remote(Coordinator)
        .options(name=f"judgekit-coordinator-{uuid.uuid4().hex[:8]}", num_cpus=0)
        .remote(plan.budget_usd, pacing_of(dict(plan.connections), plan.concurrency * workers))
    )
    batch_rows = MAX_BATCH_ROWS
    if rows is not None:
        batch_rows = max(1, min(MAX_BATCH_ROWS, -(-rows // (workers * BATCHES_PER_WORKER))))
    scored = ds.map_batches(
        score_batch,
        batch_format="pyarrow",
        batch_size=batch_rows,
        fn_kwargs={"spec": spec, "coordinator": coordinator},
        num_cpus=1,
    )  # a task whose worker dies is retried (Ray's default: 3 times) and reads the cache
    return scored, coordinator


def _batches(scored: Any, coordinator: Any, hooks: RunHooks) -> Iterator[Any]:
    """The scored batches in input order; notices passed on as they come; a fatal error
    of a worker (credentials refused, ...) raised as itself."""
    import ray

    try:
        for table in scored.iter_batches(batch_format="pyarrow", batch_size=None):
            for message in ray.get(coordinator.take_notices.remote()):
                hooks.on_notice(message)
            yield table
    except Exception:
        failure: tuple[str, str] | None = ray.get(coordinator.failure.remote())
        if failure is None:
            raise
        raise _rebuilt(*failure) from None


def _rebuilt(kind: str, message: str) -> JudgekitError:
    """A worker's fatal error as the driver raises it (same class, same message)."""
    cls = getattr(errors, kind, JudgekitError)
    if not (isinstance(cls, type) and issubclass(cls, JudgekitError)):
        cls = JudgekitError
    return cls(message)


def _outcome(coordinator: Any, rows: int, plan: RunPlan, elapsed_s: float) -> RunOutcome:
    """The run's figures: the sum of every batch's, the budget as the coordinator kept it."""
    import ray

    reports: list[dict[str, Any]] = ray.get(coordinator.reports.remote())
    ledger: dict[str, Any] = ray.get(coordinator.budget.remote())
    counters = Counters(rows_total=rows, judgements_total=rows * len(plan.judges))
    summed = [
        "rows_done",
        "judgements_done",
        "requests",
        "cache_hits",
        "retries",
        "rate_limited",
        "input_tokens",
        "output_tokens",
        "calls_without_usage",
        "calls_without_price",
        "rule_judgements_done",
        "rule_errors",
    ]
    errors: Counter[str] = Counter()
    for report in reports:
        for name in summed:
            setattr(counters, name, getattr(counters, name) + int(report.get(name) or 0))
        counters.spent_usd += float(report.get("spent_usd") or 0.0)
        counters.saved_usd += float(report.get("saved_usd") or 0.0)
        counters.charged_without_usage_usd += float(report.get("charged_without_usage_usd") or 0)
        errors.update(report.get("errors") or {})
    counters.errors = errors
    snapshot: Snapshot = counters.snapshot(elapsed_s, plan.budget_usd)
    return RunOutcome(snapshot=snapshot, budget_exhausted=bool(ledger["exhausted"]))
