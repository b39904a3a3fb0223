"""Paths the ``score`` command writes besides OUT's rows: checked before any call, and the
summary file.  A file that cannot be written is one line naming it and the cause.

Before any call (``engine.score.prepare``): OUT and ``--summary-json`` need a
directory that exists or can be made and is writable, and neither may be one of
the dataset's files (it would be replaced) nor the other.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from judgekit.errors import IncompleteRun, UsageError


def check_directory(path: Path) -> None:
    """Raise UsageError unless ``path``'s directory exists and is writable, or can be made."""
    existing = path.parent
    while not existing.exists() and existing != existing.parent:  # the writer creates them
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"{path}: cannot create directory {path.parent} ({existing} is a file)")
    if not os.access(existing, os.W_OK | os.X_OK):
        if _read_only_mount(existing):
            raise UsageError(
                f"{path}: cannot write in directory {existing} (read-only file system); "
                "write the output somewhere writable"
            )
        raise UsageError(
            f"{path}: cannot write in directory {existing} (permission denied); write the "
            "output somewhere writable, or ask for write access to it"
        )


def _read_only_mount(directory: Path) -> bool:
    """Whether ``directory`` lies on a file system mounted read-only (``os.access`` says
    only that writing is refused: for root, only a read-only mount refuses it)."""
    try:
        return bool(os.statvfs(directory).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def check_not_input(path: Path, inputs: Sequence[Path], flag: str = "-o") -> None:
    """Raise UsageError when ``path`` is one of the dataset's files (it would be replaced)."""
    for file in inputs:
        if path.exists() and _same_file(path, file):
            raise UsageError(
                f"{path}: {flag} names the input dataset; writing there would replace the data"
                " being scored (choose another path)"
            )


def check_summary_path(
    path: Path, output: Path, inputs: Sequence[Path], config: Path | None = None
) -> None:
    """Raise UsageError unless the ``--summary-json`` file can be written (before any call):
    not a directory, nor the output, a dataset file or the ``config`` file."""
    if path.is_dir():
        raise UsageError(f"{path}: --summary-json is a directory (give a file name)")
    if path.resolve() == output.resolve() or _same_file(path, output):
        raise UsageError(f"{path}: --summary-json names the output file (choose another path)")
    if config is not None and (path.resolve() == config.resolve() or _same_file(path, config)):
        raise UsageError(f"{path}: --summary-json names the config file (choose another path)")
    check_not_input(path, inputs, "--summary-json")
    check_directory(path)
    if path.exists() and not os.access(path, os.W_OK):
        raise UsageError(f"{path}: cannot write this file (permission denied)")


def check_cache_apart(
    cache_path: Path | None,
    others: Sequence[tuple[Path, str]],
    directory: tuple[Path, str] | None = None,
) -> None:
    """Raise UsageError when the answer cache a user named (``--cache``, else
    ``$JUDGEKIT_CACHE``) is one of ``others`` (``(path, what)``: the output, the dataset's
    files, the summary), or lies inside ``directory`` (a directory of parts, replaced whole
    at the end): writing one would replace the other, and the answers with it.
    The default file (under ~/.cache) is no file a user names for anything else."""
    if cache_path is not None:
        cache, flag = cache_path, "--cache "
    elif os.environ.get("JUDGEKIT_CACHE"):
        cache, flag = Path(os.environ["JUDGEKIT_CACHE"]), "JUDGEKIT_CACHE="
    else:
        return
    for other, what in others:
        if _same_path(cache, other):
            raise UsageError(f"{flag}{cache} is also {what}; give the cache its own file")
    if directory is not None and _inside(cache, directory[0]):
        raise UsageError(
            f"{flag}{cache} is inside {directory[1]}, which the run replaces whole; give the"
            " cache its own file"
        )


def _inside(path: Path, directory: Path) -> bool:
    try:
        return directory.resolve() in path.resolve().parents
    except (OSError, RuntimeError):
        return False


def _same_path(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one file (existing or not, through links too)."""
    try:
        if a.resolve() == b.resolve():
            return True
    except (OSError, RuntimeError):  # a symbolic-link loop (RuntimeError up to 3.12)
        return False
    return _same_file(a, b)


def write_summary(path: Path, figures: Mapping[str, Any], output: Path) -> None:
    """Write the summary as JSON, atomically; IncompleteRun (the scores are written) if not."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)  # as OUTPUT's is
        temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        # Mode 0o666: the umask decides, as for any new file (mkstemp would give 0o600).
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as stream:
                stream.write(json.dumps(figures, indent=2) + "\n")
            os.replace(temp, path)
        finally:
            temp.unlink(missing_ok=True)
    except OSError as exc:
        raise IncompleteRun(
            f"{path}: cannot write the summary ({describe_os_error(exc)}); the scores are in"
            f" {output}"
        ) from None


def describe_os_error(exc: OSError) -> str:
    """The cause of a failed file operation in words (``No space left on device``)."""
    text = exc.strerror or str(exc) or type(exc).__name__
    # Rust writers (polars) word it "No space left on device (os error 28)".
    code = _OS_ERROR.search(text)
    return os.strerror(int(code.group(1))) if code else " ".join(text.split())


_OS_ERROR = re.compile(r"\(os error (\d+)\)")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False


def check_local_scored(path: Path | str, command: str) -> None:
    """Raise UsageError when a command that reads a scored file (``agreement``, ``report``)
    is given a URI (``s3://...``): those read local files and directories of parts only.
    A ``Path`` folds the URI's ``//`` into ``/``; the message shows it as typed."""
    match = _URI_AS_PATH.match(str(path))
    if match is None:
        return
    scheme = match.group(1).lower()
    shown = f"{match.group(1)}://{str(path)[match.end() :].lstrip('/')}"
    raise UsageError(
        f"{shown}: judgekit {command} reads a local file or directory of parts, not "
        f"{scheme}://; copy it to this machine first (e.g. aws s3 cp or gcloud storage cp), "
        "then give its local path"
    )


_URI_AS_PATH = re.compile(r"([A-Za-z][A-Za-z0-9+.-]+):/")
"""A URI scheme, also once a Path made ``s3://b/k`` into ``s3:/b/k``; two letters at least,
so a Windows drive (``C:/``) is a path."""
