"""Paths given on the command line, checked before judgekit stats or opens them.

Every command checks each path it was given (DATASET, ``-o``, ``--cache``,
``--summary-json``, ...) with ``check_given_path`` first.  A path the operating system
refuses to look at becomes one ``UsageError`` (exit 2) naming the flag, the path, the
reason and what to do, instead of an ``OSError`` traceback wherever it was first used::

    -o out/xxx...x.parquet: File name too long (a name in a path is at most 255 bytes); ...
    --cache loop/c.sqlite3: Too many levels of symbolic links (...); ...
    --summary-json locked/s.json: Permission denied (...); ...

A path that does not exist yet is fine (OUT and the cache are made), unless a name in its
part still to be made is longer than the file system takes: that would fail only when
the output is written, after the calls were paid for.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from judgekit.errors import UsageError
from judgekit.output_paths import check_directory, describe_os_error

NAME_MAX_BYTES = 255
"""The longest file name most file systems take (ext4, XFS, APFS, NTFS), in bytes;
``os.pathconf`` tells the real one where it can."""


def check_given_path(path: Path | str, flag: str | None = None, *, written: bool = False) -> None:
    """Raise UsageError when the OS refuses ``path`` (too long a name, a symbolic-link
    loop, no permission to look; for a ``written`` one also a file where a directory
    must be made).  ``flag`` names the option in the message (``-o``); None for the
    positional argument.  URIs (``s3://...``) are left to the storage code."""
    text = os.fspath(path)
    if "://" in text or not text:
        return
    shown = text if flag is None else f"{flag} {text}"
    try:
        os.stat(text)
    except FileNotFoundError:
        _check_new_names(text, shown)
    except NotADirectoryError:
        _check_new_names(text, shown)
        if written:  # under a file: which one, in the words of every output's check
            check_directory(Path(text))
    except OSError as exc:
        raise UsageError(_refused(text, shown, exc)) from None


def _refused(text: str, shown: str, exc: OSError) -> str:
    """The one line for a path ``os.stat`` refused."""
    reason = describe_os_error(exc)
    if exc.errno == errno.ENAMETOOLONG:
        message = _long_name(text, shown, _name_max(Path(text)))
        return message or f"{shown}: {reason} (the whole path is too long); give a shorter path"
    if exc.errno == errno.ELOOP:
        return (
            f"{shown}: {reason} (a symbolic link in it leads back to itself); fix or remove the"
            " link, or give another path"
        )
    if exc.errno in (errno.EACCES, errno.EPERM):
        return (
            f"{shown}: {reason} (a directory on the way may not be looked into); give another"
            " path, or ask for access to it"
        )
    return f"{shown}: cannot use this path ({reason}); check it, or give another path"


def _check_new_names(text: str, shown: str) -> None:
    """Raise UsageError when a name in ``text`` is longer than the file system of its
    nearest existing directory takes (the directories still to be made included)."""
    message = _long_name(text, shown, _name_max(Path(text)))
    if message is not None:
        raise UsageError(message)


def _long_name(text: str, shown: str, name_max: int) -> str | None:
    """The one line for the first name in ``text`` longer than ``name_max`` bytes."""
    for name in Path(text).parts:
        size = len(os.fsencode(name))
        if size > name_max:
            return (
                f"{shown}: {os.strerror(errno.ENAMETOOLONG)} (a name in a path is at most"
                f" {name_max} bytes, this one has {size}); give a shorter name"
            )
    return None


def _name_max(path: Path) -> int:
    """The longest name, in bytes, that the file system of ``path``'s nearest existing
    directory takes (``NAME_MAX_BYTES`` when it does not say)."""
    existing = path.parent
    while existing != existing.parent:
        try:
            os.stat(existing)
            break
        except OSError:
            existing = existing.parent
    try:
        name_max = os.pathconf(existing, "PC_NAME_MAX")
    except (OSError, ValueError):
        return NAME_MAX_BYTES
    return name_max if name_max > 0 else NAME_MAX_BYTES


def check_given_paths(*given: tuple[Path | str | None, str | None, bool]) -> None:
    """``check_given_path`` for each ``(path, flag, written)`` (path None: not given)."""
    for path, flag, written in given:
        if path is not None:
            check_given_path(path, flag, written=written)
