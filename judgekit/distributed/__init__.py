"""Scoring across a Ray cluster (``pip install 'judgekit[ray]'``).

Nothing here imports Ray at import time: judgekit works without it, and
``require_ray`` turns its absence into one line saying what to install.
``score_ray_dataset`` is the library call for pipelines already on Ray.
"""

from __future__ import annotations

import importlib.util
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
