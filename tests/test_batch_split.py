"""Batches never exceed a provider's limits on requests and bytes."""

from __future__ import annotations

import pytest

from judgekit.batch.session import split_batches
from judgekit.batch.state import Queued


def _queued(n: int, size: int) -> list[Queued]:
    return [Queued(f"k{i}", "m", 0.0, b"x" * size) for i in range(n)]


@pytest.mark.parametrize(
    ("n", "size", "max_requests", "max_bytes", "sizes"),
    [
        (5, 10, 2, 10_000, [2, 2, 1]),
        (5, 10, 100, 33, [3, 2]),  # 11 bytes a line with its newline: 3 fit in 33
        (3, 10, 100, 5, [1, 1, 1]),  # a line larger than the limit goes alone
        (4, 10, 4, 44, [4]),
    ],
    ids=["by-requests", "by-bytes", "oversized-line", "exactly-full"],
)
def test_requests_are_split_at_the_request_and_byte_limits(
    n: int, size: int, max_requests: int, max_bytes: int, sizes: list[int]
) -> None:
    chunks = split_batches(_queued(n, size), max_requests, max_bytes)
    assert [len(chunk) for chunk in chunks] == sizes
    assert [q.key for chunk in chunks for q in chunk] == [f"k{i}" for i in range(n)]
