"""CSV datasets: a header line, then one row per record, read in streamed batches.

CSV carries no types, so every column is read as text, exactly as written:
``007`` stays ``007``, ``NA`` stays ``NA``.  An empty unquoted cell is null
(a missing value); a quoted empty cell (``""``) is the empty string.  A UTF-8
byte-order mark is skipped.  ``judgekit.datasets`` dispatches ``.csv`` files
here; errors are ``DatasetError`` lines naming the file.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv

from judgekit.errors import DatasetError
from judgekit.id_check import DuplicateIds

_BATCH_BYTES = 1 << 20  # pyarrow's block size: the reader holds about one block at a time


def csv_schema(label: str, file: Path) -> pa.Schema:
    """The columns of the header, every one a string column; DatasetError when unusable."""
    with _open(label, file, None) as reader:
        names = reader.schema.names
    repeated = [name for name, n in Counter(names).items() if n > 1]
    if repeated:
        raise DatasetError(
            f"{label}: column '{repeated[0]}' appears more than once in the header;"
            " give every column its own name"
        )
    return pa.schema([pa.field(name, pa.string()) for name in names])


def count_and_check_ids(
    label: str,
    file: Path,
    schema: pa.Schema,
    id_column: str | None,
    limit: int | None,
    ids: DuplicateIds,
) -> int:
    """Rows (up to ``limit``); each id goes to ``ids``; DatasetError at a null id.

    Every column is read, so that a malformed line or invalid UTF-8 anywhere is found
    here, before any call, not when the run reaches it."""
    rows = 0
    for batch in csv_batches(label, file, schema):
        take = batch.num_rows if limit is None else min(batch.num_rows, limit - rows)
        if id_column is not None:
            values = batch.column(id_column).slice(0, take).to_pylist()
            if None in values:
                row = rows + values.index(None) + 1
                raise DatasetError(f"{label}: row {row}: id column '{id_column}' is empty")
            ids.add(values)
        rows += take
        if limit is not None and rows >= limit:
            break
    return rows


def csv_tables(label: str, file: Path, schema: pa.Schema, total: int) -> Iterator[pa.Table]:
    """The first ``total`` rows as tables of ``schema``, in file order."""
    remaining = total
    for batch in csv_batches(label, file, schema):
        table = pa.Table.from_batches([batch]).slice(0, remaining)
        yield table
        remaining -= table.num_rows
        if remaining <= 0:
            return


def csv_batches(label: str, file: Path, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """Stream record batches of text columns."""
    with _open(label, file, schema) as reader:
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except (OSError, pa.ArrowException) as exc:
                raise DatasetError(f"{label}: invalid CSV ({_one_line(exc)})") from None
            yield batch


def _open(label: str, file: Path, schema: pa.Schema | None) -> pa_csv.CSVStreamingReader:
    convert = pa_csv.ConvertOptions(
        column_types={field.name: pa.string() for field in schema} if schema else None,
        strings_can_be_null=True,
        null_values=[""],
        quoted_strings_can_be_null=False,
    )
    try:
        return pa_csv.open_csv(
            file, read_options=pa_csv.ReadOptions(block_size=_BATCH_BYTES), convert_options=convert
        )
    except FileNotFoundError:
        raise DatasetError(f"{label}: no such file") from None
    except (OSError, pa.ArrowException) as exc:
        if "Empty CSV file" in str(exc):
            raise DatasetError(f"{label}: dataset is empty (no header, no rows)") from None
        raise DatasetError(f"{label}: invalid CSV ({_one_line(exc)})") from None


def _one_line(exc: BaseException) -> str:
    printable = "".join(c if c.isprintable() else " " for c in str(exc))
    return " ".join(printable.split())
