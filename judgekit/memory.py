"""Process-wide memory settings for the ``judgekit`` command (not applied to library users).

pyarrow's default allocator (mimalloc) keeps the pages it frees for reuse, per
thread: streaming a 1,000,000-row Parquet file in 2,000-row windows left ~60 MB
more resident than the data ever needed at once.  The system allocator hands
them back, so the peak follows the window size, not the dataset size.

pyarrow also imports pandas, when it is installed (Ray's extra brings it), the
first time it turns a Python list into an array, only to ask whether the list
is a pandas object: ~50 MB that a local score run never uses.
``keep_pandas_unloaded`` lets that first probe find no pandas (it also cost ~0.4 s of
CPU).  ``pyarrow.parquet`` loads every cloud filesystem, S3's at ~7 MB;
``keep_s3_unloaded`` leaves it out.

Python's cyclic garbage collector walks every tracked object in its oldest generation
on each full collection: after pyarrow, aiohttp and pydantic are imported, that is
about 90,000 objects, and a run of many small calls triggers collections often
(py-spy: ~3% of a run's CPU in ``gc_collect_main``).  During a run, what existed before
it is frozen (``frozen_heap``): never walked, still freed by reference counting; the
run's own objects are collected as usual.  That one applies to library callers too.
"""

from __future__ import annotations

import ctypes
import gc
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

ARROW_POOL_ENV = "ARROW_DEFAULT_MEMORY_POOL"
M_MMAP_THRESHOLD = -3
"""glibc's ``mallopt`` parameter (malloc.h)."""
MMAP_THRESHOLD_BYTES = 128 << 10
"""Blocks at least this large get pages of their own, handed back when freed (glibc's
default start; fixing it stops glibc from raising it after the first big free)."""

YOUNG_COLLECTION_OBJECTS = 20_000
"""During a run: new container objects between two young collections (Python's default 700)."""

_command_process = False
"""Whether ``claim_process`` ran: this process is the ``judgekit`` command, not a library
user's (a test runner, a notebook, a Ray driver that hands pandas objects to pyarrow)."""


def use_system_allocator() -> None:
    """Have pyarrow allocate with the C library's malloc, unless the user chose an allocator
    in ``ARROW_DEFAULT_MEMORY_POOL``.  Call before pyarrow is imported (it reads the variable
    once); costs nothing, so ``judgekit --help`` still does not import pyarrow."""
    os.environ.setdefault(ARROW_POOL_ENV, "system")


def hand_back_large_blocks() -> None:
    """Have glibc's malloc map every block of ``MMAP_THRESHOLD_BYTES`` or more on its own and
    unmap it when freed, for the whole process; a no-op on other C libraries.

    glibc raises that threshold each time a mapped block is freed, after which windows,
    pages and row groups come from the heap, where a freed block stays resident until
    the blocks above it go too: ~10 MB more at 1,000,000 rows for the same live data."""
    if not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl has mallopt, as a no-op)
        return
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)


def release_free_pages() -> None:
    """In the ``judgekit`` command (``claim_process``), hand the C heap's free pages back to
    the system (glibc's ``malloc_trim``; a no-op elsewhere).  Small blocks freed between
    long-lived ones (row group metadata, Python objects) otherwise stay resident; about a
    millisecond, called once per output row group."""
    if _malloc_trim is not None:
        _malloc_trim(0)


_malloc_trim: Callable[[int], int] | None = None
"""glibc's ``malloc_trim``, once ``claim_process`` found it."""


def claim_process() -> None:
    """Mark this process as the ``judgekit`` command (``main``), which
    ``keep_pandas_unloaded`` and ``keep_s3_unloaded`` require before they change anything."""
    global _command_process, _malloc_trim
    _command_process = True
    if sys.platform.startswith("linux"):
        try:
            _malloc_trim = ctypes.CDLL(None).malloc_trim
        except (OSError, AttributeError):  # not glibc
            _malloc_trim = None


def keep_pandas_unloaded() -> None:
    """In the ``judgekit`` command (``claim_process``), and while pandas is not imported yet,
    have pyarrow's implicit pandas probe find no pandas; a no-op anywhere else.

    pyarrow asks once, and remembers the answer for its implicit checks (``pa.array`` of a
    list, ``pa.table`` of a mapping); an explicit ``to_pandas()`` still imports pandas.
    So call it only where nothing hands a pandas object to pyarrow: the local engine, not
    the Ray one.  pandas is hidden only for the probe, then ``import pandas`` works again.
    """
    if not _command_process or "pandas" in sys.modules:
        return
    import pyarrow as pa

    with _hidden("pandas"):
        pa.array([])  # the first conversion of a list runs the probe


def keep_s3_unloaded() -> None:
    """In the ``judgekit`` command (``claim_process``), and before ``pyarrow.fs`` is imported
    (``pyarrow.parquet`` imports it), leave out its S3 filesystem (~7 MB); a no-op elsewhere.

    ``pyarrow.fs`` then lacks ``S3FileSystem`` for the life of the process, as on a pyarrow
    built without S3: call it only where no ``s3://`` path is read, the local engine (its
    datasets are local files), not the Ray one."""
    if not _command_process or "pyarrow.fs" in sys.modules:
        return
    with _hidden("pyarrow._s3fs"):
        import pyarrow.fs  # noqa: F401  # records S3FileSystem as not imported


@contextmanager
def _hidden(name: str) -> Iterator[None]:
    """Make ``import NAME`` fail inside the block (and only there)."""
    hide = _Hiding(name)
    sys.meta_path.insert(0, hide)
    try:
        yield
    finally:
        sys.meta_path.remove(hide)


class _Hiding:
    """An import finder that fails the import of one module (not a ``None`` in
    ``sys.modules``, which Cython's import reads as a module)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        """Raise ModuleNotFoundError for the hidden module; None (ask the next finder) else."""
        if name == self.name:
            raise ModuleNotFoundError(f"{name} is left out to save memory", name=name)


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Within the block, the garbage collector skips every object that existed before it
    (``gc.freeze``, Python 3.7+; they move back to the oldest generation afterwards) and
    runs a young collection every ``YOUNG_COLLECTION_OBJECTS`` new objects."""
    gc.freeze()  # garbage frozen with the rest is collected after the run, once unfrozen
    thresholds = gc.get_threshold()
    # Young collections 30x less often: a call's short-lived objects mostly die by reference
    # counting first (a few % of CPU at 64+ calls in flight; 20,000 objects is ~2 MB at most).
    gc.set_threshold(YOUNG_COLLECTION_OBJECTS, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
