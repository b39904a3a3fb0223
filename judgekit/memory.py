"""Process-wide memory settings: the allocator and pandas for the ``judgekit`` command (not
applied to library users), and the garbage collector during a run.

pyarrow's default allocator (mimalloc) keeps the pages it frees for reuse, per
thread: streaming a 1,000,000-row Parquet file in 2,000-row windows left ~60 MB
more resident than the data ever needed at once.  The system allocator hands
them back, so the peak follows the window size, not the dataset size.

pyarrow also imports pandas, when it is installed (Ray Data and most data stacks
install it), the first time it turns a Python list into an Arrow array, only to ask
whether the list is a pandas object: 53 MiB resident and ~0.4 s of CPU for a check
the ``judgekit`` command never needs (it never hands pyarrow a pandas object).

Python's cyclic garbage collector walks every tracked object in its oldest generation
on each full collection: after pyarrow, polars, aiohttp and pydantic are imported,
that is hundreds of thousands of objects, and a run of many small calls triggers
collections often (py-spy: ~3% of a run's CPU in ``gc_collect_main``).  During a run,
what existed before it is frozen (``gc.freeze``): never walked, still freed by
reference counting; the run's own objects are collected as usual.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.abc
import os
import sys
from collections.abc import Iterator, Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

ARROW_POOL_ENV = "ARROW_DEFAULT_MEMORY_POOL"


def use_system_allocator() -> None:
    """Have pyarrow allocate with the C library's malloc, unless the user chose an allocator
    in ``ARROW_DEFAULT_MEMORY_POOL``.  Call before pyarrow is imported (it reads the variable
    once); costs nothing, so ``judgekit --help`` still does not import pyarrow."""
    os.environ.setdefault(ARROW_POOL_ENV, "system")


def keep_pandas_out() -> None:
    """Have pyarrow, once per process, find no pandas for its is-this-a-pandas-object checks,
    so converting Python lists never imports pandas (module docstring).

    pyarrow tries ``import pandas`` once for those checks and remembers the answer; an
    import finder refuses that one try (ImportError, as if pandas were not installed) and
    is removed at once.  ``Table.to_pandas`` still works afterwards: pyarrow imports
    pandas again when a caller asks for it.  A process that already imported pandas is
    left as it is."""
    if "pandas" in sys.modules:
        return
    import pyarrow as pa

    refuse = _RefusePandas()
    sys.meta_path.insert(0, refuse)
    try:
        pa.array([0])  # pyarrow's one try at importing pandas happens here
    finally:
        sys.meta_path.remove(refuse)


class _RefusePandas(importlib.abc.MetaPathFinder):
    """An import finder under which ``import pandas`` fails as if it were not installed."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> ModuleSpec | None:
        """ImportError for pandas and its submodules; None (ask the next finder) otherwise."""
        if fullname.partition(".")[0] == "pandas":
            raise ImportError("judgekit keeps pandas out of pyarrow's checks")
        return None


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """Within the block, the garbage collector skips every object that existed before it
    (``gc.freeze``, Python 3.7+); they move back to the oldest generation afterwards."""
    gc.freeze()  # garbage frozen with the rest is collected after the run, once unfrozen
    try:
        yield
    finally:
        gc.unfreeze()
