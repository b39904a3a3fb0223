"""``judgekit score --engine ray`` on a local Ray cluster (2 CPUs, worker processes).

The cluster is started once per test process (Ray takes seconds to start), so these tests
are few and share it; they skip with the reason when Ray is not installed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import Workspace
from pyarrow import fs
from typer.testing import CliRunner

from judgekit.cli import app
from judgekit.config import load_config
from judgekit.engine.plan import Overrides
from judgekit.engine.score import ScoreJob, ScoreReport
from judgekit.testing.fake_provider import FakeProvider

ROOT = Path(__file__).resolve().parent.parent
RAY_MISSING = "ray is not installed (pip install 'judgekit[ray]')"
PRICE_IN_USD_PER_MTOK, PRICE_OUT_USD_PER_MTOK = 0.15, 0.60
VARYING = ("_latency_ms", "_response_id")
"""Columns that differ between any two runs (the fake's timing and reply ids)."""

ray_test = pytest.mark.ray
one_cluster = pytest.mark.xdist_group("ray")
"""All Ray tests in one test process: two local clusters would share 2 cores."""


@dataclass(frozen=True)
class S3Server:
    """moto's S3-compatible server on 127.0.0.1, and a client of it that may make buckets."""

    url: str
    admin: Any
    """A ``pyarrow.fs.S3FileSystem`` aimed at the server (explicit endpoint and keys)."""

    def put(self, key: str, table: pa.Table) -> None:
        """Write ``table`` as Parquet at ``bucket/key`` (the bucket made if need be)."""
        bucket = key.split("/", 1)[0]
        if self.admin.get_file_info(bucket).type.name == "NotFound":
            self.admin.create_dir(bucket)
        pq.write_table(table, key, filesystem=self.admin)

    def enforce_auth(self, enforced: bool) -> None:
        """moto's own switch (``/moto-api/reset-auth``): check every request's credentials
        against its (empty) IAM, so that any key is refused; or accept any again."""
        import urllib.request

        count = b"0" if enforced else b"inf"
        request = urllib.request.Request(
            f"{self.url}/moto-api/reset-auth",
            data=count,
            method="POST",
            headers={"Content-Type": "text/plain"},
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=10) as reply:
            assert reply.status == 200


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A local S3 server for the session, and the environment a storage client reads aimed
    at it: fake keys, no instance metadata lookup, no profile file.  Set before the Ray
    cluster starts, so that its workers (which read credentials from their own environment)
    find the same; nothing can reach a real storage service."""
    from moto.server import ThreadedMotoServer
    from pyarrow import fs

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    patch = pytest.MonkeyPatch()
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        patch.delenv(name, raising=False)
    patch.setenv("AWS_ENDPOINT_URL", url)
    patch.setenv("AWS_ACCESS_KEY_ID", "testing")
    patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    patch.setenv("AWS_CONFIG_FILE", os.devnull)
    patch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    admin = fs.S3FileSystem(
        endpoint_override=url,
        access_key="testing",
        secret_key="testing",
        region="us-east-1",
        allow_bucket_creation=True,
    )
    try:
        yield S3Server(url, admin)
    finally:
        server.stop()
        patch.undo()


@pytest.fixture(scope="session")
def ray_cluster(s3_server: S3Server) -> Iterator[None]:
    """A local Ray cluster of 2 CPUs for the whole session; skip when Ray is missing.
    Started after ``s3_server``: its workers inherit the storage environment."""
    try:
        import ray
    except ImportError:
        pytest.skip(RAY_MISSING)
    from judgekit.distributed import start_local_cluster

    start_local_cluster(  # loopback only: no traffic on a network interface
        num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING"
    )
    yield
    ray.shutdown()


def _config(ws: Workspace, *, run: str = "", connection: str = "") -> Path:
    """One priced LLM judge on the fake, no key (Ray workers read keys from their own
    environment, which the tests' per-test variables do not reach)."""
    path = ws.root / "ray.toml"
    path.write_text(
        f"[run]\n{run}\n"
        "[connections.fake]\n"
        'protocol = "chat_completions"\n'
        f'base_url = "{ws.fake.openai_base_url}"\n'
        'model = "fake-judge"\n'
        "api_key_required = false\n"
        f"input_usd_per_mtok = {PRICE_IN_USD_PER_MTOK}\n"
        f"output_usd_per_mtok = {PRICE_OUT_USD_PER_MTOK}\n"
        f"{connection}\n"
        '[[judges]]\nname = "correctness"\nconnection = "fake"\ntemplate = "correctness"\n'
        '[judges.columns]\ninput = "question"\noutput = "answer"\nexpected = "reference"\n',
        encoding="utf-8",
    )
    return path


def _job(ws: Workspace, dataset: Path, config: Path, output: Path, **extra: Any) -> ScoreJob:
    return ScoreJob(
        dataset=str(dataset),
        config=load_config(config),
        config_path=str(config),
        output=output,
        cache_path=ws.cache,
        overrides=Overrides(**extra),
    )


def _steady(table: pa.Table) -> pa.Table:
    return table.drop([c for c in table.column_names if c.endswith(VARYING)])


def test_engine_ray_without_ray_says_what_to_install(tmp_path: Path) -> None:
    """Without Ray, one line saying what to install, exit 2, nothing written."""
    program = "import sys; sys.modules['ray'] = None; from judgekit.cli import main; main()"
    output = tmp_path / "out.parquet"
    args = ["score", "datasets/demo.jsonl", "-c", "configs/demo.toml", "-o", str(output)]
    env = dict(os.environ, JUDGEKIT_FAKE_URL="http://127.0.0.1:9")
    done = subprocess.run(
        [sys.executable, "-c", program, *args, "--engine", "ray"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=False,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "error: --engine ray needs Ray, which is not installed: pip install 'judgekit[ray]'\n"
    )
    assert not output.exists()


@ray_test
@one_cluster
def test_demo_on_ray_matches_one_machine(
    ray_cluster: None, workspace: Workspace, fake: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo scored on 2 Ray workers: the same file as on one machine, the same calls."""
    monkeypatch.setenv("JUDGEKIT_FAKE_URL", fake.url)
    dataset, config = ROOT / "datasets/demo.jsonl", ROOT / "configs/demo.toml"
    local, distributed = workspace.root / "local.parquet", workspace.root / "ray.parquet"
    common = [str(dataset), "-c", str(config), "--no-cache"]
    assert workspace.invoke("score", *common, "-o", str(local), "-q").exit_code == 0
    one_machine = fake.stats().requests
    fake.reset()
    result = workspace.invoke("score", *common, "-o", str(distributed), "-q", "--engine", "ray")
    assert result.exit_code == 0, result.output
    assert fake.stats().requests == one_machine == 154
    expected, got = pq.read_table(local), pq.read_table(distributed)
    assert got.schema.equals(expected.schema)
    assert _steady(got).to_pylist() == _steady(expected).to_pylist()
    totals = json.loads(pq.read_metadata(distributed).metadata[b"judgekit.totals"])
    assert (totals["rows_done"], totals["requests"], totals["problem"]) == (77, 154, None)


@ray_test
@one_cluster
def test_budget_holds_across_workers(
    ray_cluster: None, workspace: Workspace, fake: FakeProvider
) -> None:
    """Two workers share one ledger: new spend never passes the budget, the run exits 1
    naming it, and every row is written (scored, or budget_exhausted)."""
    from judgekit.distributed.ray_engine import score_with_ray

    budget_usd = 0.002
    fake.settings.latency_ms = 20
    dataset = workspace.write_rows(workspace.qa_rows(60))
    config = _config(workspace, run="concurrency = 8")
    output = workspace.root / "out.parquet"
    report = score_with_ray(_job(workspace, dataset, config, output, budget_usd=budget_usd), None)
    stats = fake.stats()
    billed_usd = (
        stats.input_tokens * PRICE_IN_USD_PER_MTOK + stats.output_tokens * PRICE_OUT_USD_PER_MTOK
    ) / 1e6
    rows = pq.read_table(output).to_pylist()
    spent_usd = sum(r["correctness_cost_usd"] or 0.0 for r in rows)
    errors = Counter(r["correctness_error"] for r in rows)
    assert 0 < billed_usd <= budget_usd
    assert spent_usd == pytest.approx(billed_usd)
    assert len(rows) == 60 and errors[None] + errors["budget_exhausted"] == 60
    assert errors["budget_exhausted"] > 0
    assert report.problem is not None and report.problem.startswith("budget of $0.002 exhausted")


def _run_in_thread(job: ScoreJob) -> tuple[threading.Thread, list[ScoreReport]]:
    from judgekit.distributed.ray_engine import score_with_ray

    reports: list[ScoreReport] = []
    thread = threading.Thread(target=lambda: reports.append(score_with_ray(job, None)))
    thread.start()
    return thread, reports


def _coordinators() -> set[str]:
    import ray

    names = {a["name"] for a in ray.util.list_named_actors(all_namespaces=True)}
    return {name for name in names if name.startswith("judgekit-coordinator-")}


def _scoring_pids(coordinator: str) -> list[int]:
    """Processes of this run's coordinator that are scoring a batch right now (by their
    Ray process title, so that nothing else is ever killed)."""
    import psutil
    import ray

    pids: list[int] = ray.get(ray.get_actor(coordinator).busy_pids.remote())
    found = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            if "score_batch" in " ".join(psutil.Process(pid).cmdline()):
                found.append(pid)
    return found


@ray_test
@one_cluster
def test_rpm_held_and_a_killed_worker_pays_nothing_twice(
    ray_cluster: None, workspace: Workspace, fake: FakeProvider
) -> None:
    """RPM 600 declared: across both workers the fake sees at most 10 requests a second
    (the mean over the run; any one second, one more for network jitter).  A worker
    killed (SIGKILL) between two calls: its batch is retried,
    the run completes, and no request is answered twice (answers came from the cache)."""
    rows = 40
    dataset = workspace.write_rows(workspace.qa_rows(rows))
    config = _config(workspace, run="concurrency = 4", connection="requests_per_minute = 600")
    output = workspace.root / "out.parquet"
    earlier = _coordinators()
    thread, reports = _run_in_thread(_job(workspace, dataset, config, output))
    # Kill at a quiet moment: every request sent so far answered *and stored* (an answer
    # received but not yet stored dies with its worker and is paid again, as documented).
    quiet_at: dict[str, int] = {}

    def quiet() -> bool:
        stats = fake.stats()
        done = stats.by_status.get(200, 0) >= 10 and _stored(workspace.cache) == stats.requests
        if done:
            quiet_at["requests"] = stats.requests
        return done

    pids: list[int] = []

    def quiet_and_busy() -> bool:
        # A quiet moment can fall between two batches, with no worker scoring: wait for
        # one with a batch in progress.
        if not quiet():
            return False
        started = _coordinators() - earlier
        if not started:
            return False
        pids[:] = _scoring_pids(next(iter(started)))
        return bool(pids)

    try:
        workspace.wait_for(quiet_and_busy, "ten answers, all stored, a batch in progress")
        os.kill(pids[0], signal.SIGKILL)
        # On a loaded machine a request can slip out between that moment and the kill: only
        # such a call, on the wire when its worker died, may be sent again (documented).
        on_the_wire = fake.stats().requests - quiet_at["requests"]
    finally:
        # Never leave the run going into the next test: it would send to the shared fake.
        thread.join(timeout=120)
    assert not thread.is_alive() and reports
    assert reports[0].problem is None
    table = pq.read_table(output).to_pylist()
    assert [r["id"] for r in table] == [f"row-{i:03d}" for i in range(rows)]
    assert all(r["correctness_error"] is None for r in table)
    bodies = workspace.sent_bodies()
    assert len(set(bodies)) == rows
    assert len(bodies) <= rows + on_the_wire  # no answered call sent twice
    times = sorted(r.time_s for r in fake.requests)
    assert (len(times) - 1) / (times[-1] - times[0]) <= 10.0  # the run's mean pace
    per_second = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    # Any one second: 10, give or take arrival jitter. The fake times each request as it
    # arrives, after a worker process (one of them just killed and replaced) was scheduled
    # on 2 loaded cores: two late arrivals can fall in the next second (12 seen once in a
    # clean-clone run); a pacing fault would show in the mean above and beyond this bound.
    assert per_second <= 12


def _needs_ray() -> None:
    try:
        import ray  # noqa: F401
    except ImportError:
        pytest.skip(RAY_MISSING)


@ray_test
@pytest.mark.parametrize(
    ("dataset", "output", "message"),
    [
        (
            "data.jsonl",
            "out.jsonl",
            "error: {root}/out.jsonl: --engine ray writes Parquet; use an output path ending "
            "in .parquet (or in / for a directory of Parquet parts)\n",
        ),
        (
            "data.csv",
            "out.parquet",
            "error: {root}/data.csv: --engine ray reads JSONL and Parquet, not CSV; convert "
            "it (or score it without --engine ray)\n",
        ),
        (
            "s3://bucket/data.jsonl",
            "out.parquet",
            "error: s3://bucket/data.jsonl: --engine ray reads s3:// and gs:// datasets in "
            "Parquet (a .parquet file or a directory ending in /)\n",
        ),
    ],
    ids=["jsonl-output", "csv-input", "remote-jsonl"],
)
def test_engine_ray_refuses_what_it_cannot_do(
    workspace: Workspace, dataset: str, output: str, message: str
) -> None:
    """Inputs and outputs the Ray path does not take: one line, exit 2, before Ray starts."""
    _needs_ray()
    workspace.write_rows(workspace.qa_rows(3))
    (workspace.root / "data.csv").write_text("id,question,answer,reference\n1,q,a,r\n")
    path = dataset if "://" in dataset else str(workspace.root / dataset)
    config = _config(workspace)
    result = workspace.invoke(
        "score", path, "-c", str(config), "-o", str(workspace.root / output), "--engine", "ray"
    )
    assert (result.exit_code, result.output) == (2, message.format(root=workspace.root))
    assert workspace.fake.stats().requests == 0


def test_a_ray_dry_run_refuses_a_csv_dataset_as_the_run_does(workspace: Workspace) -> None:
    """The dry run reads the dataset on this machine (CSV included) but must say what the
    Ray run would say; it starts no Ray."""
    data = workspace.root / "data.csv"
    data.write_text("id,question,answer,reference\n1,q,a,r\n")
    args = ["-c", str(_config(workspace)), "-o", str(workspace.root / "o.parquet")]
    result = workspace.invoke("score", str(data), *args, "--engine", "ray", "--dry-run")
    assert (result.exit_code, result.output) == (
        2,
        f"error: {data}: --engine ray reads JSONL and Parquet, not CSV; convert it (or score "
        "it without --engine ray)\n",
    )


@ray_test
@one_cluster
def test_refused_credentials_on_a_worker_stop_the_run(
    ray_cluster: None, workspace: Workspace, fake: FakeProvider
) -> None:
    """A 401 on a worker is the same one line as on one machine, exit 2, no output file."""
    fake.settings.status_401 = True
    dataset = workspace.write_rows(workspace.qa_rows(4))
    output = workspace.root / "out.parquet"
    result = workspace.score(dataset, _config(workspace), output, "--engine", "ray", "-q")
    assert result.exit_code == 2
    assert result.output.startswith(
        "error: connection 'fake': the provider refused the credentials ("
    )
    assert result.output.endswith("; this connection sends no key: set api_key_env\n")
    assert not output.exists()


@ray_test
@one_cluster
def test_score_ray_dataset_scores_a_ray_pipeline(
    ray_cluster: None, workspace: Workspace, fake: FakeProvider
) -> None:
    """The library call: a Ray Dataset in, the same rows with the judge's columns out."""
    import ray

    from judgekit.distributed import score_ray_dataset

    rows = workspace.qa_rows(6)
    config = load_config(_config(workspace))
    scored = score_ray_dataset(ray.data.from_items(rows), config, cache_path=workspace.cache)
    got = scored.to_arrow_refs()
    table = pa.concat_tables(ray.get(got))
    assert table.column("id").to_pylist() == [r["id"] for r in rows]
    assert table.column("correctness_error").to_pylist() == [None] * 6
    assert [round(s) for s in table.column("correctness_score").to_pylist()] == [1, 0] * 3
    assert fake.stats().requests == 6


def _readme_ray_block() -> list[str]:
    """The console blocks of the README's "Scaling out with Ray" section, one after another."""
    from test_readme import code_blocks

    section = README.split("## Scaling out with Ray")[1].split("\n## ")[0]
    return [
        line for language, lines in code_blocks(section) if language == "console" for line in lines
    ]


README = (ROOT / "README.md").read_text(encoding="utf-8")


@ray_test
@one_cluster
def test_readme_ray_run_is_real(
    ray_cluster: None,
    s3_server: S3Server,
    workspace: Workspace,
    fake: FakeProvider,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The README's Ray runs print what it shows: the first pays, the rerun into a directory
    of parts reads the cache, agreement reads the parts; the demo as Parquet in the local S3
    server's `s3://my-bucket/logs/` scores from the cache and uploads its parts."""
    from pyarrow import json as pa_json
    from test_readme import matches, normalise

    monkeypatch.chdir(workspace.root)
    for name in ("datasets", "configs"):
        (workspace.root / name).symlink_to(ROOT / name)
    s3_server.put("my-bucket/logs/demo.parquet", pa_json.read_json(ROOT / "datasets/demo.jsonl"))
    env = {"JUDGEKIT_FAKE_URL": fake.url, "JUDGEKIT_CACHE": str(workspace.cache)}
    runs: list[tuple[str, list[str]]] = []
    for line in _readme_ray_block():
        if line.startswith("$ "):
            runs.append((line[2:], []))
        else:
            runs[-1][1].append(line)
    assert len(runs) == 4
    for command, shown in runs:
        result = CliRunner().invoke(app, command.split()[1:], env=env)
        assert result.exit_code == 0, result.output
        actual = normalise(result.output)
        assert matches(shown, actual), "\n".join(actual)
    parts = s3_server.admin.get_file_info(fs.FileSelector("my-bucket/scored"))
    assert [info.base_name for info in parts] == ["part-00000.parquet"]


def _stored(cache: Path) -> int:
    """Answers in the SQLite cache so far (0 before it exists); read-only, never blocks."""
    if not cache.exists():
        return 0
    with contextlib.closing(sqlite3.connect(f"file:{cache}?mode=ro", uri=True, timeout=0.1)) as db:
        try:
            return int(db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])
        except sqlite3.Error:
            return 0


# -- a directory of Parquet parts; datasets in object storage ---------------------------------


def _one_machine(ws: Workspace, dataset: Path | str, config: Path, name: str) -> pa.Table:
    """``dataset`` scored on one machine (no cache): the reference a Ray run must match."""
    output = ws.root / name
    result = ws.invoke("score", str(dataset), "-c", str(config), "-o", str(output), "--no-cache")
    assert result.exit_code == 0, result.output
    return pq.read_table(output)


def _judgekit_metadata(path: Path) -> dict[bytes, bytes]:
    raw = pq.read_metadata(path).metadata or {}
    return {k: v for k, v in raw.items() if k.startswith(b"judgekit.")}


@ray_test
@one_cluster
def test_demo_as_parts_matches_one_machine(
    ray_cluster: None, workspace: Workspace, fake: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo on Ray into a directory of 20-row parts: part-00000 .. part-00003, which,
    concatenated in name order, are the one-machine file (same schema); the last part's
    footer holds the run's metadata (the one file's keys), every part the thresholds.  A
    rerun into the existing directory (no slash) replaces its parts whole."""
    from judgekit.distributed.ray_engine import score_with_ray
    from judgekit.output_parts import part_files, read_parts

    monkeypatch.setenv("JUDGEKIT_FAKE_URL", fake.url)
    dataset, config = ROOT / "datasets/demo.jsonl", ROOT / "configs/demo.toml"
    expected = _one_machine(workspace, dataset, config, "local.parquet")
    fake.reset()
    out = workspace.root / "parts"
    job = ScoreJob(str(dataset), load_config(config), str(config), out, cache_path=workspace.cache)
    report = score_with_ray(job, None, output=f"{out}/", part_rows=20)
    assert report.problem is None and fake.stats().requests == 154
    assert sorted(p.name for p in out.iterdir()) == [f"part-0000{i}.parquet" for i in range(4)]
    assert [pq.read_metadata(p).num_rows for p in part_files(out)] == [20, 20, 20, 17]
    got = read_parts(out)
    assert got.schema.remove_metadata().equals(expected.schema.remove_metadata())
    assert _steady(got).to_pylist() == _steady(expected).to_pylist()
    last = _judgekit_metadata(out / "part-00003.parquet")
    assert last.keys() == _judgekit_metadata(workspace.root / "local.parquet").keys()
    assert json.loads(last[b"judgekit.totals"])["rows_done"] == 77
    thresholds = {_judgekit_metadata(p)[b"judgekit.thresholds"] for p in part_files(out)}
    assert thresholds == {last[b"judgekit.thresholds"]}
    assert sorted(p.name for p in workspace.root.iterdir() if p.name.startswith(".")) == []
    # A rerun naming the directory without the slash (it exists): its parts replaced whole.
    score_with_ray(job, None, output=str(out), part_rows=40)
    assert fake.stats().requests == 154  # every answer from the cache
    assert sorted(p.name for p in out.iterdir()) == ["part-00000.parquet", "part-00001.parquet"]
    assert read_parts(out).column("id").to_pylist() == expected.column("id").to_pylist()


@ray_test
@one_cluster
def test_s3_dataset_on_ray_matches_one_machine(
    ray_cluster: None,
    s3_server: S3Server,
    workspace: Workspace,
    fake: FakeProvider,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`score s3://bucket/logs/ --engine ray -o s3://bucket/scored/`: the Parquet files under
    the prefix (name order; `_`-prefixed objects left out), read by Ray Data through
    pyarrow's S3 filesystem from the local S3 server, scored as the same rows on one
    machine are, and uploaded as parts (an earlier run's extra part deleted).  A rerun into
    one object `s3://bucket/scored.parquet` takes every answer from the cache."""
    staging = workspace.root / "tmp"  # the driver's temp directory, this test's own
    staging.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(staging))
    rows = workspace.qa_rows(6)
    local = workspace.root / "data.parquet"
    pq.write_table(pa.Table.from_pylist(rows), local)
    s3_server.put("judged/logs/a.parquet", pa.Table.from_pylist(rows[:4]))
    s3_server.put("judged/logs/b.parquet", pa.Table.from_pylist(rows[4:]))
    s3_server.put("judged/logs/_common_metadata.parquet", pa.Table.from_pylist(rows[:1]))
    s3_server.put("judged/scored/part-00001.parquet", pa.Table.from_pylist(rows[:1]))
    config = _config(workspace)
    expected = _steady(_one_machine(workspace, local, config, "local.parquet")).to_pylist()
    fake.reset()
    common = ["score", "s3://judged/logs/", "-c", str(config), "--engine", "ray", "-q"]
    cache = ["--cache", str(workspace.cache)]
    result = workspace.invoke(*common, *cache, "-o", "s3://judged/scored/")
    assert result.exit_code == 0, result.output
    assert fake.stats().requests == 6
    admin = s3_server.admin
    listed = admin.get_file_info(fs.FileSelector("judged/scored"))
    assert sorted(info.base_name for info in listed) == ["part-00000.parquet"]
    assert _steady(pq.read_table("judged/scored/", filesystem=admin)).to_pylist() == expected
    result = workspace.invoke(*common, *cache, "-o", "s3://judged/scored.parquet")
    assert result.exit_code == 0, result.output
    assert fake.stats().requests == 6  # none more: the cache answered
    again = pq.read_table("judged/scored.parquet", filesystem=admin)
    assert again.column("correctness_score").to_pylist() == [
        r["correctness_score"] for r in expected
    ]
    assert list(staging.iterdir()) == []  # the local copies went once uploaded


_CREDENTIALS = (
    "check the credentials (s3://: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE;"
    " gs://: GOOGLE_APPLICATION_CREDENTIALS) and that they may read it"
)


@ray_test
@one_cluster
@pytest.mark.parametrize(
    ("dataset", "output", "message"),
    [
        (
            "s3://no-such-bucket/data.parquet",
            "out.parquet",
            "s3://no-such-bucket/data.parquet: no such bucket 'no-such-bucket' (check the name,"
            " and the endpoint and region the storage client uses)",
        ),
        (
            "s3://judged/missing.parquet",
            "out.parquet",
            "s3://judged/missing.parquet: no such file or directory in bucket 'judged'",
        ),
        ("s3://judged/notes/", "out.parquet", "s3://judged/notes/: no .parquet files under it"),
        (
            "s3://judged/logs/",
            "out.parquet",
            f"s3://judged/logs/: access denied by the storage service; {_CREDENTIALS}",
        ),
        (
            "s3://judged/logs/",
            "s3://no-such-bucket/scored/",
            "s3://no-such-bucket/scored/: no such bucket 'no-such-bucket' (create it, or check "
            "the name)",
        ),
        (
            "s3://judged/logs/",
            "s3://judged/notes/",
            "s3://judged/notes/: the directory holds files that are not judgekit parts "
            "(readme.txt); give an empty directory or a new path",
        ),
        (
            "s3://judged/logs/",
            "s3://judged/logs",
            "s3://judged/logs: --engine ray writes Parquet; use an output path ending in "
            ".parquet (or in / for a directory of Parquet parts)",
        ),
        (
            "s3://judged/logs/",
            "gcs://judged/out.parquet",
            "gcs://judged/out.parquet: judgekit writes local paths, s3:// and gs:// (not "
            "gcs://); give one of those",
        ),
    ],
    ids=[
        "no-bucket",
        "no-object",
        "no-parquet",
        "refused-credentials",
        "output-no-bucket",
        "output-other-files",
        "output-not-parquet",
        "output-scheme",
    ],
)
def test_s3_paths_refused_before_any_call(
    s3_server: S3Server, workspace: Workspace, dataset: str, output: str, message: str
) -> None:
    """What the driver finds wrong with a s3:// dataset: one line, exit 2, before Ray starts
    or any call is made; nothing written.  Credentials refused: the local server told to
    check every request's keys (it knows none)."""
    _needs_ray()
    s3_server.put("judged/logs/a.parquet", pa.Table.from_pylist(workspace.qa_rows(2)))
    with s3_server.admin.open_output_stream("judged/notes/readme.txt") as stream:
        stream.write(b"not a dataset")
    out = output if "://" in output else str(workspace.root / output)
    args = ["score", dataset, "-c", str(_config(workspace)), "-o", out, "--engine", "ray"]
    refused = "access denied" in message
    s3_server.enforce_auth(refused)
    try:
        result = workspace.invoke(*args)
    finally:
        s3_server.enforce_auth(False)
    assert (result.exit_code, result.output) == (2, f"error: {message}\n")
    assert workspace.fake.stats().requests == 0
    assert not (workspace.root / "out.parquet").exists()
    notes = s3_server.admin.get_file_info(fs.FileSelector("judged/notes"))
    assert [info.base_name for info in notes] == ["readme.txt"]


@ray_test
@one_cluster
def test_a_failed_upload_keeps_the_local_output(s3_server: S3Server, tmp_path: Path) -> None:
    """The storage service refuses the upload at the end of a run: OutputError (exit 2)
    naming the local copy, which is kept whole; nothing appears in the bucket."""
    from judgekit.distributed.storage import RemoteOutput, upload
    from judgekit.errors import OutputError

    s3_server.put("judged/logs/a.parquet", pa.Table.from_pylist([{"id": "a"}]))
    local = tmp_path / "stage" / "late.parquet"
    local.parent.mkdir()
    pq.write_table(pa.table({"id": ["a", "b"]}), local)
    output = RemoteOutput(
        "s3://judged/late.parquet", s3_server.admin, "judged/late.parquet", False, local
    )
    s3_server.enforce_auth(True)
    try:
        with pytest.raises(OutputError) as caught:
            upload(output)
    finally:
        s3_server.enforce_auth(False)
    assert str(caught.value).startswith("s3://judged/late.parquet: cannot upload the output (")
    assert str(caught.value).endswith(f"); the scores are in {local}")
    assert pq.read_table(local).num_rows == 2
    assert not s3_server.admin.get_file_info("judged/late.parquet").is_file


@ray_test
@one_cluster
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stopped_ray_run_says_what_was_kept_and_the_rerun_resumes(
    ray_cluster: None, workspace: Workspace, fake: FakeProvider, signum: signal.Signals
) -> None:
    """SIGTERM to ``score --engine ray`` (a driver joined to the session's cluster), or
    SIGINT to one started as a shell without job control starts a background job (SIGINT
    ignored): exit 130 with the line the local engine ends with; the rerun answers from
    the cache."""
    import ray

    rows = 24
    dataset = workspace.write_rows(workspace.qa_rows(rows))
    config = _config(workspace, run="concurrency = 2")
    output = workspace.root / "out.parquet"
    fake.settings.latency_ms = 300
    args = [str(dataset), "-c", str(config), "-o", str(output), "--cache", str(workspace.cache)]
    address = ray.get_runtime_context().gcs_address
    ray_args = ["--engine", "ray", "--address", address, "-q"]

    def as_a_background_job() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    process = subprocess.Popen(
        [workspace.executable(), "score", *args, *ray_args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=workspace.environ(),
        preexec_fn=as_a_background_job if signum == signal.SIGINT else None,
    )
    try:
        workspace.wait_for(lambda: _stored(workspace.cache) >= 4, "four stored answers", 90)
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
        process.wait(timeout=30)
        # Its tasks end with its job; let none of them reach the next test's fake.
        workspace.wait_for(lambda: fake.stats().in_flight == 0, "the fake to be idle", 60)
    assert process.returncode == 130
    assert stderr.splitlines()[-1] == (
        f"error: interrupted by {signum.name}: answers received so far are kept in the cache; "
        "rerun the same command to resume"
    )
    assert not output.exists()
    stored = _stored(workspace.cache)
    fake.settings.latency_ms = 0
    summary_path = workspace.root / "summary.json"
    rerun = workspace.invoke("score", *args, "--engine", "ray", "--summary-json", str(summary_path))
    assert rerun.exit_code == 0, rerun.output
    summary = json.loads(summary_path.read_text())
    assert summary["cache_hits"] >= stored >= 4
    assert [r["id"] for r in pq.read_table(output).to_pylist()] == [
        f"row-{i:03d}" for i in range(rows)
    ]
