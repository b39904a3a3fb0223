"""A real full disk for tests: a tiny tmpfs mounted for the test's duration.

Mounting needs root (or CAP_SYS_ADMIN); where it is not permitted the test is
skipped with the reason.  RLIMIT_FSIZE in a subprocess is the portable variant.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def tiny_disk(directory: Path, size_kib: int, *, read_only: bool = False) -> Iterator[Path]:
    """Mount a tmpfs of ``size_kib`` KiB on ``directory`` (created; ``read_only``: mounted
    read-only, as a locked-down host's volume is); skip if not permitted."""
    directory.mkdir(parents=True, exist_ok=True)
    options = f"size={size_kib}k" + (",ro" if read_only else "")
    command = ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(directory)]
    try:
        mounted = subprocess.run(command, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        pytest.skip("no mount command: cannot build a full disk")
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip() or 'not permitted'})")
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], capture_output=True, check=False)


def fill(directory: Path, leave_bytes: int) -> Path:
    """Fill the filesystem of ``directory`` until about ``leave_bytes`` remain free."""
    filler = directory / "filler"
    stat = os.statvfs(directory)
    free = stat.f_bavail * stat.f_frsize
    with filler.open("wb") as stream:
        stream.write(b"\0" * max(0, free - leave_bytes))
    return filler
