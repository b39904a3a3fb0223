"""Exceptions, the per-row error vocabulary, and exit codes.

The exception tree, mapped to exit codes once, in ``cli/app.py``::

    JudgekitError                 base; never raised itself
    ├── UsageError                exit 2: nothing was called, nothing was written
    │   ├── ConfigError           the TOML config is wrong
    │   ├── DatasetError          the dataset is unreadable, empty, or lacks a column
    │   ├── CredentialsError      an API key environment variable is not set
    │   ├── CacheError            the answer cache cannot be opened or has no place
    │   ├── AuthError             the provider answered 401/403 during a run
    │   └── UnreachableError      a connection's first calls reached no server, or no API
    ├── OutputError               exit 2: OUT could not be written (disk full, permission);
    │                             nothing written, answers so far kept in the cache
    ├── IncompleteRun             exit 1: finished, output written, but not clean
    │                             (also: the cache failed and answers went to the output only)
    ├── Interrupted               exit 130: SIGINT/SIGTERM/SIGHUP; answers kept in the cache
    └── BatchesPending            exit 3: ``score --batch`` submitted or is waiting for
                                  provider batches; nothing written yet, rerun to collect

Ctrl-C, SIGTERM and SIGHUP exit 130.  Any other exception is a bug and keeps its
traceback.

A row-level failure is not an exception: it is an ``ErrorKind`` value stored in
the ``J_error`` column.
"""

from __future__ import annotations

from typing import Literal, get_args

ErrorKind = Literal[
    "auth",
    "rate_limit",
    "server_error",
    "timeout",
    "malformed_response",
    "bad_request",
    "budget_exhausted",
    "connection",
]
"""The closed vocabulary of ``J_error`` values (SPEC section 6)."""

ERROR_KINDS: tuple[ErrorKind, ...] = get_args(ErrorKind)

EXIT_OK = 0
EXIT_INCOMPLETE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_PENDING = 3
"""``score --batch``: rows wait for provider batches; rerun later (cron: not a failure)."""


class JudgekitError(Exception):
    """Base of every error judgekit reports to the user without a traceback."""

    exit_code = EXIT_USAGE


class UsageError(JudgekitError):
    """Bad invocation, config or data: nothing was called, nothing written."""

    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """The config file is invalid."""


class DatasetError(UsageError):
    """The dataset cannot be read or does not fit the config."""


class CredentialsError(UsageError):
    """A connection's API key environment variable is not set."""


class CacheError(UsageError):
    """The answer cache cannot be opened, or there is no place for it; nothing was called."""


class AuthError(UsageError):
    """A provider rejected our credentials (401/403); the run stops at once."""


class UnreachableError(UsageError):
    """A connection's first calls reached no server (refused, unknown host, untrusted TLS
    certificate, connect timeout) or no API there (404/405, a redirect); the run stops."""


class OutputError(JudgekitError):
    """The output file could not be written; nothing was written, answers are in the cache."""

    exit_code = EXIT_USAGE


class IncompleteRun(JudgekitError):
    """The run finished and wrote its output, but not cleanly."""

    exit_code = EXIT_INCOMPLETE


class Interrupted(JudgekitError):
    """SIGINT, SIGTERM or SIGHUP stopped the run; every answer so far is in the cache."""

    exit_code = EXIT_INTERRUPTED


class BatchesPending(JudgekitError):
    """Rows wait for provider batches: nothing written yet; the same command collects."""

    exit_code = EXIT_PENDING

    def __init__(self, message: str, figures: dict[str, object], waiting: str = "") -> None:
        super().__init__(message)
        self.figures = figures
        """``rows_pending``, ``requests_pending`` and ``batches`` for ``--summary-json``."""
        self.waiting = waiting or message
        """What waits, without what to do about it (``--wait`` does it)."""
