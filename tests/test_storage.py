"""Tests for judgekit.distributed.storage without Ray: which paths each engine takes.

(Object storage itself, against a local S3 server, is tested with Ray in
tests/test_distributed.py.)"""

from __future__ import annotations

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
            " does not; give a local path\n",
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
            "error: ftp://host/out.parquet: judgekit reads local paths, s3:// and gs:// "
            "(not ftp://); copy it to one of those\n",
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


@pytest.mark.parametrize(
    ("path", "scheme"),
    [("s3://b/k", "s3"), ("GS://b/k", "gs"), ("data/x.parquet", None), ("C:/x", None)],
)
def test_uri_scheme(path: str, scheme: str | None) -> None:
    assert uri_scheme(path) == scheme
