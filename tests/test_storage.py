"""Tests for judgekit.distributed.storage without Ray: which paths each engine takes.

(Object storage itself, against a local S3 server, is tested with Ray in
tests/test_distributed.py.)"""

from __future__ import annotations

import socket

import pytest
from conftest import Workspace

from judgekit.distributed.storage import uri_scheme


@pytest.mark.parametrize(
    ("dataset", "output", "engine", "message"),
    [
        (
            "{data}",
            "{root}/out/",
            "local",
            "error: {root}/out/: a directory of Parquet parts needs --engine ray; give a file "
            "name for one machine, e.g. -o {root}/out/scored.parquet\n",
        ),
        (
            "s3://bucket/data.parquet",
            "{root}/out.parquet",
            "local",
            "error: s3://bucket/data.parquet: object storage is read with --engine ray only; "
            "add --engine ray, or copy the dataset to this machine\n",
        ),
        (
            "{data}",
            "s3://bucket/out.parquet",
            "local",
            "error: s3://bucket/out.parquet: --engine ray writes to object storage, one machine"
            " does not; add --engine ray, or give a local path\n",
        ),
        (
            "hdfs://cluster/data.parquet",
            "{root}/out.parquet",
            "ray",
            "error: hdfs://cluster/data.parquet: judgekit reads local paths, s3:// and gs:// "
            "(not hdfs://); copy it to one of those\n",
        ),
        (
            "{data}",
            "ftp://host/out.parquet",
            "local",
            "error: ftp://host/out.parquet: judgekit writes local paths, s3:// and gs:// "
            "(not ftp://); give one of those\n",
        ),
        (
            "s3://bucket/data.parquet",
            "{root}/out.parquet",
            "ray --dry-run",
            "error: s3://bucket/data.parquet: --dry-run counts a dataset on this machine, not in "
            "object storage; drop --dry-run (a run checks the dataset before any call), or copy "
            "it here\n",
        ),
    ],
    ids=[
        "parts-one-machine",
        "s3-dataset-one-machine",
        "s3-output-one-machine",
        "hdfs",
        "ftp",
        "s3-dry-run",
    ],
)
def test_paths_an_engine_does_not_take(
    workspace: Workspace, dataset: str, output: str, engine: str, message: str
) -> None:
    """One line, exit 2, before anything is read or called; nothing written."""
    data = workspace.write_rows(workspace.qa_rows(2))
    config = workspace.write_config()
    root = str(workspace.root)
    args = [dataset.format(data=data), "-c", str(config), "-o", output.format(root=root)]
    result = workspace.invoke("score", *args, "--engine", *engine.split())
    assert (result.exit_code, result.output) == (2, message.format(root=root))
    assert workspace.fake.stats().requests == 0
    assert sorted(p.name for p in workspace.root.iterdir()) == ["data.jsonl", "judges.toml"]


def test_an_existing_directory_on_one_machine_keeps_its_error(workspace: Workspace) -> None:
    """`-o DIR` naming an existing directory on one machine: the file-name hint as before."""
    data, config = workspace.write_rows(workspace.qa_rows(2)), workspace.write_config()
    (workspace.root / "out").mkdir()
    result = workspace.score(data, config, workspace.root / "out")
    assert (result.exit_code, result.output) == (
        2,
        f"error: {workspace.root}/out: is a directory; give a file name, e.g. -o "
        f"{workspace.root}/out/scored.parquet\n",
    )


ADDRESS_ERRORS = {
    "not an address": (
        "ray",
        "nonsense",
        "error: --address nonsense: not a Ray address; give the head's HOST:PORT (as 'ray start"
        " --head' prints it), ray://HOST:PORT, or auto\n",
    ),
    "port out of range": (
        "ray",
        "ray://head:99999",
        "error: --address ray://head:99999: not a Ray address; give the head's HOST:PORT (as "
        "'ray start --head' prints it), ray://HOST:PORT, or auto\n",
    ),
    "nothing listens": (
        "ray",
        "127.0.0.1:{closed}",
        "error: --address 127.0.0.1:{closed}: no Ray cluster answers there (connection refused);"
        " start one with 'ray start --head' (it prints the address), or drop --address to start"
        " one on this machine\n",
    ),
    "without --engine ray": (
        "local",
        "10.0.0.1:6379",
        "error: --address 10.0.0.1:6379: a Ray cluster's address, for --engine ray; add "
        "--engine ray, or drop --address to score on this machine\n",
    ),
}


@pytest.mark.parametrize(
    ("engine", "address", "message"), ADDRESS_ERRORS.values(), ids=ADDRESS_ERRORS.keys()
)
def test_an_address_that_is_no_cluster_is_one_line_before_ray_starts(
    workspace: Workspace, engine: str, address: str, message: str
) -> None:
    """Ray would print a traceback for a malformed address and retry an empty one for
    minutes; judgekit says so in one line, exit 2, and never starts or joins a cluster."""
    pytest.importorskip("ray")
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    data, config = workspace.write_rows(workspace.qa_rows(2)), workspace.write_config()
    out = workspace.root / "out.parquet"
    args = ["--engine", engine, "--address", address.format(closed=closed)]
    result = workspace.invoke("score", str(data), "-c", str(config), "-o", str(out), *args)
    assert (result.exit_code, result.output) == (2, message.format(closed=closed))
    assert workspace.fake.stats().requests == 0
    assert not out.exists()


@pytest.mark.parametrize("command", ["agreement", "report"])
@pytest.mark.parametrize("uri", ["s3://bucket/scored/", "gs://bucket/scored.parquet"])
def test_a_scored_file_in_object_storage_is_one_line_saying_to_copy_it_here(
    workspace: Workspace, command: str, uri: str
) -> None:
    extra = ["-o", str(workspace.root / "r.html")] if command == "report" else []
    result = workspace.invoke(command, uri, *extra)
    shown, scheme = uri.rstrip("/"), uri.split(":")[0]
    assert (result.exit_code, result.output) == (
        2,
        f"error: {shown}: judgekit {command} reads a local file or directory of parts, not "
        f"{scheme}://; copy it to this machine first (e.g. aws s3 cp or gcloud storage cp), "
        "then give its local path\n",
    )


@pytest.mark.parametrize(
    ("path", "scheme"),
    [("s3://b/k", "s3"), ("GS://b/k", "gs"), ("data/x.parquet", None), ("C:/x", None)],
)
def test_uri_scheme(path: str, scheme: str | None) -> None:
    assert uri_scheme(path) == scheme
