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
