"""Process-wide memory settings for the ``judgekit`` command (not applied to library users).

pyarrow's default allocator (mimalloc) keeps the pages it frees for reuse, per
thread: streaming a 1,000,000-row Parquet file in 2,000-row windows left ~60 MB
more resident than the data ever needed at once.  The system allocator hands
them back, so the peak follows the window size, not the dataset size.
"""

from __future__ import annotations

import os

ARROW_POOL_ENV = "ARROW_DEFAULT_MEMORY_POOL"


def use_system_allocator() -> None:
    """Have pyarrow allocate with the C library's malloc, unless the user chose an allocator
    in ``ARROW_DEFAULT_MEMORY_POOL``.  Call before pyarrow is imported (it reads the variable
    once); costs nothing, so ``judgekit --help`` still does not import pyarrow."""
    os.environ.setdefault(ARROW_POOL_ENV, "system")
