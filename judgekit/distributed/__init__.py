"""Scoring across a Ray cluster (``pip install 'judgekit[ray]'``).

Nothing here imports Ray at import time: judgekit works without it, and
``require_ray`` turns its absence into one line saying what to install.
``score_ray_dataset`` is the library call for pipelines already on Ray.
"""

from __future__ import annotations

import importlib.util
import logging
from typing import Any

from judgekit.errors import UsageError

INSTALL_HINT = "pip install 'judgekit[ray]'"


def require_ray() -> None:
    """Raise UsageError (exit 2) when Ray (with Ray Data) is not installed."""
    if importlib.util.find_spec("ray") is None or importlib.util.find_spec("ray.data") is None:
        raise UsageError(f"--engine ray needs Ray, which is not installed: {INSTALL_HINT}")


def score_ray_dataset(ds: Any, config: Any, **options: Any) -> Any:
    """Score a ``ray.data.Dataset`` with ``config`` (``ray_engine.score_ray_dataset``)."""
    require_ray()
    from judgekit.distributed.ray_engine import score_ray_dataset as score

    return score(ds, config, **options)


def check_ray_reads(dataset: str, format: str) -> None:
    """Raise UsageError for a dataset format ``--engine ray`` does not read (CSV): the
    run and its ``--dry-run`` both ask here."""
    if format == "csv":
        raise UsageError(
            f"{dataset}: --engine ray reads JSONL and Parquet, not CSV; convert it "
            "(or score it without --engine ray)"
        )


LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
"""Ray's switch that makes a node use the loopback address instead of the address it would
reach other machines on (it is on by default on Linux)."""


def start_local_cluster(**options: Any) -> None:
    """``ray.init(**options)`` for a cluster on this machine only: every Ray process binds
    and talks on 127.0.0.1, never on a network interface.

    Ray picks the node's address when it starts (``services.get_node_ip_address``); with
    ``LOOPBACK_ENV`` off it picks 127.0.0.1, and the workers it spawns inherit the variable.
    ``ray_constants`` reads it once at import, so the driver's copy is set too.
    """
    import os

    import ray
    from ray._private import ray_constants

    os.environ[LOOPBACK_ENV] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    # Ray says at every start that the local cluster it creates uses token authentication
    # (its default, kept): news to no one who did not ask for a cluster, and a line that
    # `-q` must not print.
    notice = logging.getLogger(_TOKEN_NOTICE_LOGGER)
    level = notice.level
    notice.setLevel(logging.ERROR)
    try:
        ray.init(**options)
    finally:
        notice.setLevel(level)


_TOKEN_NOTICE_LOGGER = "ray._private.authentication.authentication_token_setup"
