"""Datasets in object storage (``s3://``, ``gs://``) for ``--engine ray``, and which paths
each engine takes.

The driver resolves the URI to a pyarrow filesystem (``FileSystem.from_uri``: S3 reads
the usual ``AWS_*`` variables, ``AWS_ENDPOINT_URL`` included; GCS the usual Google ones),
lists the Parquet files and reads their footers (schema, row count) before Ray starts, so
a wrong bucket or refused credentials is one line, exit 2.  Ray Data then reads the files
through the same filesystem object; a worker that unpickles it finds credentials in its
own environment (as it does the judges' API keys), never the driver's.

Errors (``UsageError`` subclasses, exit 2)::

    unsupported scheme   foo://...: judgekit reads (or writes) local paths, s3:// and gs:// ...
    no such bucket       s3://b/x.parquet: no such bucket 'b' ...
    no such object       s3://b/x.parquet: no such file or directory in bucket 'b'
    refused              s3://b/x.parquet: access denied ... (CredentialsError)

An output in object storage (``-o s3://b/scored.parquet`` or ``-o s3://b/scored/``) is
written on the driver's disk first, as a local one is, and uploaded when the run is done:
one object is one upload, which the storage service shows only when it completes; parts are
uploaded one by one, then earlier parts beyond the new ones are deleted.  An upload that
fails is ``OutputError`` naming the local copy, which is kept (nothing paid is lost).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from judgekit.errors import (
    CredentialsError,
    DatasetError,
    OutputError,
    UnreachableError,
    UsageError,
)
from judgekit.output_parts import PART_PATTERN

REMOTE_SCHEMES = ("s3", "gs")
"""URI schemes ``--engine ray`` reads (pyarrow's S3 and GCS filesystems)."""
_URI = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
_REFUSED = ("ACCESS_DENIED", "INVALID_ACCESS_KEY_ID", "SIGNATURE_DOES_NOT_MATCH", "EXPIRED_TOKEN")
"""AWS SDK error names (in pyarrow's message) that mean the credentials were refused."""
_CREDENTIALS_HINT = (
    "check the credentials (s3://: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
    "AWS_PROFILE; gs://: GOOGLE_APPLICATION_CREDENTIALS) and that they may read it"
)


def uri_scheme(path: str) -> str | None:
    """``s3`` for ``s3://bucket/key``; None for a local path."""
    match = _URI.match(path)
    return match.group(1).lower() if match else None


def check_engine_paths(dataset: str, output: str, engine: str, *, dry_run: bool = False) -> None:
    """Raise UsageError for a path the chosen engine cannot take: a URI of a scheme
    judgekit does not read; object storage or a directory of parts without ``--engine ray``;
    object storage with ``--dry-run`` (which reads the dataset on this machine)."""
    for path, verb in ((dataset, "reads"), (output, "writes")):
        scheme = uri_scheme(path)
        if scheme is not None and scheme not in REMOTE_SCHEMES:
            where = "copy it to one of those" if verb == "reads" else "give one of those"
            raise UsageError(
                f"{path}: judgekit {verb} local paths, s3:// and gs:// (not {scheme}://); {where}"
            )
    if dry_run and engine == "ray" and uri_scheme(dataset) is not None:
        raise UsageError(
            f"{dataset}: --dry-run counts a dataset on this machine, not in object storage; "
            "drop --dry-run (a run checks the dataset before any call), or copy it here"
        )
    if engine == "ray":
        return
    if uri_scheme(dataset) is not None:
        raise UsageError(
            f"{dataset}: object storage is read with --engine ray only; add --engine ray, "
            "or copy the dataset to this machine"
        )
    if uri_scheme(output) is not None:
        raise UsageError(
            f"{output}: --engine ray writes to object storage, one machine does not; add "
            "--engine ray, or give a local path"
        )
    if output.endswith("/"):
        example = f"{output}scored.parquet"
        raise UsageError(
            f"{output}: a directory of Parquet parts needs --engine ray; give a file name "
            f"for one machine, e.g. -o {example}"
        )


@dataclass(frozen=True, slots=True)
class RemoteDataset:
    """A Parquet dataset in object storage, as the driver checked it."""

    uri: str
    filesystem: Any
    """The pyarrow filesystem (picklable: Ray Data ships it to the workers)."""
    files: tuple[str, ...]
    """Its Parquet files (paths within ``filesystem``), in name order."""
    schema: pa.Schema
    rows: int


def remote_dataset(uri: str) -> RemoteDataset:
    """Check a ``s3://``/``gs://`` Parquet dataset (a ``.parquet`` object, or a prefix
    ending in ``/`` holding some) and read its schema and row count from the footers.
    Raises the errors drawn in the module docstring."""
    if not uri.endswith(("/", ".parquet")):
        raise UsageError(
            f"{uri}: --engine ray reads s3:// and gs:// datasets in Parquet "
            "(a .parquet file or a directory ending in /)"
        )
    filesystem, path = _filesystem(uri)
    with _storage_errors(uri):
        info = filesystem.get_file_info(path.rstrip("/"))
        if info.type == pafs.FileType.NotFound:
            bucket = path.split("/", 1)[0]
            if filesystem.get_file_info(bucket).type == pafs.FileType.NotFound:
                raise DatasetError(
                    f"{uri}: no such bucket '{bucket}' (check the name, and the endpoint and "
                    "region the storage client uses)"
                )
            raise DatasetError(f"{uri}: no such file or directory in bucket '{bucket}'")
        if info.type == pafs.FileType.Directory:
            prefix = path.rstrip("/")
            selector = pafs.FileSelector(prefix, recursive=True)
            files = sorted(
                entry.path
                for entry in filesystem.get_file_info(selector)
                if entry.type == pafs.FileType.File
                and entry.path.endswith(".parquet")
                and not _hidden(entry.path.removeprefix(prefix))
            )
            if not files:
                raise DatasetError(f"{uri}: no .parquet files under it")
        else:
            files = [path]
        schema = pq.read_schema(files[0], filesystem=filesystem)
        rows = sum(pq.read_metadata(file, filesystem=filesystem).num_rows for file in files)
    return RemoteDataset(uri, filesystem, tuple(files), schema.remove_metadata(), rows)


def _hidden(relative: str) -> bool:
    """Whether a file under a dataset's prefix is left out, as Spark and pyarrow leave out
    ``_SUCCESS``, ``_common_metadata`` and ``.``-files (any part of the path below it)."""
    return any(part.startswith((".", "_")) for part in relative.split("/") if part)


def _filesystem(uri: str) -> tuple[Any, str]:
    """pyarrow's filesystem for ``uri`` and the path within it."""
    with _storage_errors(uri):
        filesystem, path = pafs.FileSystem.from_uri(uri)
    return filesystem, str(path)


@contextlib.contextmanager
def _storage_errors(uri: str) -> Iterator[None]:
    """Turn pyarrow's storage errors into one-line judgekit errors naming ``uri``."""
    try:
        yield
    except (OSError, pa.ArrowException) as exc:
        text = " ".join(str(exc).split())
        if any(name in text for name in _REFUSED):
            raise CredentialsError(
                f"{uri}: access denied by the storage service; {_CREDENTIALS_HINT}"
            ) from None
        if "NO_SUCH_BUCKET" in text:
            bucket = uri.split("://", 1)[1].split("/", 1)[0]
            raise DatasetError(f"{uri}: no such bucket '{bucket}'") from None
        if "NETWORK_CONNECTION" in text or "Could not resolve" in text:
            raise UnreachableError(
                f"{uri}: cannot reach the storage service ({text}); check the network "
                "and the endpoint (AWS_ENDPOINT_URL)"
            ) from None
        raise DatasetError(f"{uri}: cannot read ({text})") from None


@dataclass(frozen=True, slots=True)
class RemoteOutput:
    """OUT in object storage, checked before any call, and its local stand-in."""

    uri: str
    filesystem: Any
    path: str
    """OUT within ``filesystem`` (no trailing slash)."""
    parts: bool
    """A directory of parts (OUT ends in ``/``), else one Parquet file."""
    local: Path
    """Where the run writes before the upload (in a temp directory of its own)."""


def remote_output(uri: str) -> RemoteOutput:
    """Check OUT in object storage (its bucket exists and can be read; a file name is not a
    directory; a directory holds nothing but earlier parts) and make its local stand-in."""
    parts = uri.endswith("/")
    if not parts and not uri.endswith(".parquet"):
        raise UsageError(
            f"{uri}: --engine ray writes Parquet; use an output path ending in .parquet "
            "(or in / for a directory of Parquet parts)"
        )
    filesystem, path = _filesystem(uri)
    path = path.rstrip("/")
    bucket = path.split("/", 1)[0]
    with _storage_errors(uri):
        if filesystem.get_file_info(bucket).type == pafs.FileType.NotFound:
            raise UsageError(f"{uri}: no such bucket '{bucket}' (create it, or check the name)")
        info = filesystem.get_file_info(path)
        if parts and info.type == pafs.FileType.File:
            raise UsageError(
                f"{uri}: is a file, not a directory (drop the trailing / to write one file)"
            )
        if not parts and info.type == pafs.FileType.Directory:
            raise UsageError(
                f"{uri}: is a directory; give a file name, e.g. -o {uri}/scored.parquet"
            )
        if parts and info.type == pafs.FileType.Directory:
            others = [name for name in _names_under(filesystem, path) if not _is_part(name)]
            if others:
                raise UsageError(
                    f"{uri}: the directory holds files that are not judgekit parts "
                    f"({others[0]}{', ...' if len(others) > 1 else ''}); give an empty "
                    "directory or a new path"
                )
    # Made by the writer when it starts (nothing to clean up if a later check fails).
    staging = Path(tempfile.gettempdir()) / f"judgekit-upload-{secrets.token_hex(4)}"
    local = staging / ("parts" if parts else PurePosixPath(path).name)
    return RemoteOutput(uri, filesystem, path, parts, local)


def upload(output: RemoteOutput) -> None:
    """Copy the finished local output to object storage (see the module docstring), then
    remove the local copy.  OutputError (the local copy kept) when an upload fails."""
    try:
        if not output.parts:
            pafs.copy_files(
                str(output.local), output.path, destination_filesystem=output.filesystem
            )
        else:
            written = sorted(os.listdir(output.local))
            for name in written:
                pafs.copy_files(
                    str(output.local / name),
                    f"{output.path}/{name}",
                    destination_filesystem=output.filesystem,
                )
            for name in _names_under(output.filesystem, output.path):
                if _is_part(name) and name not in written:
                    output.filesystem.delete_file(f"{output.path}/{name}")
    except (OSError, pa.ArrowException) as exc:
        text = " ".join(str(exc).split())
        raise OutputError(
            f"{output.uri}: cannot upload the output ({text}); the scores are in {output.local}"
        ) from None
    shutil.rmtree(output.local.parent, ignore_errors=True)


def discard(output: RemoteOutput) -> None:
    """Remove the local stand-in's directory unless it holds a finished output (an upload
    that failed keeps it)."""
    if not output.local.exists():
        shutil.rmtree(output.local.parent, ignore_errors=True)


def _names_under(filesystem: Any, path: str) -> list[str]:
    """Names of the objects right under ``path`` (a prefix), in name order."""
    selector = pafs.FileSelector(path, allow_not_found=True)
    return sorted(PurePosixPath(entry.path).name for entry in filesystem.get_file_info(selector))


def _is_part(name: str) -> bool:
    return PART_PATTERN.fullmatch(name) is not None
