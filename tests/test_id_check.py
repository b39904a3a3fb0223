"""The exact duplicate-id check: spilled partitions, forced hash collisions, reporting order."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from disk_full import fill, tiny_disk

from judgekit.datasets import inspect_dataset
from judgekit.datasets.jsonl_types import as_string
from judgekit.errors import DatasetError, UsageError
from judgekit.id_check import SPILL_ROWS, DuplicateIds, Duplicates


def check(chunks: Sequence[Sequence[Hashable]], **options: Any) -> tuple[Duplicates, bool]:
    with DuplicateIds(**options) as ids:
        for chunk in chunks:
            ids.add(chunk)
        return ids.duplicates(), ids.spilled


def test_duplicates_are_found_across_spill_runs() -> None:
    # 5 ids per run: each id's two occurrences sit in different runs of the temporary file.
    first = [f"id-{i}" for i in range(20)]
    found, spilled = check([first, ["id-17", "x", "id-3", "id-17"]], spill_rows=5, buckets=3)
    assert spilled
    assert found == Duplicates(2, ("id-17", "id-3"))


def test_hash_collisions_are_not_duplicates() -> None:
    # One hash bit: 2,000 distinct ids share two hash values, and none is reported.
    distinct: list[Hashable] = [f"row-{i}" for i in range(1000)] + list(range(1000))
    found, spilled = check([distinct], hash_bits=1, spill_rows=64, buckets=7)
    assert spilled
    assert found == Duplicates(0, ())


def test_colliding_hashes_still_find_the_real_duplicates() -> None:
    ids: list[Hashable] = [*range(100), 42, "42", 99, 7.0]
    found, _ = check([ids[:50], ids[50:]], hash_bits=2, spill_rows=10, buckets=4)
    assert found == Duplicates(3, (42, 99, 7.0))


def test_reported_in_order_of_second_occurrence_capped() -> None:
    ids = [9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9]
    found, _ = check([ids], spill_rows=4, buckets=5)
    assert found == Duplicates(10, (0, 1, 2, 3, 4))


def test_python_equality_by_default() -> None:
    found, _ = check([[7, 7.0, 18446744073709551617, 18446744073709551618]])
    assert found == Duplicates(1, (7.0,))


def test_big_integers_stay_exact_through_the_temporary_file() -> None:
    big = 2**70
    found, spilled = check([[big, big + 1, "a"], [big + 2, big + 1]], spill_rows=2, buckets=2)
    assert spilled
    assert found == Duplicates(1, (big + 1,))


def test_a_key_compares_ids_as_text_and_reports_them_as_given() -> None:
    found, spilled = check([[7, "b", "7", 7.5], ["7.5"]], key=as_string, spill_rows=2)
    assert spilled
    assert found == Duplicates(2, ("7", "7.5"))


def test_no_spill_below_the_threshold() -> None:
    found, spilled = check([list(range(1000))])
    assert not spilled
    assert found == Duplicates(0, ())


@pytest.mark.parametrize(
    "options",
    [{"buckets": 0}, {"spill_rows": 0}, {"hash_bits": 0}, {"hash_bits": 65}],
    ids=["buckets", "spill-rows", "hash-bits-0", "hash-bits-65"],
)
def test_bad_options_are_refused(options: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="buckets and spill_rows must be >= 1"):
        DuplicateIds(**options)


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_a_dataset_past_the_spill_threshold_still_finds_its_duplicate(
    tmp_path: Path, fmt: str
) -> None:
    rows = SPILL_ROWS + 10
    ids = [f"r{i}" for i in range(rows)] + ["r5"]
    path = tmp_path / f"data.{fmt}"
    if fmt == "jsonl":
        path.write_text("".join(f'{{"id": "{i}"}}\n' for i in ids))
    elif fmt == "csv":
        path.write_text("id\n" + "".join(f"{i}\n" for i in ids))
    else:
        pq.write_table(pa.table({"id": ids}), path)
    with pytest.raises(DatasetError) as caught:
        inspect_dataset(str(path))
    assert str(caught.value) == f"{path}: duplicate ids in column 'id': 'r5' (1 duplicated id)"


def test_a_full_disk_is_one_line_saying_what_to_do(tmp_path: Path) -> None:
    with tiny_disk(tmp_path / "disk", size_kib=64) as disk:
        filler = fill(disk, leave_bytes=0)
        ids = DuplicateIds(spill_rows=1_000, spill_dir=disk)
        with pytest.raises(UsageError) as caught:
            for start in range(0, 200_000, 1_000):
                ids.add([f"a-long-enough-id-{i}" for i in range(start, start + 1_000)])
        filler.unlink()
    assert str(caught.value) == (
        f"cannot write the duplicate-id check's temporary file in {disk} (No space left on"
        " device); free some space there or point TMPDIR at a disk with room"
    )


def brute_force(ids: Sequence[Hashable], named: int = 5) -> Duplicates:
    """The same answer by a dict of every id (what the check must agree with)."""
    seen: set[Hashable] = set()
    repeated: list[Hashable] = []
    for ident in ids:
        if ident in seen and ident not in repeated:
            repeated.append(ident)
        seen.add(ident)
    return Duplicates(len(repeated), tuple(repeated[:named]))


def test_a_bucket_past_check_ids_is_split_again_and_stays_exact() -> None:
    # 2 buckets of ~500 ids, checked at most 64 at a time: each is split (and split again).
    ids: list[Hashable] = [f"id-{i}" for i in range(1000)] + ["id-999", "id-0", "id-500"]
    with DuplicateIds(buckets=2, spill_rows=50, check_ids=64) as check_ids:
        for start in range(0, len(ids), 7):
            check_ids.add(ids[start : start + 7])
        assert check_ids.duplicates() == Duplicates(3, ("id-999", "id-0", "id-500"))
        assert check_ids.splits >= 2


def test_ids_crowded_in_one_bucket_are_split_by_the_next_hash_digits() -> None:
    # hash(i) == i: multiples of 256 all land in bucket 0 of 256; the next digits spread them.
    ids = [256 * i for i in range(3000)] + [256 * 2999, 256 * 5]
    with DuplicateIds(spill_rows=100, check_ids=128) as check_ids:
        check_ids.add(ids)
        assert check_ids.duplicates() == Duplicates(2, (256 * 2999, 256 * 5))
        assert check_ids.splits >= 1


def test_splitting_stops_when_the_hash_has_no_digits_left() -> None:
    # Two hash bits and 4 buckets use the whole hash: an oversized bucket is checked whole.
    ids: list[Hashable] = [f"r{i}" for i in range(500)] + ["r7"]
    with DuplicateIds(buckets=4, hash_bits=2, spill_rows=30, check_ids=8) as check_ids:
        check_ids.add(ids)
        assert check_ids.duplicates() == Duplicates(1, ("r7",))
        assert check_ids.splits == 0


@pytest.mark.parametrize("seed", range(6), ids=lambda seed: f"seed-{seed}")
def test_split_checks_agree_with_a_plain_set(seed: int) -> None:
    import random

    rng = random.Random(seed)
    ids: list[Hashable] = [rng.randrange(3000) for _ in range(2500)]
    ids += [str(i) for i in rng.sample(range(3000), 400)] + [float(i) for i in range(0, 50, 7)]
    with DuplicateIds(buckets=3, spill_rows=97, check_ids=40, hash_bits=16) as check_ids:
        for start in range(0, len(ids), 333):
            check_ids.add(ids[start : start + 333])
        assert check_ids.duplicates() == brute_force(ids)
        assert check_ids.splits > 0


def test_memory_per_bucket_does_not_grow_with_the_spills() -> None:
    # Each bucket keeps the place of its last blob and a count, whatever the file holds.
    with DuplicateIds(buckets=4, spill_rows=10) as check_ids:
        for start in range(0, 5000, 10):
            check_ids.add(list(range(start, start + 10)))
        assert check_ids.spilled
        assert [len(a) for a in (check_ids._last, check_ids._counts)] == [4, 4]
        assert sum(check_ids._counts) == 5000
        assert check_ids.duplicates() == Duplicates(0, ())
