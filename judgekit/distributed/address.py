"""``--address``: which Ray cluster to join, checked before Ray is asked.

Ray takes ``auto`` (the cluster this machine runs), ``HOST:PORT`` (the head's GCS, as
``ray start --head`` prints it, port 6379 by default) and ``ray://HOST:PORT`` (Ray
Client, port 10001).  Anything else, or an address where nothing listens, is one line
and exit 2 here: Ray itself prints a traceback for the first and retries the second for
minutes before it gives up.
"""

from __future__ import annotations

import re
import socket
from typing import Any

from judgekit.errors import UsageError
from judgekit.output_paths import describe_os_error

CONNECT_TIMEOUT_S = 5.0
"""How long the head may take to accept a TCP connection before the address is refused."""

_ADDRESS = re.compile(
    r"(?:ray://)?(?:\[(?P<ip6>[0-9A-Fa-f:.]+)\]|(?P<host>[^:/\s\[\]]+)):(?P<port>\d+)"
)
_START_ONE = (
    "start one with 'ray start --head' (it prints the address), or drop --address to start "
    "one on this machine"
)


def head_of(address: str) -> tuple[str, int] | None:
    """(host, port) of ``address``; None for ``auto``; UsageError when it is neither."""
    if address == "auto":
        return None
    match = _ADDRESS.fullmatch(address)
    port = int(match.group("port")) if match else 0
    if match is None or not 0 < port < 65536:
        raise UsageError(
            f"--address {address}: not a Ray address; give the head's HOST:PORT (as "
            "'ray start --head' prints it), ray://HOST:PORT, or auto"
        )
    return match.group("ip6") or match.group("host"), port


def check_reachable(address: str) -> None:
    """UsageError when nothing accepts a TCP connection at ``address`` within
    ``CONNECT_TIMEOUT_S`` (``auto`` is left to Ray)."""
    head = head_of(address)
    if head is None:
        return
    try:
        with socket.create_connection(head, timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        raise UsageError(
            f"--address {address}: no Ray cluster answers there ({_reason(exc)}); {_START_ONE}"
        ) from None


def join_cluster(address: str, **options: Any) -> None:
    """``ray.init(address=address, **options)``, once ``check_reachable`` passed (the caller
    checks first, before any other work); what Ray raises when it cannot join becomes one
    line (UsageError)."""
    import ray

    try:
        ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(
            f"--address {address}: cannot join the Ray cluster ({first}); {_START_ONE}"
        ) from None


def _reason(exc: OSError) -> str:
    """``connection refused``, ``timed out``, ``host name could not be resolved``: short,
    lowercase (``output_paths.describe_os_error`` for the OS's words)."""
    if isinstance(exc, socket.gaierror):
        return "host name could not be resolved"
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = describe_os_error(exc)
    return text[:1].lower() + text[1:]
